"""The uncategorized failures report on osmem, checked against counts computed from the docs."""

from __future__ import annotations

import html
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import SearchSettings
from bot.dashboard.render import render_uncategorized
from bot.intel.uncategorized import (
    parse_uncat,
    uncat_body,
    uncat_json,
    uncategorized,
)
from bot.search.schema import Schema, log_dir
from tests.support.graph import DEEP_FILE, NOW, QUERIES, matches, seed_graph_data, write_repo


def expected(docs: list[dict[str, Any]], days: int, queue: str | None) -> dict[str, Any]:
    """ER's all-fails universe and classification, from the documents."""
    cutoff = NOW - timedelta(days=days)

    def failed(d: dict[str, Any]) -> bool:
        return (
            d["build_status"] == "FAILURE"
            and str(d["voting"]) == "1"
            and (queue is None or d["build_queue"] == queue)
            and datetime.fromisoformat(d["@timestamp"]) >= cutoff
        )

    universe = [d for d in docs if failed(d)]
    jobs: dict[str, set[str]] = defaultdict(set)
    for d in universe:
        jobs[d["build_name"]].add(d["build_uuid"])
    explained = {d["build_uuid"] for d in universe for q in QUERIES if matches(q, d)}
    return {
        "total": len({d["build_uuid"] for d in universe}),
        "classified": len(explained),
        "jobs": {job: (len(uuids), uuids - explained) for job, uuids in jobs.items()},
    }


@pytest.mark.parametrize(("days", "queue"), [(10, "gate"), (3, "gate"), (10, None)])
async def test_report_matches_independent_counts(
    graph_search: Any, days: int, queue: str | None
) -> None:
    backend, docs = graph_search
    want = expected(docs, days, queue)
    report = await uncategorized(backend, QUERIES, days, queue)
    assert report.total == want["total"] > 0
    assert report.classified == want["classified"] > 0
    assert report.unclassified > 0
    assert report.rate == pytest.approx(want["classified"] * 100 / want["total"])
    got = {job.name: (job.total, {b.uuid for b in job.unclassified}) for job in report.jobs}
    assert got == want["jobs"]
    counts = [len(job.unclassified) for job in report.jobs]
    assert counts == sorted(counts, reverse=True)
    for job in report.jobs:
        times = [b.timestamp for b in job.unclassified]
        assert times == sorted(times, reverse=True)
        assert job.rate == pytest.approx(100 - len(job.unclassified) * 100 / job.total)
    assert not report.truncated


async def test_builds_carry_log_links_times_and_changes(graph_search: Any) -> None:
    backend, docs = graph_search
    report = await uncategorized(backend, QUERIES, 10, "gate")
    newest: dict[str, dict[str, Any]] = {}
    for d in docs:
        if d["build_uuid"] not in newest or d["@timestamp"] > newest[d["build_uuid"]]["@timestamp"]:
            newest[d["build_uuid"]] = d
    builds = [build for job in report.jobs for build in job.unclassified]
    for build in builds:
        doc = newest[build.uuid]
        # The build's log directory, whichever file its newest line is in.
        assert (
            build.log_url == f"https://logs.example.org/gate/{doc['build_name']}/{build.uuid[:7]}/"
        )
        assert build.timestamp == datetime.fromisoformat(doc["@timestamp"])
        # Text, whether the document has "900012" (ER's era) or 900012 (logsender).
        assert (build.change, build.patchset) == (str(doc["build_change"]), doc["build_patchset"])
    assert any(newest[b.uuid]["filename"] == DEEP_FILE for b in builds)


async def test_page_and_json(graph_search: Any) -> None:
    backend, _ = graph_search
    report = await uncategorized(backend, QUERIES, 10, "gate")
    page = render_uncategorized(report)
    assert f'<b id="overall-rate">{report.rate:.1f}%</b>' in page
    assert f'<b id="uncounted">{report.unclassified}</b>' in page
    first = report.jobs[0]
    assert f'id="job-{first.name}"' in page
    for build in first.unclassified:
        assert f'href="{html.escape(build.log_url)}"' in page
        assert build.timestamp.strftime("%Y-%m-%dT%H:%M") in page
    data = uncat_json(report)
    assert data["total"] == report.total
    assert data["classified"] + data["unclassified"] == data["total"]
    assert sum(j["unclassified"] for j in data["jobs"]) == report.unclassified
    assert {b["id"] for b in data["bugs"]} <= {q.id for q in QUERIES}


