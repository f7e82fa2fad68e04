"""Clustering uncategorized failures and suggesting queries, on a real osmem server.

The data is the scenario of tests/support/clusters.py; expectations come from the generator's
own record of which build carries which pattern.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from benchmarks.clusters import SynthBuild
from bot.config import SearchSettings
from bot.intel import ClusterReport, clusters_json, find_clusters, format_clusters
from bot.intel.cluster import cluster_id, cluster_jobs, own_lines, similarity
from bot.intel.evidence import (
    EvidenceLine,
    JobEvidence,
    evidence_body,
    parse_background,
    parse_evidence,
)
from bot.intel.normalize import normalize
from bot.intel.suggest import MAX_SUCCESS_SHARE, line_phrases, phrase_runs
from bot.intel.uncategorized import UncatBuild
from bot.queries import load_queries
from bot.search.base import SearchQueryError
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.schema import Schema
from bot.search.stats import query_string, since
from tests.support.clusters import (
    COUNTS,
    KNOWN_QUERY,
    ONE_OFFS,
    documents,
    expected_groups,
    seed_builds,
)


async def clusters_of(
    settings: SearchSettings, seed: int, schema: Schema
) -> tuple[ClusterReport, Any]:
    builds = seed_builds(seed)
    backend = OpenSearchBackend(settings)
    try:
        await bulk_index(backend.client, documents(builds, schema), schema=schema)
        report = await find_clusters(backend, [KNOWN_QUERY], days=7, queue="gate")
        return report, (builds, backend)
    except BaseException:
        await backend.close()
        raise


@pytest.fixture
async def seeded(search_settings: SearchSettings, schema: Schema) -> AsyncIterator[Any]:
    """The scenario clustered, in each document layout."""
    report, (builds, backend) = await clusters_of(search_settings, 1, schema)
    yield report, builds, backend
    await backend.close()


def by_pattern(report: ClusterReport, builds: Sequence[SynthBuild]) -> dict[str, str]:
    """Pattern name → id of the cluster holding its builds."""
    truth = {b.uuid: b.pattern for b in builds}
    return {str(truth[c.uuids[0]]): c.id for c in report.clusters}


async def test_four_patterns_make_exactly_four_clusters(seeded: Any) -> None:
    report, builds, _ = seeded
    want = expected_groups(builds)
    got = {frozenset(c.uuids) for c in report.clusters}
    assert got == {frozenset(uuids) for uuids in want.values()}
    assert report.uncategorized == sum(COUNTS.values()) + len(ONE_OFFS)
    assert report.failed == report.uncategorized + 5  # the known bug's builds are explained
    assert report.singletons == len(ONE_OFFS)
    assert report.silent == 0
    for cluster in report.clusters:
        assert len(set(cluster.id)) > 2
        assert cluster.id.startswith("c-")
        assert cluster.first_seen <= cluster.last_seen
        assert set(cluster.job_names) == {b.job for b in builds if b.uuid in cluster.uuids}


async def test_ids_are_stable_across_runs_and_reseeding(
    seeded: Any, search_settings: SearchSettings, schema: Schema
) -> None:
    report, builds, backend = seeded
    again = await find_clusters(backend, [KNOWN_QUERY], days=7, queue="gate")
    assert [(c.id, c.uuids) for c in again.clusters] == [(c.id, c.uuids) for c in report.clusters]
    # Different numbers, uuids, paths, hosts and times everywhere: the same failures.
    await backend.client.indices.delete(index="logstash-*")
    other, (rebuilt, other_backend) = await clusters_of(search_settings, 99, schema)
    await other_backend.close()
    assert by_pattern(other, rebuilt) == by_pattern(report, builds)
    assert len(by_pattern(report, builds)) == 4


async def test_each_suggestion_hits_its_cluster_and_no_success(seeded: Any) -> None:
    report, builds, backend = seeded
    status = {b.uuid: (b.status, b.queue, b.voting) for b in builds}
    for cluster in report.clusters:
        suggestion = report.suggestions[cluster.id]
        assert suggestion.verified, (cluster.id, suggestion.reason)
        assert suggestion.query is not None
        assert suggestion.measured is not None
        hit = await builds_hit(backend, suggestion.query.effective)
        gate_failures = {u for u in hit if status[u] == ("FAILURE", "gate", True)}
        assert gate_failures == set(cluster.uuids)
        assert not [u for u in hit if status[u][0] == "SUCCESS"]
        # The measures shown are the server's own counts.
        measured = suggestion.measured
        assert measured.cluster_hits == measured.cluster_size == cluster.size
        assert measured.success == 0
        assert measured.success_share <= MAX_SUCCESS_SHARE
        assert measured.failure == len({u for u in hit if status[u][0] == "FAILURE"})


async def test_suggested_yaml_loads_back_as_the_same_query(seeded: Any, tmp_path: Any) -> None:
    report, _, _ = seeded
    for cluster in report.clusters:
        suggestion = report.suggestions[cluster.id]
        (tmp_path / f"{cluster.id}.yaml").write_text(suggestion.yaml)
    repo = load_queries(tmp_path)
    assert not repo.problems
    loaded = {q.id: q.lucene for q in repo.queries}
    assert loaded == {c.id: report.suggestions[c.id].query.lucene for c in report.clusters}


async def test_json_and_text(seeded: Any) -> None:
    report, _builds, _ = seeded
    rows = clusters_json(report)
    assert [row["id"] for row in rows] == [c.id for c in report.clusters]
    keys = {"id", "size", "jobs", "projects", "first_seen", "last_seen", "sample"}
    keys |= {"suggested_query", "suggested_hits"}
    for row in rows:
        assert keys <= set(row)
        assert row["suggested_hits"] == {"failure": row["suggested_hits"]["failure"], "success": 0}
        assert row["size"] == len(row["builds"])
    text = format_clusters(report)
    assert text.startswith("4 cluster(s) in 44 uncategorized failed gate builds")
    assert all(c.id in text for c in report.clusters)


async def builds_hit(backend: OpenSearchBackend, lucene: str) -> set[str]:
    body = {
        "size": 0,
        "query": {"bool": {"must": [query_string(lucene)], "filter": [since(7)]}},
        "aggs": {"b": {"terms": {"field": "build_uuid", "size": 1000}}},
    }
    response = await backend.search(body)
    return {str(b["key"]) for b in response["aggregations"]["b"]["buckets"]}


# --- the clusterer alone: pure ---------------------------------------------------------------

T0 = datetime(2026, 11, 1, tzinfo=UTC)
GENERIC = "ERROR: the main setup script run by this job failed - exit code: 1"


def job(n: int, *lines: str) -> JobEvidence:
    build = UncatBuild(f"u{n:03d}", "tempest-full", "openstack/nova", "", T0 + timedelta(hours=n))
    errors = tuple(EvidenceLine(text, normalize(text), "job-output.txt", "") for text in lines)
    return JobEvidence(build, errors)


def frames(exception: str, n: int) -> tuple[str, ...]:
    shared = [f'File "/opt/stack/nova/x.py", line {n}, in frame_{k}' for k in range(6)]
    return ("Traceback (most recent call last):", *shared, exception)


def groups(clustering: Any) -> list[set[str]]:
    return sorted(({j.build.uuid for j in c.jobs} for c in clustering.clusters), key=sorted)


def test_an_extra_line_on_some_builds_does_not_split_a_failure() -> None:
    jobs = [job(n, f"Volume {n} failed to attach", GENERIC) for n in range(6)]
    extra = "lost heartbeat from rabbit"
    jobs += [job(n, f"Volume {n} failed to attach", GENERIC, extra) for n in (6, 7)]
    jobs += [job(n, "Port binding failed for port 7", GENERIC) for n in range(8, 12)]
    # Builds that printed only the generic line join nobody (they are not "volume" failures).
    jobs += [job(n, GENERIC) for n in (12, 13)]
    found = cluster_jobs(jobs)
    assert groups(found) == [
        {f"u{n:03d}" for n in range(8)},
        {f"u{n:03d}" for n in range(8, 12)},
    ]
    assert {j.build.uuid for j in found.singletons} == {"u012", "u013"}


def test_shared_traceback_frames_and_generic_lines_do_not_glue_failures() -> None:
    jobs = [job(n, *frames("ValueError: bad volume size", n), GENERIC) for n in range(5)]
    jobs += [job(n, *frames("KeyError: 'port_id'", n), GENERIC) for n in range(5, 10)]
    # Builds that share nothing but the generic line are one-offs, not a cluster.
    jobs += [job(n, f"unique failure number {chr(97 + n)}x{n}", GENERIC) for n in (10, 11)]
    found = cluster_jobs(jobs)
    assert groups(found) == [
        {f"u{n:03d}" for n in range(5)},
        {f"u{n:03d}" for n in range(5, 10)},
    ]
    assert {j.build.uuid for j in found.singletons} == {"u010", "u011"}


def test_noise_and_silent_builds() -> None:
    noise = normalize("AMQP server on 10.0.0.1:5672 is unreachable")
    jobs = [job(n, "AMQP server on 10.0.0.1:5672 is unreachable") for n in range(3)]
    jobs += [
        job(n, "Disk quota exceeded on /dev/vdb", "AMQP server on 10.0.0.1:5672 is unreachable")
        for n in range(3, 6)
    ]
    found = cluster_jobs(jobs, frozenset({noise}))
    assert {j.build.uuid for j in found.silent} == {"u000", "u001", "u002"}
    assert groups(found) == [{"u003", "u004", "u005"}]
    assert found.clusters[0].lines == (normalize("Disk quota exceeded on /dev/vdb"),)


def test_ids_hash_the_core_and_do_not_collide() -> None:
    core = ["b line", "a line"]
    assert cluster_id(core) == cluster_id(list(reversed(core)))
    first = cluster_id(core)
    assert len(first) == 8
    assert cluster_id(core, {first}).startswith(first)
    assert len(cluster_id(core, {first})) == 10
    weight = {"a": 1.0, "n": 2.0, "g": 0.05}
    assert similarity(frozenset({"g"}), frozenset({"a", "g"}), weight) < 0.1
    assert similarity(frozenset({"a", "g", "n"}), frozenset({"a", "g"}), weight) == 1.0
    assert own_lines(frozenset({"g"}), [frozenset({"g"}), frozenset({"a", "g"})]) == frozenset()


def test_phrases_skip_masks_and_keep_whole_words() -> None:
    template = normalize(
        "2026-01-02 10:00:00.1 123 ERROR nova.compute.manager [req-3f9a2b1c-1234-4abc-8def-"
        "0123456789ab None None] Failed to allocate network(s) on host=np0035123456"
    )
    assert phrase_runs(template)[0] == ["ERROR", "nova.compute.manager", "[req-"]
    assert line_phrases(template)[0] == "Failed to allocate network(s) on host="
    assert line_phrases(normalize("qemu-system-x86_64: -netdev tap,fd=35: could not open")) == [
        "-netdev tap,fd=",
        "could not open",
        "qemu-system-",
    ]


def test_evidence_parsing() -> None:
    def hit(message: str, second: int) -> dict[str, Any]:
        source = {"message": message, "filename": "job-output.txt", "@timestamp": f"T{second}"}
        return {"_source": source}

    def bucket(key: str, *messages: str) -> dict[str, Any]:
        hits = [hit(m, i) for i, m in reversed(list(enumerate(messages)))]  # newest first
        return {"key": key, "errors": {"lines": {"hits": {"hits": hits}}}, "tail": {}}

    response = {"aggregations": {"builds": {"buckets": [bucket("u001", "first 1", "then 2")]}}}
    builds = [job(1).build, job(2).build]
    found = parse_evidence(response, builds)
    assert [line.message for line in found[0].errors] == ["first 1", "then 2"]
    assert [line.template for line in found[0].errors] == ["first <NUM>", "then <NUM>"]
    assert found[1].errors == ()  # no documents: no lines
    background = parse_background(
        {"aggregations": {"builds": {"buckets": [bucket(f"s{n}", "noise 1") for n in range(3)]}}}
    )
    assert background.builds == 3
    assert background.noise() == frozenset({"noise <NUM>"})
    with pytest.raises(SearchQueryError, match="evidence search"):
        parse_evidence({"error": {"reason": "too many clauses"}, "status": 400}, builds)
    body = evidence_body(["u1", "u2"], 7)
    assert body["query"]["bool"]["filter"][0] == {"terms": {"build_uuid": ["u1", "u2"]}}
    assert body["aggs"]["builds"]["terms"]["size"] == 2
