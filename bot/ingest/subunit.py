"""``testrepository.subunit`` → test-result documents, as ci-log-processing's logsender writes
them (:mod:`bot.search.subunit`). Pure.

The stream is read with python-subunit (v2 packets; bytes that are not subunit are skipped, a
gzipped stream is inflated first) into one result per test, the way subunit2sql reads it for
logsender: a test's last status wins, ``exists``/``inprogress`` events are no results, the
``process-returncode`` pseudo-test is dropped and the ``[id-…,smoke]`` attributes are cut from
the id. The duration is the span between the test's first and last event.
"""

from __future__ import annotations

import io
import logging
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import subunit
from testtools import StreamToDict

from bot.ingest.logs import BuildInfo, file_name
from bot.search.schema import shape
from bot.search.subunit import STATUSES, strip_attributes

log = logging.getLogger(__name__)

#: Largest stream read once inflated: a gzip bomb costs no more than this.
MAX_STREAM_BYTES = 256 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
#: Not tests: the runner's exit status, and what the parser reports a corrupt packet as.
_PSEUDO_TESTS = frozenset({"process-returncode", "subunit.parser"})


@dataclass(frozen=True)
class TestResult:
    """One test's outcome in one build."""

    __test__ = False  # not a pytest class, whatever its name

    name: str  # the test id without its attributes
    status: str  # success, fail, skip, xfail or uxsuccess
    start: datetime | None  # None when the stream has no time stamps
    duration: float  # seconds


def inflate(data: bytes, limit: int = MAX_STREAM_BYTES) -> bytes:
    """``data`` gunzipped when it is gzip (cut at ``limit`` bytes), else as it is."""
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return zlib.decompressobj(wbits=31).decompress(data, limit)
    except zlib.error as exc:
        log.warning("a gzipped subunit stream is corrupt (%s); reading none of it", exc)
        return b""


def parse_subunit(data: bytes) -> list[TestResult]:
    """The test results of a subunit v2 stream (plain or gzipped), in the order they ended."""
    results: dict[str, TestResult] = {}

    def on_test(test: Mapping[str, Any]) -> None:
        found = _result(test)
        if found is not None:
            results.pop(found.name, None)  # the last status wins, and sorts last
            results[found.name] = found

    sink = StreamToDict(on_test)
    stream = subunit.ByteStreamToStreamResult(io.BytesIO(inflate(data)), non_subunit_name="stdout")
    sink.startTestRun()
    stream.run(sink)
    sink.stopTestRun()
    return list(results.values())


def _result(test: Mapping[str, Any]) -> TestResult | None:
    status, test_id = test.get("status"), str(test.get("id") or "")
    if test_id == "subunit.parser":
        log.warning("the subunit stream has a corrupt packet; the results after it may be lost")
    if status not in STATUSES or not test_id or test_id in _PSEUDO_TESTS:
        return None
    start, end = [*(test.get("timestamps") or ()), None, None][:2]
    duration = (end - start).total_seconds() if start is not None and end is not None else 0.0
    return TestResult(strip_attributes(test_id), str(status), start, max(duration, 0.0))


def result_documents(
    results: list[TestResult], path: str, build: BuildInfo
) -> Iterator[dict[str, Any]]:
    """One document per result: the build's fields, the subunit file's ``filename``, ``tags``
    and ``log_url``, and the test's name, status, duration and start (the build's time when
    the stream has none)."""
    file = {"filename": file_name(path), "tags": [], "log_url": build.log_root}
    base = shape({**build.fields, **file}, "logsender") | {"log_url": build.log_root + path}
    for result in results:
        yield {
            **base,
            "@timestamp": (result.start or build.when).isoformat(),
            "test_name": result.name,
            "test_status": result.status,
            "test_duration": round(result.duration, 6),
        }