def test_body_is_one_request_over_failed_voting_builds() -> None:
    body = uncat_body(QUERIES, days=5, queue="gate", max_builds=50)
    clauses = body["query"]["bool"]["filter"]
    assert {"term": {"build_status": "FAILURE"}} in clauses
    assert {"term": {"voting": "1"}} in clauses  # matches an integer and a keyword field
    assert {"term": {"build_queue": "gate"}} in clauses
    assert body["aggs"]["builds"]["terms"]["size"] == 50
    assert body["aggs"]["builds"]["aggs"]["first"]["top_hits"]["size"] == 1
    filters = body["aggs"]["bugs"]["filters"]["filters"]
    assert set(filters) == {q.id for q in QUERIES}  # suppress-graph ones classify too
    assert body["aggs"]["bugs"]["aggs"]["builds"]["terms"]["field"] == "build_uuid"


def test_escaping_and_truncation_from_a_recorded_response() -> None:
    hit = {
        "build_name": "<script>alert(1)</script>",
        "log_url": "https://logs/x/console.html",
        "@timestamp": "2026-11-20T10:00:00Z",
    }
    response = {
        "aggregations": {
            "builds": {
                "sum_other_doc_count": 3,
                "buckets": [{"key": "u1", "first": {"hits": {"hits": [{"_source": hit}]}}}],
            },
            "bugs": {"buckets": {"1001": {"builds": {"buckets": []}}}},
        }
    }
    report = parse_uncat(response, days=10, queue="gate", generated_at=NOW)
    assert report.truncated
    assert report.jobs[0].unclassified[0].timestamp == datetime(2026, 11, 20, 10, tzinfo=UTC)
    page = render_uncategorized(report)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "only the newest are counted" in page


def test_log_dir_cuts_console_files_and_file_paths() -> None:
    assert log_dir("https://l/a/b/job-output.txt") == "https://l/a/b/"
    assert log_dir("https://l/a/b/job-output.txt.gz") == "https://l/a/b/"
    assert log_dir("http://l/a/console.html") == "http://l/a/"
    assert log_dir("https://l/a/b/") == "https://l/a/b/"
    # logsender: the file's path is appended to the build's log URL, whatever the file.
    deep = "https://l/a/b/controller/logs/devstacklog.txt"
    assert log_dir(deep, "controller/logs/devstacklog.txt") == "https://l/a/b/"
    assert log_dir(deep + ".gz", "controller/logs/devstacklog.txt") == "https://l/a/b/"
    # ER's era: the console URL on every file's documents.
    assert log_dir("https://l/a/b/console.html", "logs/screen-n-cpu.txt") == "https://l/a/b/"


def test_a_logsender_hit_reads_as_an_er_one() -> None:
    hit = {
        "build_name": "tempest-full",
        "project": "openstack/nova",
        "log_url": "https://logs/12/912345/3/gate/tempest-full/4bc5a41/controller/logs/syslog.txt",
        "filename": "controller/logs/syslog.txt",
        "@timestamp": "2026-11-20T10:00:00",
        "build_change": 912345,
        "build_patchset": "3",
    }
    bucket = {"key": "4bc5a41d", "first": {"hits": {"hits": [{"_source": hit}]}}}
    report = parse_uncat({"aggregations": {"builds": {"buckets": [bucket]}}}, days=10, queue="gate")
    [build] = report.jobs[0].unclassified
    assert build.log_url == "https://logs/12/912345/3/gate/tempest-full/4bc5a41/"
    assert (build.change, build.patchset) == ("912345", "3")
    assert uncat_json(report)["jobs"][0]["builds"][0]["change"] == "912345"
    assert "912345,3" in render_uncategorized(report)


def test_uncat_command(search_settings: SearchSettings, tmp_path: Path, schema: Schema) -> None:
    from typer.testing import CliRunner

    import bot.cli.uncat  # noqa: F401  (registers the subcommand)
    from bot.cli.app import app

    want = expected(seed_graph_data(search_settings, schema), 10, "gate")
    repo = write_repo(tmp_path / "queries")
    common = ["--es-url", search_settings.url, "--queries", str(repo)]
    out = tmp_path / "uncategorized.html"
    result = CliRunner().invoke(app, ["uncat", "-o", str(out), *common])
    assert result.exit_code == 0, result.output
    rate = want["classified"] * 100 / want["total"]
    assert f'<b id="overall-rate">{rate:.1f}%</b>' in out.read_text()

    result = CliRunner().invoke(app, ["uncat", "--json", "--days", "10", *common])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["total"], data["classified"]) == (want["total"], want["classified"])
    assert data["queue"] == "gate"
