"""The test-result documents: one per test and build, in ``subunit-YYYY.MM.DD`` indices.

ci-log-processing's logsender reads each build's ``testrepository.subunit`` (with subunit2sql's
reader) and indexes one document per test result into an index of its own, with the build's
usual fields (``build_name``, ``build_uuid``, ``build_change``, ``project``, integer ``voting``,
``log_url`` of the subunit file...) and ``test_name`` (the test id, its ``[id-…,smoke]``
attributes dropped by that reader), ``test_status`` (subunit's: ``success``, ``fail``, ``skip``,
``xfail``, ``uxsuccess``), ``test_duration`` (seconds) and ``@timestamp`` (the test's start).
``recheckbot ingest`` writes the same (:mod:`bot.ingest.subunit`). Pure, but for
:func:`index_present`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.errors import ReadableError
from bot.search.base import SearchBackend, SearchError, SearchUnavailable
from bot.search.schema import FIELD_TYPES

#: The statuses a test result may have (subunit v2's final ones).
STATUSES = ("success", "fail", "skip", "xfail", "uxsuccess")
#: The results that count as a run of a test: it passed or it failed.
RAN = ("success", "fail")
#: The file a Zuul job's test results are in (``fetch-subunit-output``), plain or gzipped.
SUBUNIT_FILES = ("testrepository.subunit", "testrepository.subunit.gz")
#: What marks a document as a test result rather than a log line.
TEST_FIELD = "test_status"

#: The test-result index's fields: logsender's build fields, the test's own, no ``message``.
FIELD_TYPES_SUBUNIT: dict[str, str] = {
    **{k: v for k, v in FIELD_TYPES["logsender"].items() if k != "message"},
    "test_name": "keyword",
    "test_status": "keyword",
    "test_duration": "float",
}


class PatternError(ReadableError):
    """An index pattern documents cannot be written under."""


def subunit_mapping() -> dict[str, Any]:
    """Explicit mappings for a ``subunit-*`` index."""
    return {"properties": {name: {"type": kind} for name, kind in FIELD_TYPES_SUBUNIT.items()}}


def is_test_result(document: Mapping[str, Any]) -> bool:
    """True for a test-result document (it goes to the test-result index)."""
    return TEST_FIELD in document


def write_prefix(pattern: str) -> str:
    """The daily-index prefix documents of ``pattern`` are written under (``subunit-*`` →
    ``subunit-``): a pattern with one ``*``, at its end, and no list."""
    if not pattern.endswith("*") or pattern.count("*") != 1 or "," in pattern or pattern == "*":
        raise PatternError(
            f"search.subunit_index {pattern!r}: writing needs one pattern ending in '*', "
            "like 'subunit-*'"
        )
    return pattern[:-1]


def test_named(test_ids: Sequence[str]) -> dict[str, Any]:
    """Results of any of ``test_ids``, whether the index keeps a test's ``[attributes]``
    (a writer without subunit2sql's clean-up) or not (logsender's), and whether the ids
    have them."""
    clean = list(dict.fromkeys(strip_attributes(test_id) for test_id in test_ids))
    names = list(dict.fromkeys([*test_ids, *clean]))
    clauses: list[dict[str, Any]] = [{"terms": {"test_name": names}}]
    clauses += [{"prefix": {"test_name": f"{test_id}["}} for test_id in clean]
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def failed_tests_filter(test_ids: Sequence[str]) -> dict[str, Any]:
    """The failed results of any of ``test_ids`` (ER's subunit2sql check for ``test_ids``)."""
    return {"bool": {"filter": [{"term": {TEST_FIELD: "fail"}}, test_named(test_ids)]}}


def not_test_results() -> dict[str, Any]:
    """Log lines only, where a search spans the test-result index as well."""
    return {"bool": {"must_not": [{"exists": {"field": TEST_FIELD}}]}}


def strip_attributes(test_id: str) -> str:
    """A test id without its ``[id-…,smoke]`` attributes, as subunit2sql stores it."""
    start = test_id.find("[")
    end = test_id.find("]", start + 1)
    if start > 0 and end > start:
        return test_id[:start] + test_id[end + 1 :]
    return test_id


async def index_present(backend: SearchBackend, pattern: str) -> bool:
    """Whether an index of ``pattern`` exists (empty or not): one small request.

    A pattern that matches no index answers with no shard at all (wildcards are lenient);
    the server being down raises, anything else it refuses counts as no index.
    """
    try:
        response = await backend.search({"size": 0, "track_total_hits": False}, index=pattern)
    except SearchUnavailable:
        raise
    except SearchError:
        return False
    return int(response.get("_shards", {}).get("total", 0)) > 0
