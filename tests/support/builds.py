"""Failed builds as the event sources report them, and the log lines their jobs leave in search.

:func:`failed_build` is the one builder of a :class:`~bot.events.model.FailedBuild`: openstack/nova
on opendev's gate queue, change :data:`CHANGE` patchset :data:`PATCHSET`, unless the test says
otherwise; a job given by name is a failed voting job. :func:`recent_build` is the same build
reported at :data:`NOW` (readiness deadlines and search windows count from that moment).

Job ``n`` of :func:`make_job` has the uuid :func:`uuid_of` ``(n)`` and the log URL
:func:`job_url` ``(name, n)``, and :func:`log_docs` writes the console lines of that same job, so
a test pairs a build with its logs by number. :func:`log_docs` writes ER-era values (strings, a
short uuid); :func:`in_layout` (the ``write_logs`` fixture) lays them out as either schema has
them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.events.model import FailedBuild, Job
from bot.search.schema import Schema, shape

NOW = datetime.now(UTC)
CHANGE, PATCHSET = "1001", "2"
LOG_HOST = "https://logs.example.org"
#: The last line of a Zuul console: the job's logs are all in.
END = (
    "POST-RUN END RESULT_NORMAL: [trusted : opendev.org/opendev/base-jobs/playbooks/base/"
    "post.yaml@master]"
)


def failed_build(*jobs: Job | str, **fields: Any) -> FailedBuild:
    """A "Build failed" report of ``jobs``; ``fields`` are FailedBuild's other fields."""
    values: dict[str, Any] = {
        "server": "opendev",
        "project": "openstack/nova",
        "change": CHANGE,
        "patchset": PATCHSET,
        "queue": "gate",
    }
    made = tuple(Job(job, "FAILURE") if isinstance(job, str) else job for job in jobs)
    return FailedBuild(jobs=made, **(values | fields))


def recent_build(*jobs: Job | str, **fields: Any) -> FailedBuild:
    """:func:`failed_build`, reported at :data:`NOW` unless ``created`` says otherwise."""
    return failed_build(*jobs, **({"created": NOW.timestamp()} | fields))


#: Writes log documents (as :func:`log_docs` makes them) to a test's search server.
WriteLogs = Callable[[Iterable[Mapping[str, Any]]], Awaitable[int]]


def uuid_of(n: int) -> str:
    return f"{n:032x}"


def job_url(name: str, n: int) -> str:
    """The log directory of job ``n``: what its documents' ``log_url`` starts with."""
    return f"{LOG_HOST}/x/{name}/{uuid_of(n)[:7]}/"


def make_job(name: str, n: int, *, voting: bool = True, by: str = "uuid") -> Job:
    """A failed job as a report names it: by build page (``uuid``: the full uuid), by log URL
    with the short uuid in it (``short``), by a log URL alone (``url``: nothing parsed from it)
    or (``name``) by name only."""
    uuid = uuid_of(n)
    return Job(
        name=name,
        result="FAILURE",
        url=None if by == "name" else job_url(name, n),
        voting=voting,
        uuid=uuid if by == "uuid" else None,
        short_uuid=uuid[:7] if by == "short" else None,
    )


def log_docs(
    name: str,
    n: int,
    lines: Iterable[str] = ("all fine",),
    *,
    change: str = CHANGE,
    patchset: str = PATCHSET,
    voting: bool = True,
    end: str | None = END,
    filename: str = "job-output.txt",
    when: datetime | None = None,
    fields: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One job's log lines, logstash-style (ER-era values: lay them out with :func:`in_layout`);
    the console end marker last unless ``end=None``."""
    uuid = uuid_of(n)
    start = when or NOW - timedelta(minutes=30)
    messages = [*lines, *([end] if end else [])]
    return [
        {
            "@timestamp": (start + timedelta(seconds=i)).isoformat(),
            "message": message,
            "filename": filename,
            "tags": ["console", filename],
            "build_name": name,
            "build_status": "FAILURE",
            "build_change": change,
            "build_patchset": patchset,
            "build_uuid": uuid,
            "build_short_uuid": uuid[:7],
            "project": "openstack/nova",
            "voting": "1" if voting else "0",
            "log_url": job_url(name, n) + filename,
            **(fields or {}),
        }
        for i, message in enumerate(messages)
    ]


def file_docs(name: str, n: int, files: Iterable[str], **kw: Any) -> list[dict[str, Any]]:
    """One line in each of ``files`` of job ``n`` (and no console end marker)."""
    return [doc for f in files for doc in log_docs(name, n, ("x",), end=None, filename=f, **kw)]


def in_layout(docs: Iterable[Mapping[str, Any]], schema: Schema) -> list[dict[str, Any]]:
    """Documents as ``schema`` writes them (see :func:`bot.search.schema.shape`)."""
    return [shape(doc, schema) for doc in docs]
