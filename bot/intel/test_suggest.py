"""Queries the other way round: a query with ``test_ids`` for a test that fails often and that
no known query names, checked against the search server before anyone sees it.

The candidates are the lines a test runner prints when the test fails (stestr's
``tempest.x.y.test_z [1.2s] ... FAILED``): the test id as a phrase next to ``FAILED``, in the
console, then anywhere. Each is measured over the window as it will run (``voting:1`` implied),
all of them in one msearch, like the cluster suggestions (:mod:`bot.intel.suggest`): the share
of the builds the test failed in that it hits (at least :data:`MIN_RECALL`; the failed builds
come from the test-result index) and the share of the builds it hits that succeeded (at most
ER's 10 %). The first candidate that passes becomes the suggestion, with ``test_ids`` naming the
test: where the test-result index exists, that is what decides a match (ER's subunit2sql
check), and the phrase keeps the query right on sites without one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from bot.bugs import untracked
from bot.intel.evidence import msearch_all
from bot.intel.suggest import MAX_SUCCESS_SHARE, Measured, parse_verify, verify_body
from bot.intel.tests import TestStats
from bot.queries import Query
from bot.queries.lucene import lucene_problems, quote
from bot.queries.tripleo import er_yaml
from bot.search.base import SearchBackend
from bot.search.subunit import strip_attributes

#: Failures in the window before a test is worth a query.
MIN_FAILURES = 3
#: Share of the test's failed builds the query must hit.
MIN_RECALL = 0.9
#: Failed builds of a test the recall is measured on (the newest).
SAMPLE_BUILDS = 200


@dataclass(frozen=True)
class TestSuggestion:
    """The verified query for a test, or why there is none."""

    __test__ = False

    test: TestStats
    query: Query | None = None
    measured: Measured | None = None  # of ``query``, or of the best rejected candidate
    reason: str = ""

    @property
    def verified(self) -> bool:
        return self.query is not None

    @property
    def yaml(self) -> str:
        """The ER-format file to commit (empty when unverified)."""
        return er_yaml(self.query) if self.query else ""


def unexplained(tests: Sequence[TestStats], queries: Sequence[Query]) -> list[TestStats]:
    """The tests that failed at least :data:`MIN_FAILURES` times and that no query's
    ``test_ids`` names."""
    known = {strip_attributes(test_id) for query in queries for test_id in query.test_ids}
    often = [test for test in tests if test.failures >= MIN_FAILURES]
    return [test for test in often if strip_attributes(test.name) not in known]


def candidates(test_id: str) -> list[str]:
    """Queries for the line the test's failure prints, the narrowest first."""
    named = f"message:{quote(strip_attributes(test_id))} AND message:FAILED"
    found = [f'{named} AND tags:"console"', named]
    return [lucene for lucene in found if not lucene_problems(lucene)]


def as_query(test: TestStats, lucene: str) -> Query:
    """The suggested query: an untracked bug named after the test, with its ``test_ids``."""
    qid = "test-" + hashlib.sha1(test.name.encode()).hexdigest()[:6]
    name = strip_attributes(test.name)
    title = f"{name.rsplit('.', 1)[-1]} fails"[:100]
    return Query(id=qid, lucene=lucene, bug=untracked(qid), test_ids=(name,), title=title)


def rejection(measured: Measured) -> str | None:
    """Why a measured candidate may not be suggested, or None when it may."""
    if measured.recall < MIN_RECALL:
        return f"hits {measured.cluster_hits} of the {measured.cluster_size} builds it failed in"
    if measured.success_share > MAX_SUCCESS_SHARE:
        return f"{measured.success_share:.0%} of the builds it hits succeeded (limit 10 %)"
    return None


async def suggest_tests(
    backend: SearchBackend,
    tests: Sequence[TestStats],
    queries: Sequence[Query],
    *,
    days: int,
    queue: str | None = None,
    skip: Collection[str] = (),
) -> list[TestSuggestion]:
    """A verified suggestion (or why none) for each test :func:`unexplained` keeps (but the
    names in ``skip``); every candidate measured in one msearch on the log index. ``tests``
    must carry their failed builds (``failing_tests(..., uuids=SAMPLE_BUILDS)``)."""
    chosen = [t for t in unexplained(tests, queries) if t.name not in skip]
    tries = [(test, lucene) for test in chosen for lucene in candidates(test.name)]
    bodies = [
        verify_body(as_query(t, lucene).effective, t.failed_builds, days=days, queue=queue)
        for t, lucene in tries
    ]
    responses = await msearch_all(backend, bodies) if bodies else []
    measured: dict[str, list[tuple[str, Measured]]] = {t.name: [] for t in chosen}
    for (test, lucene), response in zip(tries, responses, strict=True):
        found = parse_verify(response, len(test.failed_builds))
        if found is not None:
            measured[test.name].append((lucene, found))
    return [_choose(test, measured[test.name]) for test in chosen]


def _choose(test: TestStats, tried: Sequence[tuple[str, Measured]]) -> TestSuggestion:
    for lucene, measured in tried:
        if rejection(measured) is None:
            return TestSuggestion(test, as_query(test, lucene), measured)
    if not tried:
        return TestSuggestion(test, reason="the search server measured no candidate")
    best = max(tried, key=lambda item: item[1].recall)[1]
    return TestSuggestion(test, measured=best, reason=rejection(best) or "")
