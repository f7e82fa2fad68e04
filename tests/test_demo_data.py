"""The demo data generator: logs that the real queries match, and the events reporting them."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import SearchSettings, Settings
from bot.demo.data import END_MARKER, generate
from bot.demo.mode import demo_environment
from bot.events.parse import parse_event
from bot.events.source import RawEvent
from bot.queries import load_queries
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.schema import SCHEMAS, Schema
from bot.search.synth import matching_fields, required_fields
from tests.support.paths import ROOT, UPSTREAM_QUERIES, require_upstream


def test_synthesized_fields_follow_the_query_tree() -> None:
    lucene = (
        '(message:"fatal: The remote end hung up" OR message:"Recv failure") AND '
        'tags:"console" AND NOT build_queue:"check-tripleo" AND build_name:neutron*'
    )
    assert required_fields(lucene) == {
        "message": ["fatal: The remote end hung up"],
        "tags": ["console"],
        "build_name": ["neutronx"],
    }
    assert matching_fields('message:"a \\"quoted\\" word" AND message:"next"') == {
        "message": 'a "quoted" word next'
    }


async def test_every_upstream_query_matches_the_jobs_made_for_it(
    search_settings: SearchSettings, schema: Schema
) -> None:
    require_upstream()
    repo = load_queries(UPSTREAM_QUERIES)
    assert not repo.problems
    data = generate(repo.queries, days=3, buildsets_per_day=40, seed=3, schema=schema)
    backend = OpenSearchBackend(search_settings)
    await bulk_index(backend.client, data.documents(), schema=schema)
    carried = {
        (job.bug, job.uuid) for buildset in data.buildsets for job in buildset.jobs if job.bug
    }
    assert len({bug for bug, _ in carried}) >= 30  # a broad sample of the 74 queries
    by_id = {q.id: q for q in repo.queries}
    filters = {
        f"{bug}/{uuid}": {
            "query_string": {"query": f'({by_id[bug].effective}) AND build_uuid:"{uuid}"'}
        }
        for bug, uuid in carried
    }
    response = await backend.search({"size": 0, "aggs": {"m": {"filters": {"filters": filters}}}})
    buckets = response["aggregations"]["m"]["buckets"]
    missed = [key for key, bucket in buckets.items() if bucket["doc_count"] == 0]
    assert missed == []
    await backend.close()


def test_events_report_the_failed_buildsets() -> None:
    require_upstream()
    repo = load_queries(UPSTREAM_QUERIES)
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    data = generate(repo.queries, now=now, days=2, buildsets_per_day=10, seed=5)
    failed = [b for b in data.buildsets if b.failed]
    events = data.events()
    assert len(events) == len(failed) > 0
    for buildset, event in zip(failed, events, strict=True):
        build = parse_event(RawEvent("demo", event), ci_accounts=["zuul"])
        assert not hasattr(build, "reason"), build
        assert build.change == buildset.change  # type: ignore[union-attr]
        assert build.queue == buildset.queue  # type: ignore[union-attr]
        failed_jobs = {j.short_uuid for j in buildset.jobs if j.status == "FAILURE"}
        assert {j.short_uuid for j in build.failed_jobs} == failed_jobs  # type: ignore[union-attr]
    docs = list(data.documents())
    assert sum(1 for d in docs if d["message"] == END_MARKER) == sum(
        len(b.jobs) for b in data.buildsets
    )


def test_the_two_layouts() -> None:
    repo = load_queries(ROOT / "queries")
    when = datetime(2026, 11, 26, 12, tzinfo=UTC)
    docs = {
        schema: list(generate(repo.queries, now=when, days=1, seed=2, schema=schema).documents())
        for schema in SCHEMAS
    }
    er, today = docs["er"][0], docs["logsender"][0]
    assert er["build_uuid"] == today["build_uuid"]
    log_dir = er["log_url"].removesuffix("job-output.txt")
    assert (er["build_change"], er["voting"], er["build_short_uuid"]) == (
        str(today["build_change"]),
        "1",
        today["build_uuid"][:7],
    )
    assert isinstance(today["build_change"], int)
    assert today["voting"] == 1
    assert "build_short_uuid" not in today
    assert today["log_url"] == log_dir + today["filename"]
    assert today["tags"] == ["console", "console.html", "job-output.txt"]
    assert (today["build_node"], today["node_provider"], today["tenant"]) == (
        "zuul-executor",
        "local",
        "openstack",
    )
    assert not {"tenant", "hosts_id", "build_set"} & set(er)


async def test_the_demo_seeds_logsender_documents_by_default() -> None:
    async with demo_environment(Settings(queries=ROOT / "queries")) as env:
        backend = OpenSearchBackend(env.settings.search)
        try:
            mappings = await backend.client.indices.get_mapping(index="logstash-*")
            response = await backend.search({"size": 1, "query": {"term": {"voting": 1}}})
        finally:
            await backend.close()
    fields = [m["mappings"]["properties"] for m in mappings.values()]
    assert {(f["build_change"]["type"], f["voting"]["type"]) for f in fields} == {
        ("integer", "integer")
    }
    [hit] = response["hits"]["hits"]
    assert isinstance(hit["_source"]["build_change"], int)
    assert "build_short_uuid" not in hit["_source"]
