"""``recheckbot query`` end to end against osmem, and its one-line errors."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from bot.cli import app
from bot.config import SearchSettings
from bot.demo.data import generate
from bot.queries import load_queries
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.schema import Schema
from tests.support.cli import recheckbot
from tests.support.paths import ROOT

runner = CliRunner()
BUG = "1541364"  # "Failed to update apt repos, we're dead now" AND tags:"console"


async def seed(settings: SearchSettings, schema: Schema) -> tuple[int, int, list[dict[str, Any]]]:
    """Index the demo data; return the hits and failed builds expected for BUG, and the docs."""
    repo = load_queries(ROOT / "queries")
    data = generate(repo.queries, days=5, buildsets_per_day=20, seed=11, schema=schema)
    docs = list(data.documents())
    backend = OpenSearchBackend(settings)
    await bulk_index(backend.client, docs, schema=schema)
    await backend.close()
    phrase = "Failed to update apt repos, we're dead now"
    hits = [d for d in docs if phrase in d["message"] and "console" in d["tags"]]
    failed = {d["build_uuid"] for d in hits if d["build_status"] == "FAILURE"}
    return len(hits), len(failed), docs


async def test_query_by_bug_id_reports_hits_and_failures(
    search_settings: SearchSettings, schema: Schema
) -> None:
    hits, failed, docs = await seed(search_settings, schema)
    assert hits > 0
    args = ["query", BUG, "--days", "7", "--json", "--es-url", search_settings.url]
    # The CLI runs its own event loop: invoke it from a worker thread.
    result = await asyncio.to_thread(
        runner.invoke, app, [*args, "--queries", str(ROOT / "queries")]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["hits"] == hits
    assert report["failed_builds"] == failed
    assert report["failure_rate"] == 1.0  # the demo only puts bug lines in failed jobs
    assert sum(day["hits"] for day in report["per_day"]) == hits
    assert report["breakdown"]["tags"][0]["value"] in ("console", "console.html", "job-output.txt")

    lucene = ["query", "--lucene", 'message:"apt repos"', "--es-url", search_settings.url]
    text = await asyncio.to_thread(runner.invoke, app, lucene)
    assert text.exit_code == 0, text.output
    assert f"total hits: {hits} in the last 10 days" in text.stdout
    assert "build_name\n" in text.stdout

    # Integer fields (logsender) answer the same Lucene as keyword ones (ER's era).
    change = docs[0]["build_change"]
    voting = [d for d in docs if d["build_change"] == change and str(d["voting"]) == "1"]
    typed = ["query", "--lucene", f"build_change:{change} AND voting:1", "--json"]
    result = await asyncio.to_thread(runner.invoke, app, [*typed, "--es-url", search_settings.url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hits"] == len(voting) > 0


def test_query_errors_are_one_clear_line(tmp_path: Path) -> None:
    cases = [
        (["query", "--lucene", "message:(unclosed"], "invalid query"),
        (["query", "424242", "--queries", str(ROOT / "queries")], "no query for bug 424242"),
        (["query"], "give a bug id, a query file or --lucene"),
        (["query", "1", "--queries", str(tmp_path / "missing")], "no such query directory"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr
        assert "Traceback" not in result.output


def test_unreachable_server_fails_fast_with_one_line() -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [*recheckbot(), "query", "--lucene", "message:x", "--es-url", "http://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert time.monotonic() - started < 15
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("recheckbot: error: search server http://127.0.0.1:1 unreachable")
