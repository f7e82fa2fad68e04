"""The graph JSON with impact figures: ER's fields as they were, each bug's ``impact`` as counted
by hand (tests/support/impact.py: bugs 1001 and 1002 are the graph data set's), the dashboard
page costliest first, and ``recheckbot graph --state``."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

import bot.cli.graph  # noqa: F401  (registers the subcommand)
from bot.cli.app import app
from bot.config import SearchSettings
from bot.dashboard.build import DashboardBuilder
from bot.dashboard.graph import Window, assemble, graph_json
from bot.impact_store import ImpactJournal
from bot.intel.impact import gather_impact, impact_report
from bot.search.opensearch import OpenSearchBackend
from tests.support.graph import NOW_MS, QUERIES, index_graph_data, seed_graph_data, write_repo
from tests.support.impact import FACTS, NOW, journal_facts, shifted

#: ER's graph JSON, field for field (INVENTORY §3.1).
ER_TOP = {"now", "last_indexed", "behind", "buglist", "status"}
ER_BUG = {"number", "query", "logstash_url", "bug_data", "fails", "fails24", "data", "voting"}
FIGURES = {"failed_builds", "changes", "rechecks", "ci_seconds", "gate_failures", "score"}


def without_impact(document: dict[str, Any]) -> dict[str, Any]:
    rows = [{k: v for k, v in row.items() if k != "impact"} for row in document["buglist"]]
    return {**{k: v for k, v in document.items() if k != "impact"}, "buglist": rows}


def test_impact_is_added_and_er_fields_stay_as_they_are() -> None:
    data = assemble([q for q in QUERIES if not q.suppress_graph], {}, Window(NOW_MS), None)
    plain = graph_json(data)
    ranked = graph_json(replace(data, impact=impact_report(FACTS, NOW)))
    assert "impact" not in plain
    assert all("impact" not in row for row in plain["buglist"])
    assert without_impact(ranked) == plain  # ER's fields, values and buglist order untouched
    assert set(ranked) >= ER_TOP
    assert all(set(row) >= ER_BUG for row in ranked["buglist"])
    json.dumps(ranked)  # plain JSON

    impact = {row["number"]: row["impact"] for row in ranked["buglist"]}
    assert impact["1001"]["7d"] == {
        "failed_builds": 4,
        "changes": 3,
        "rechecks": 2,
        "ci_seconds": 3000,
        "gate_failures": 1,
        "score": 5.83,
    }
    one_day = {"failed_builds": 1, "changes": 1, "rechecks": 1, "ci_seconds": 1200, "score": 1.33}
    assert impact["1002"]["1d"] == {"gate_failures": 0, **one_day}
    assert all(set(row) == {"1d", "7d", "10d", "rank"} for row in impact.values())
    assert all(set(row["10d"]) == FIGURES for row in impact.values())
    assert impact["1005"]["10d"] == dict.fromkeys(FIGURES, 0)
    # 1002 costs most, then 1001; the bugs that cost nothing follow in ER's order.
    assert {n: row["rank"] for n, row in impact.items()} == {
        "1002": 1,
        "1001": 2,
        "1004": 3,
        "1005": 4,
    }
    assert ranked["impact"]["rank_window"] == "7d"


async def test_the_page_lists_the_costliest_first_and_the_json_keeps_er_order(
    search_settings: SearchSettings, tmp_path: Path
) -> None:
    backend = OpenSearchBackend(search_settings)
    journal = await ImpactJournal.open(tmp_path / "state.sqlite")
    try:
        await index_graph_data(backend)
        await journal_facts(journal, shifted(FACTS, time.time() - NOW))

        async def impact(*, queue: str | None) -> Any:
            return await gather_impact(journal, queue=queue)

        builder = DashboardBuilder(tmp_path / "site", backend, lambda: QUERIES, impact=impact)
        await asyncio.gather(builder.build_part("all"), builder.build_part("gate"))
    finally:
        await journal.close()
        await backend.close()
    page = (tmp_path / "site" / "index.html").read_text()
    assert re.findall(r'<li class="bug" id="bug-(\d+)"', page) == ["1002", "1001", "1004", "1005"]
    assert '<option value="impact">' in page  # the first choice: the default sort
    assert "7 d: 3 failed builds, 3 changes, 1 recheck, 1 h 25 min CI, 2 gate failures" in page
    listed = json.loads((tmp_path / "site" / "data" / "all.json").read_text())
    fails = [row["fails24"] * 100000 + row["fails"] for row in listed["buglist"]]
    assert fails == sorted(fails, reverse=True)  # ER's order
    gate = json.loads((tmp_path / "site" / "data" / "gate.json").read_text())
    by_id = {row["number"]: row["impact"] for row in gate["buglist"]}
    # The gate page counts the gate's builds only: b3 and b6 for 1002, b6 for 1001.
    assert by_id["1002"]["7d"]["failed_builds"] == 2
    assert by_id["1001"]["7d"]["ci_seconds"] == 300


def test_graph_command_reads_impact_from_a_state_file(
    search_settings: SearchSettings, tmp_path: Path
) -> None:
    seed_graph_data(search_settings)
    repo = write_repo(tmp_path / "queries")
    state = tmp_path / "state.sqlite"

    async def write() -> None:
        journal = await ImpactJournal.open(state)
        await journal_facts(journal, shifted(FACTS, time.time() - NOW))
        await journal.close()

    asyncio.run(write())
    common = ["--es-url", search_settings.url, "--queries", str(repo)]
    out = tmp_path / "all.json"
    result = CliRunner().invoke(app, ["graph", "-o", str(out), "--state", str(state), *common])
    assert result.exit_code == 0, result.output
    ranked = {row["number"]: row["impact"] for row in json.loads(out.read_text())["buglist"]}
    assert ranked["1002"]["rank"] == 1
    assert ranked["1002"]["7d"]["gate_failures"] == 2

    result = CliRunner().invoke(app, ["graph", *common])  # no journal: ER's fields only
    assert result.exit_code == 0, result.output
    assert "impact" not in result.stdout

    missing = ["graph", "--state", str(tmp_path / "nope.sqlite"), *common]
    result = CliRunner().invoke(app, missing)
    assert result.exit_code != 0
    assert "no such state file" in result.output
