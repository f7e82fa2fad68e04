"""From a cluster to a query: bug references, file names, the adopted file (it loads back as the
bug's query, and hits what the suggestion hit), and ``!adopt`` in the chat harness, as a dry
run and as a real push to a local bare repository that takes ``refs/for/`` as Gerrit does."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from bot.bugs import bugzilla, github, jira, launchpad
from bot.cli import app
from bot.config import SearchSettings
from bot.config.propose import ProposeSettings
from bot.intel import ClusterReport, find_clusters
from bot.lifecycle.adopt import AdoptError, adoption, parse_bug_ref, query_file_name
from bot.lifecycle.propose import Proposer
from bot.queries import Query, QueryRepo, load_query_file
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from tests.support.chat import OPS, ChatHarness, FakeServices
from tests.support.clusters import KNOWN_QUERY, documents, seed_builds
from tests.support.gerritrepo import PROJECT, REVIEW, QueryRemote

SEED = {"queries/1541364.yaml": 'query: >-\n  message:"apt"\n'}


@pytest.fixture
async def report(search: OpenSearchBackend) -> ClusterReport:
    """A real cluster report: the clustering scenario on this test's osmem."""
    await bulk_index(search.client, documents(seed_builds(5)))
    return await find_clusters(search, [KNOWN_QUERY], days=7, queue="gate")


def verified(report: ClusterReport) -> str:
    return next(c.id for c in report.clusters if report.suggestions[c.id].verified)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234567", launchpad("1234567")),
        ("lp:1234567", launchpad("1234567")),
        ("jira:OSPRH-12", jira("OSPRH-12")),
        ("OSPRH-12", jira("OSPRH-12")),
        ("bz:2001234", bugzilla("2001234")),
        ("rhbz:2001234", bugzilla("2001234")),
        ("gh:org/repo#12", github("org/repo", "12")),
        ("https://bugs.launchpad.net/nova/+bug/1234567", launchpad("1234567", "nova")),
    ],
)
def test_bug_references(text: str, expected: object) -> None:
    assert parse_bug_ref(text) == expected


@pytest.mark.parametrize("text", ["", "jira:12", "gh:org#12", "bz:abc", "c-3f9a2b", "x:1"])
def test_what_is_no_bug_reference_says_what_is(text: str) -> None:
    with pytest.raises(AdoptError, match="give a bug like 1234567, jira:OSPRH-12"):
        parse_bug_ref(text)


def test_file_names_follow_the_repos_naming_scheme() -> None:
    names = [
        query_file_name(bug)
        for bug in (
            launchpad("1234567"),
            jira("OSPRH-12"),
            bugzilla("2001234"),
            github("org/repo", "12"),
        )
    ]
    assert names == ["1234567.yaml", "OSPRH-12.yaml", "rhbz2001234.yaml", "gh-org-repo-12.yaml"]


@pytest.mark.parametrize("ref", ["1234567", "jira:OSPRH-12", "bz:2001234", "gh:my-org/repo#12"])
async def test_the_adopted_file_loads_back_as_the_bugs_query(
    report: ClusterReport, tmp_path: Path, ref: str
) -> None:
    cluster_id = verified(report)
    bug = parse_bug_ref(ref)
    plan = adoption(report, cluster_id, bug, QueryRepo(), ProposeSettings())
    suggested = report.suggestions[cluster_id].query
    assert suggested is not None
    assert plan.path == f"queries/{query_file_name(bug)}"
    file = tmp_path / query_file_name(bug)
    file.write_text(plan.text)
    loaded = load_query_file(file)
    assert loaded.bug == bug
    assert loaded.lucene == suggested.lucene
    assert plan.change.subject.endswith(bug.id)
    assert f"cluster {cluster_id}" in plan.change.body.replace("\n", " ")
    assert all(len(line) <= 72 for line in plan.change.body.splitlines() if " " in line)
    # A dash in the org makes the name ambiguous: the file says the bug outright.
    assert ("bug:" in plan.text) == (ref == "gh:my-org/repo#12")


async def test_what_cannot_be_adopted_is_refused_with_the_reason(report: ClusterReport) -> None:
    settings = ProposeSettings()
    with pytest.raises(AdoptError, match="no cluster 'c-000000' in the last 7 d"):
        adoption(report, "c-000000", launchpad("1"), QueryRepo(), settings)
    unverified = [c.id for c in report.clusters if not report.suggestions[c.id].verified]
    for cluster_id in unverified:
        with pytest.raises(AdoptError, match="has no verified query to adopt"):
            adoption(report, cluster_id, launchpad("1"), QueryRepo(), settings)
    taken = QueryRepo((Query(id="1", lucene="x", bug=launchpad("1")),))
    with pytest.raises(AdoptError, match="bug 1 has a query already"):
        adoption(report, verified(report), launchpad("1"), taken, settings)


# --- !adopt in the chat harness -------------------------------------------------------------


async def test_adopt_is_for_admins(services: FakeServices, report: ClusterReport) -> None:
    services.cluster_report = report
    chat = ChatHarness(services)
    (reply,) = await chat.run_command(f"!adopt {verified(report)} 1234567")
    assert "admins" in reply


async def test_adopt_is_a_dry_run_by_default(
    services: FakeServices, report: ClusterReport, tmp_path: Path
) -> None:
    remote = QueryRemote(tmp_path, SEED, gerrit=True)
    services.cluster_report = report
    services.proposer = Proposer(ProposeSettings(remote=remote.url))
    cluster_id = verified(report)
    chat = ChatHarness(services)

    (reply,) = await chat.run(f"!adopt {cluster_id} 1234567", user=OPS)

    lines = reply.plain.splitlines()
    assert lines[0] == (
        f"{cluster_id} → bug 1234567 · dry run: queries/1234567.yaml would be proposed "
        "(add --propose to push it):"
    )
    shown = "\n".join(line.removeprefix("  ") for line in lines[1:-1])
    assert yaml.safe_load(shown)["query"] == report.suggestions[cluster_id].query.lucene  # type: ignore[union-attr]
    assert lines[-1] == f"then: git push {remote.url} HEAD:refs/for/master%topic=recheckbot"
    assert reply.html is not None
    assert "<pre><code>query: &gt;-" in reply.html
    assert remote.changes() == []  # nothing was pushed


