"""``recheckbot cleanup`` end to end: queries whose bug is closed (on the tracker stand-ins) and
that stopped hitting (on osmem), queries that never hit; open bugs and closed bugs that still
hit are kept; ``--propose`` removes the files through a change pushed to a local bare repo."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from bot.bugs import launchpad
from bot.cli import app
from bot.config import SearchSettings
from bot.config.propose import ProposeSettings
from bot.lifecycle.cleanup import Stale, removal_change, stale_queries
from bot.lifecycle.propose import ProposeError
from bot.queries import Query
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from tests.support.builds import log_docs
from tests.support.gerritrepo import QueryRemote
from tests.support.trackers import TrackerStandIn

runner = CliRunner()
NOW = datetime.now(UTC)
TRIPLEO = """\
queries:
  - id: never-either
    pattern: "nothing prints this line at all"
    url: https://bugs.launchpad.net/bugs/1999999
"""
#: file name → (the line its query looks for, when that line was logged (days ago), or None)
QUERIES: dict[str, tuple[str, int | None]] = {
    "1284371": ("fixed and quiet now", 40),  # closed on Launchpad → goes
    "1708704": ("open but quiet", 40),  # open → stays
    "OSPRH-45": ("closed but still hitting", 2),  # closed, hits → stays
    "gh-o-r-7": ("never seen anywhere", None),  # no hit ever → goes
    "rhbz1234567": ("errata shipped", 40),  # closed on Bugzilla → goes
}


@pytest.fixture
async def trackers() -> AsyncIterator[TrackerStandIn]:
    async with TrackerStandIn() as standin:
        standin.add_launchpad("1284371", "old", [("nova", "Fix Released", "2023-05-01T10:00:00Z")])
        standin.add_launchpad("1708704", "open", [("nova", "Confirmed", None)])
        standin.add_jira("OSPRH-45", "done", "Closed", "done", resolution={"name": "Done"})
        standin.add_github("o/r", "7", "open issue")
        standin.add_bugzilla("1234567", "errata", "CLOSED", "ERRATA")
        yield standin


@pytest.fixture
async def indexed(search: OpenSearchBackend) -> None:
    docs: list[dict[str, Any]] = []
    for n, (line, days) in enumerate(QUERIES.values()):
        if days is not None:
            docs += log_docs("tempest-full", n, [line], when=NOW - timedelta(days=days))
    await bulk_index(search.client, docs)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    directory = tmp_path / "queries"
    directory.mkdir()
    for name, (line, _) in QUERIES.items():
        (directory / f"{name}.yaml").write_text(f'query: message:"{line}"\n')
    (directory / "tripleo.yml").write_text(TRIPLEO)
    return directory


def config(tmp_path: Path, trackers: TrackerStandIn, search: SearchSettings, **extra: Any) -> Path:
    section = {
        "timeout": 2.0,
        "launchpad": {"api_url": trackers.url("launchpad") + "/devel/"},
        "jira": {"api_url": trackers.url("jira")},
        "bugzilla": {"api_url": trackers.url("bugzilla")},
        "github": {"api_url": trackers.url("github")},
    }
    data = {"search": {"url": search.url, "timeout": 30, "retries": 0}, "trackers": section}
    path = tmp_path / "recheckbot.yaml"
    path.write_text(yaml.safe_dump(data | extra))
    return path


async def run(*args: str) -> Result:
    # The CLI runs its own event loop: from a worker thread, while ours serves the stand-ins.
    return await asyncio.to_thread(runner.invoke, app, list(args))


@pytest.mark.usefixtures("indexed")
async def test_cleanup_lists_closed_quiet_queries_and_those_that_never_hit(
    tmp_path: Path, repo: Path, trackers: TrackerStandIn, search_settings: SearchSettings
) -> None:
    path = config(tmp_path, trackers, search_settings)
    result = await run("cleanup", str(repo), "--json", "--config", str(path))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    by_id = {s["id"]: s for s in report["stale"]}
    assert sorted(by_id) == ["1284371", "gh-o-r-7", "never-either", "rhbz1234567"]
    assert by_id["1284371"]["reason"] == "closed"
    assert by_id["1284371"]["detail"] == (
        "bug 1284371 closed (Fix Released) since 2023-05-01, no hit in 30 days"
    )
    assert by_id["rhbz1234567"]["detail"].startswith("bug 1234567 closed (CLOSED ERRATA)")
    assert by_id["gh-o-r-7"]["reason"] == "never-hit"
    assert by_id["never-either"]["removable"] is False  # an entry of a TripleO file
    assert report["checked"] == 6
    assert report["not_judged"] == []
    # The dry run says what --propose would run, and runs none of it.
    assert report["commands"][-1].startswith("git push '<propose.remote>' HEAD:refs/for/master")
    assert "git rm queries/1284371.yaml" in report["commands"]
    assert not any("tripleo" in line for line in report["commands"])
    # Only the bugs of queries that hit once and stopped were looked up.
    asked = {r.path.split("/")[-1] for r in trackers.asked() if "bug_tasks" not in r.path}
    assert asked == {"1284371", "1708704", "1234567"}


@pytest.mark.usefixtures("indexed")
async def test_a_longer_window_keeps_what_hit_in_it(
    tmp_path: Path, repo: Path, trackers: TrackerStandIn, search_settings: SearchSettings
) -> None:
    path = config(tmp_path, trackers, search_settings)
    result = await run("cleanup", str(repo), "--days", "60", "--config", str(path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "2 of 6 queries can go (bug closed and no hit in 60 days, or never hit)"
    assert lines[1] == f"{repo / 'gh-o-r-7.yaml'}: never hit: nothing in the whole index"
    assert lines[2].endswith(
        "queries[0] (never-either): never hit: nothing in the whole index — an entry of a file "
        "of many: remove it by hand"
    )


@pytest.mark.usefixtures("indexed")
async def test_cleanup_propose_pushes_a_change_removing_the_files(
    tmp_path: Path, repo: Path, trackers: TrackerStandIn, search_settings: SearchSettings
) -> None:
    files = {
        f"queries/{name}.yaml": f'query: message:"{line}"\n' for name, (line, _) in QUERIES.items()
    }
    files["queries/tripleo.yml"] = TRIPLEO
    remote = QueryRemote(tmp_path, files, gerrit=True)
    path = config(tmp_path, trackers, search_settings, propose={"remote": remote.url})
    result = await run("cleanup", str(repo), "--propose", "--config", str(path))
    assert result.exit_code == 0, result.output
    (change,) = remote.changes()
    assert result.stdout.splitlines()[-1] == f"proposed: {change.url}"
    assert remote.files(change.commits[0]) == [
        "queries/1708704.yaml",
        "queries/OSPRH-45.yaml",
        "queries/tripleo.yml",
    ]
    message = remote.message(change.commits[0])
    assert message.startswith("Remove 3 stale queries\n")
    assert "- gh-o-r-7: never hit" in message


def test_closed_and_hitting_is_kept_and_unknown_bugs_are_not_judged() -> None:
    closed = launchpad("1").described(closed=True, status="Fix Released")
    queries = [
        Query("1", 'message:"a"', launchpad("1")),
        Query("2", 'message:"b"', launchpad("2")),
    ]
    stale = stale_queries(
        queries,
        recent={"1": 3, "2": 0},
        ever={"1": 9, "2": 5},
        details={queries[0].bug: closed},
        days=30,
    )
    assert stale == []  # 1 still hits; 2's bug could not be read
    found = stale_queries(queries, {"1": 0}, {"1": 9}, {queries[0].bug: closed}, 30)
    assert [s.query.id for s in found] == ["1"]


def test_nothing_removable_is_no_change(tmp_path: Path) -> None:
    entry = Query("x", 'message:"a"', launchpad("1"), source=tmp_path / "q.yml", location="q[0]")
    with pytest.raises(ProposeError, match="no query file to remove"):
        removal_change([Stale(entry, "never-hit", "never hit")], tmp_path, ProposeSettings(), NOW)
