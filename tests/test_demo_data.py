"""The demo data generator: logs that the real queries match, and the events reporting them."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import SearchSettings
from bot.demo.data import END_MARKER, generate
from bot.events.parse import parse_event
from bot.events.source import RawEvent
from bot.queries import load_queries
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.synth import matching_fields, required_fields
from tests.support.paths import UPSTREAM_QUERIES, require_upstream


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
    search_settings: SearchSettings,
) -> None:
    require_upstream()
    repo = load_queries(UPSTREAM_QUERIES)
    assert not repo.problems
    data = generate(repo.queries, days=3, buildsets_per_day=40, seed=3)
    backend = OpenSearchBackend(search_settings)
    await bulk_index(backend.client, data.documents())
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
