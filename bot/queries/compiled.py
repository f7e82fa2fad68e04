"""A repo's queries compiled for the search: each query's ``query_string`` filter built once per
load, and the per-job sub-aggregations that ask which of them hit (see
:mod:`bot.watch.classify`). Pure.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.queries.model import Query
from bot.search.stats import query_string
from bot.search.subunit import failed_tests_filter

log = logging.getLogger(__name__)

#: Keeps only the filters that hit: "params.n > 0" is valid Painless and osmem's dialect.
HITS_ONLY = {
    "hit": {"bucket_selector": {"buckets_path": {"n": "_count"}, "script": "params.n > 0"}}
}
#: How a test runner marks a failed test on its line (stestr/subunit-trace: ``... FAILED``,
#: testr/unittest: ``FAIL: <id>``).
FAILURE_MARKERS = "(message:FAILED OR message:FAIL)"


def failed_tests_lucene(test_ids: Sequence[str]) -> str:
    """A line that names one of ``test_ids`` and says it failed."""
    named = " OR ".join(f'message:"{_escape_phrase(test_id)}"' for test_id in test_ids)
    return f"({named}) AND {FAILURE_MARKERS}"


def _escape_phrase(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True)
class QuerySet:
    """Queries ready to classify with: the per-query filters are built once per load."""

    queries: tuple[Query, ...] = ()
    by_id: Mapping[str, Query] = field(default_factory=dict, repr=False)
    query_filters: Mapping[str, Any] = field(default_factory=dict, repr=False)
    test_filters: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: The same tests asked of the test-result index: one of them has ``test_status: fail``.
    result_filters: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, queries: Sequence[Query] | QuerySet) -> QuerySet:
        if isinstance(queries, QuerySet):
            return queries
        by_id: dict[str, Query] = {}
        for query in queries:
            if query.id in by_id:
                log.warning("query %s is defined twice; using the last one", query.id)
            by_id[query.id] = query
        return cls(
            queries=tuple(by_id.values()),
            by_id=by_id,
            query_filters={q.id: query_string(q.effective) for q in by_id.values()},
            test_filters={
                q.id: query_string(failed_tests_lucene(q.test_ids))
                for q in by_id.values()
                if q.test_ids
            },
            result_filters={
                q.id: failed_tests_filter(q.test_ids) for q in by_id.values() if q.test_ids
            },
        )

    def __len__(self) -> int:
        return len(self.queries)

    def only(self, ids: Collection[str]) -> QuerySet:
        """These queries alone (their filters as built already)."""
        keep = {qid: q for qid, q in self.by_id.items() if qid in ids}
        return QuerySet(
            queries=tuple(keep.values()),
            by_id=keep,
            query_filters={k: v for k, v in self.query_filters.items() if k in keep},
            test_filters={k: v for k, v in self.test_filters.items() if k in keep},
            result_filters={k: v for k, v in self.result_filters.items() if k in keep},
        )

    def aggs(self, *, prune: bool, test_results: bool = False) -> dict[str, Any]:
        """The per-job sub-aggregations: ``q`` (queries that hit), ``t`` (named tests failed:
        a console line saying so, or with ``test_results`` a failed result in the test-result
        index)."""
        tests = self.result_filters if test_results else self.test_filters
        found: dict[str, Any] = {}
        for name, filters in (("q", self.query_filters), ("t", tests)):
            if filters:
                found[name] = {
                    "filters": {"filters": filters},
                    **({"aggs": HITS_ONLY} if prune else {}),
                }
        return found
