"""``recheckbot graph`` looks the bugs up in their trackers when trackers are on, as the served
dashboard does: titles and targets in ``bug_data``, ER's private-bug wording for a bug Launchpad
does not show. The tracker is the local Launchpad stand-in, served from a thread (the
CLI runs its own event loop), reached through a real config file."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

import bot.cli.graph  # noqa: F401  (registers the subcommand)
from bot.cli.app import app
from bot.config import SearchSettings
from tests.support.graph import seed_graph_data, write_repo
from tests.support.trackers import TrackerStandIn


def config_file(folder: Path, trackers: TrackerStandIn) -> Path:
    path = folder / "recheckbot.yaml"
    section = {"timeout": 2.0, "launchpad": {"api_url": trackers.url("launchpad") + "/devel/"}}
    path.write_text(yaml.safe_dump({"trackers": section}))
    return path


def graph_names(search: SearchSettings, repo: Path, config: Path, **env: str) -> dict[str, dict]:
    args = ["graph", "--es-url", search.url, "--queries", str(repo), "--config", str(config)]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    return {b["number"]: b["bug_data"] for b in json.loads(result.stdout)["buglist"]}


def test_graph_fills_bug_data_from_the_tracker(
    search_settings: SearchSettings, tmp_path: Path
) -> None:
    seed_graph_data(search_settings)
    repo = write_repo(tmp_path / "queries")
    trackers = TrackerStandIn()
    with trackers.running_in_thread():
        trackers.add_launchpad("1001", "Disk quota on the nodes", [("nova", "Confirmed", None)])
        trackers.add_launchpad("1004", "Flaky <test>", [("tempest", "In Progress", None)])
        config = config_file(tmp_path, trackers)
        found = graph_names(search_settings, repo, config)
        asked = {r.path.split("/bugs/")[1].split("/")[0] for r in trackers.asked("launchpad")}
        before = len(trackers.requests)
        quiet = graph_names(search_settings, repo, config, RECHECKBOT_TRACKERS__ENABLED="false")
        after = len(trackers.requests)

    assert found["1001"] == {
        "name": "Disk quota on the nodes",
        "affects": "(nova - Confirmed)",
        "reviews": [],
    }
    assert found["1004"]["name"] == "Flaky <test>"
    # 1002 is not on the tracker: Launchpad hides a private bug so from anonymous readers.
    private = "Unknown (Private Bug)"
    assert found["1002"] == {"name": private, "affects": private, "reviews": []}
    assert {"1001", "1002", "1004", "1005"} <= asked
    # Trackers off: nothing asked, the query files' titles as before.
    assert after == before
    assert quiet["1001"]["name"] == "Disk quota <exceeded> on nodes"
    assert quiet["1002"]["name"] == ""
