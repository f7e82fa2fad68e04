"""Test results as ci-log-processing indexes them (one document per test and build), and real
subunit v2 streams written with python-subunit's own writer.

:class:`Run` is one build's results; :func:`result_docs` its documents, in logsender's layout
(integer ``voting`` and ``build_change``, ``log_url`` of the subunit file), the build numbered
as :mod:`tests.support.builds` numbers jobs (uuid :func:`uuid_of`), its log directory naming
its change, patchset, job and number.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import subunit

from tests.support.builds import LOG_HOST, NOW, uuid_of

SUBUNIT_FILE = "testrepository.subunit"


@dataclass(frozen=True)
class Run:
    """One build of a job and how each test it ran ended: test -> (status, seconds)."""

    n: int
    job: str
    change: int
    patchset: int
    age: timedelta  # how long before NOW it started
    results: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    project: str = "openstack/nova"
    queue: str = "gate"
    voting: int = 1

    @property
    def started(self) -> datetime:
        return NOW - self.age

    @property
    def uuid(self) -> str:
        return uuid_of(self.n)

    @property
    def log_dir(self) -> str:
        return f"{LOG_HOST}/{self.change}/{self.patchset}/{self.job}/{self.n:07x}/"


def result_docs(run: Run) -> list[dict[str, Any]]:
    """The run's test-result documents, the tests starting a second apart."""
    failed = any(status == "fail" for status, _ in run.results.values())
    base = {
        "build_name": run.job,
        "build_status": "FAILURE" if failed else "SUCCESS",
        "build_queue": run.queue,
        "build_branch": "master",
        "build_change": run.change,
        "build_patchset": str(run.patchset),
        "build_ref": f"refs/changes/{run.change % 100:02d}/{run.change}/{run.patchset}",
        "build_uuid": run.uuid,
        "project": run.project,
        "voting": run.voting,
        "tenant": "openstack",
        "log_url": run.log_dir + SUBUNIT_FILE,
        "filename": SUBUNIT_FILE,
        "tags": [SUBUNIT_FILE],
    }
    return [
        {
            **base,
            "@timestamp": (run.started + timedelta(seconds=i)).isoformat(),
            "test_name": name,
            "test_status": status,
            "test_duration": seconds,
        }
        for i, (name, (status, seconds)) in enumerate(run.results.items())
    ]


def all_docs(runs: Iterable[Run]) -> list[dict[str, Any]]:
    return [doc for run in runs for doc in result_docs(run)]


def subunit_stream(
    results: Iterable[tuple[str, str, float]], start: datetime | None = None
) -> bytes:
    """A subunit v2 stream of (test id, status, seconds), one test after another, written by
    python-subunit's ``StreamResultToBytes`` as stestr writes ``testrepository.subunit``:
    each test announced ``exists``, then ``inprogress``, then its status, with time stamps."""
    out = io.BytesIO()
    writer = subunit.StreamResultToBytes(out)
    when = start or datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    for test_id, status, seconds in results:
        writer.status(test_id=test_id, test_status="exists")
        writer.status(test_id=test_id, test_status="inprogress", timestamp=when)
        when += timedelta(seconds=seconds)
        writer.status(test_id=test_id, test_status=status, timestamp=when)
        when += timedelta(seconds=1)
    return out.getvalue()