async def test_adopt_propose_pushes_a_change_and_links_it(
    services: FakeServices, report: ClusterReport, tmp_path: Path
) -> None:
    remote = QueryRemote(tmp_path, SEED, gerrit=True)
    services.cluster_report = report
    services.proposer = Proposer(ProposeSettings(remote=remote.url))
    cluster_id = verified(report)
    chat = ChatHarness(services)

    (reply,) = await chat.run(f"!adopt {cluster_id} jira:OSPRH-12 --propose", user=OPS)

    (change,) = remote.changes()
    assert change.url == f"{REVIEW}/c/{PROJECT}/+/1"
    assert (
        reply.plain
        == f"{cluster_id} → jira OSPRH-12: proposed queries/OSPRH-12.yaml · {change.url}"
    )
    assert reply.html is not None
    assert f'<a href="{change.url}">change</a>' in reply.html
    text = remote.show(change.commits[0], "queries/OSPRH-12.yaml")
    assert yaml.safe_load(text)["query"] == report.suggestions[cluster_id].query.lucene  # type: ignore[union-attr]
    assert remote.message(change.commits[0]).rstrip().endswith(f"Change-Id: {change.change_id}")
    audit = await chat.audit()
    assert audit[-1][2:] == (f"!adopt {cluster_id} jira:OSPRH-12 --propose", "ok")


async def test_adopt_refusals_name_what_is_wrong(
    services: FakeServices, report: ClusterReport
) -> None:
    services.cluster_report = report
    chat = ChatHarness(services)
    cases = {
        "!adopt": "give a cluster id (see !uncat) and a bug like 1234567",
        f"!adopt {verified(report)}": "give a cluster id",
        f"!adopt {verified(report)} jira:12": "is no bug reference",
        "!adopt nonsense 1234567": "is not a cluster id",
        f"!adopt {verified(report)} 1541364": "bug 1541364 has a query already (1541364.yaml)",
    }
    for line, expected in cases.items():
        (reply,) = await chat.run_command(line, user=OPS)
        assert expected in reply, line


async def test_a_failed_push_is_said_plainly(
    services: FakeServices, report: ClusterReport, tmp_path: Path
) -> None:
    services.cluster_report = report
    services.proposer = Proposer(ProposeSettings(remote=(tmp_path / "gone.git").as_uri()))
    chat = ChatHarness(services)
    (reply,) = await chat.run_command(f"!adopt {verified(report)} 1234567 --propose", user=OPS)
    assert reply.startswith("sorry, !adopt failed: git clone failed: ")


# --- recheckbot adopt -----------------------------------------------------------------------


async def cli(*args: str) -> Result:
    # The CLI runs its own event loop: from a worker thread.
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


def cli_config(tmp_path: Path, search: SearchSettings, remote: str | None = None) -> Path:
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / f"{KNOWN_QUERY.id}.yaml").write_text(f"query: '{KNOWN_QUERY.lucene}'\n")
    data: dict[str, object] = {
        "search": {"url": search.url, "timeout": 30, "retries": 0},
        "queries": str(queries),
        **({"propose": {"remote": remote}} if remote else {}),
    }
    path = tmp_path / "recheckbot.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def test_recheckbot_adopt_shows_the_file_and_pushes_nothing(
    report: ClusterReport, search_settings: SearchSettings, tmp_path: Path
) -> None:
    remote = QueryRemote(tmp_path, SEED, gerrit=True)
    path = cli_config(tmp_path, search_settings, remote.url)
    cluster_id = verified(report)
    result = await cli("adopt", cluster_id, "gh:org/repo#12", "--days", "7", "--config", str(path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "queries/gh-org-repo-12.yaml:"
    assert lines[-1] == "dry run: nothing was pushed"
    assert lines[-2] == f"  git push {remote.url} HEAD:refs/for/master%topic=recheckbot"
    assert remote.changes() == []


async def test_recheckbot_adopt_propose_prints_the_change(
    report: ClusterReport, search_settings: SearchSettings, tmp_path: Path
) -> None:
    remote = QueryRemote(tmp_path, SEED, gerrit=True)
    path = cli_config(tmp_path, search_settings, remote.url)
    cluster_id = verified(report)
    args = ["adopt", cluster_id, "bz:2001234", "--days", "7", "--propose", "--json"]
    result = await cli(*args, "--config", str(path))
    assert result.exit_code == 0, result.output
    (change,) = remote.changes()
    outcome = json.loads(result.stdout)
    assert outcome["proposed"]["url"] == change.url
    assert outcome["path"] == "queries/rhbz2001234.yaml"
    assert remote.show(change.commits[0], outcome["path"]) == outcome["text"]


async def test_recheckbot_adopt_errors_are_one_line(
    report: ClusterReport, search_settings: SearchSettings, tmp_path: Path
) -> None:
    path = cli_config(tmp_path, search_settings)
    result = await cli(
        "adopt", verified(report), "1234567", "--days", "7", "--propose", "--config", str(path)
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "recheckbot: error: no propose.remote is configured: nothing can be pushed\n"
    )
    result = await cli("adopt", "c-000000", "1234567", "--days", "7", "--config", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith("recheckbot: error: no cluster 'c-000000' in the last 7 d")
