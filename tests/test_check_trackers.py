"""``recheckbot check --trackers``: queries whose bug closed long ago, end to end.

The trackers are the local stand-ins of tests/support/trackers.py, served from a thread because
the CLI runs its own event loop; the settings reach the CLI through a real config file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

import bot.cli.check
from bot.bugs import github, launchpad
from bot.cli.app import app
from bot.queries import Query
from tests.support.trackers import TrackerStandIn

runner = CliRunner()
RECENT = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
RECENT_DAY = RECENT[:10]


@pytest.fixture
def trackers() -> Iterator[TrackerStandIn]:
    standin = TrackerStandIn(github_token="ghp_s3cret")
    with standin.running_in_thread():
        standin.add_launchpad("1284371", "old", [("nova", "Fix Released", "2023-05-01T10:00:00Z")])
        standin.add_launchpad("1708704", "open", [("nova", "Confirmed", None)])
        standin.add_jira(
            "OSPRH-45",
            "done long ago",
            "Closed",
            "done",
            resolution={"name": "Done"},
            resolutiondate="2024-01-15T10:00:00.000+0000",
        )
        standin.add_github(
            "o/r", "7", "just fixed", state="closed", state_reason="completed", closed_at=RECENT
        )
        standin.add_bugzilla("1234567", "errata", "CLOSED", "ERRATA")
        yield standin


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    directory = tmp_path / "queries"
    directory.mkdir()
    for name in ("1284371", "1708704", "OSPRH-45", "gh-o-r-7", "rhbz1234567"):
        (directory / f"{name}.yaml").write_text('query: message:"boom"\n')
    return directory


@pytest.fixture
def config(tmp_path: Path, trackers: TrackerStandIn, monkeypatch: pytest.MonkeyPatch) -> Path:
    section: dict[str, Any] = {
        "timeout": 2.0,
        "launchpad": {"api_url": trackers.url("launchpad") + "/devel/"},
        "jira": {"api_url": trackers.url("jira")},
        "bugzilla": {"api_url": trackers.url("bugzilla")},
        "github": {"api_url": trackers.url("github"), "token_file": str(tmp_path / "gh")},
    }
    (tmp_path / "gh").write_text("ghp_s3cret\n")
    path = tmp_path / "recheckbot.yaml"
    path.write_text(yaml.safe_dump({"trackers": section}))
    return path


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_closed_bugs_are_candidates_for_removal(
    repo: Path, config: Path, trackers: TrackerStandIn
) -> None:
    result = run("check", str(repo), "--trackers", "--config", str(config))
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        f"{repo / '1284371.yaml'}: bug 1284371 closed (Fix Released) since 2023-05-01"
        " — candidate for removal",
        f"{repo / 'OSPRH-45.yaml'}: bug OSPRH-45 closed (Closed: Done) since 2024-01-15"
        " — candidate for removal",
        f"{repo / 'rhbz1234567.yaml'}: bug 1234567 closed (CLOSED ERRATA) since 2024-02-01"
        " — candidate for removal",
    ]
    assert result.stderr == "3 problem(s) in 3 file(s); 5 queries loaded\n"
    assert {r.auth for r in trackers.asked("github")} == {"Bearer ghp_s3cret"}


def test_closed_days_moves_the_line(repo: Path, config: Path) -> None:
    result = run("check", str(repo), "--trackers", "--closed-days", "1", "--config", str(config))
    assert result.exit_code == 1
    assert (
        f"{repo / 'gh-o-r-7.yaml'}: bug o/r#7 closed (closed: completed) since {RECENT_DAY}"
        " — candidate for removal"
    ) in result.stdout.splitlines()
    long = run("check", str(repo), "--trackers", "--closed-days", "3650", "--config", str(config))
    assert long.exit_code == 0, long.output
    assert long.stdout == ""


def test_unreachable_trackers_are_not_problems(
    repo: Path, config: Path, trackers: TrackerStandIn
) -> None:
    for name in ("launchpad", "jira", "bugzilla", "github"):
        trackers.fail(name, 503)
    result = run("check", str(repo), "--trackers", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "5 bug(s) not looked up: tracker unreachable or no such bug" in result.stderr


def test_json_output_and_without_the_flag_nothing_is_asked(
    repo: Path, config: Path, trackers: TrackerStandIn
) -> None:
    assert run("check", str(repo), "--config", str(config)).exit_code == 0
    assert trackers.requests == []
    result = run("check", str(repo), "--trackers", "--json", "--config", str(config))
    assert result.exit_code == 1
    problems = json.loads(result.stdout)
    assert problems[0] == {
        "path": str(repo / "1284371.yaml"),
        "message": "bug 1284371 closed (Fix Released) since 2023-05-01 — candidate for removal",
    }


def test_closed_bugs_is_pure_and_judges_unknown_dates() -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    q = Query(id="1", lucene="x", bug=launchpad("1"), source=Path("q/1.yaml"))
    g = Query(id="g", lucene="x", bug=github("o/r", "1"), source=Path("q/g.yaml"))
    details = {
        q.bug: q.bug.described(title="t", status="Invalid", closed=True),
        g.bug: g.bug.described(title="t", status="open"),
    }
    [problem] = bot.cli.check.closed_bugs((q, g), details, 30, now)
    assert str(problem) == "q/1.yaml: bug 1 closed (Invalid) (date unknown) — candidate for removal"
