"""Demo data: realistic builds, their log documents and the Gerrit events that report them.

Feeds the embedded search server for ``make run``, the tests and the benchmarks. Failing jobs
carry lines that a chosen query matches (synthesized from the query itself, see
:mod:`bot.search.synth`) or an error no query knows; passing jobs are mostly clean. Everything
is derived from a seed, so a dataset is reproducible. The documents come in either layout
(:mod:`bot.search.schema`): logsender's, what sites write today, unless told otherwise.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.queries import Query
from bot.search.schema import DEFAULT_SCHEMA, Schema, shape
from bot.search.synth import matching_fields

LOG_HOST = "https://logs.example.org"
REVIEW_URL = "https://review.example.org"
TENANT = "openstack"

PROJECTS = ("openstack/nova", "openstack/neutron", "openstack/cinder", "openstack/glance")
JOBS = ("tempest-full-py3", "grenade", "openstack-tox-py311", "nova-ceph-multistore")
QUEUES = ("gate", "check")
#: How long the jobs of a buildset just reported ran, and the gap between two such reports.
REPORTED_AFTER = timedelta(minutes=45)
REPORT_GAP = timedelta(minutes=2)

#: The last line Zuul writes to a job's console log: what readiness waits for.
END_MARKER = (
    "POST-RUN END RESULT_NORMAL: [trusted : opendev.org/opendev/base-jobs/playbooks/base/"
    "post-logs.yaml@master]"
)
UNKNOWN_ERRORS = (
    "ERROR: unexpected EOF while reading the answer from the metadata service",
    "Kernel panic - not syncing: Fatal exception in interrupt",
    "ERROR: rsync: connection unexpectedly closed (0 bytes received so far)",
)
ROUTINE_LINES = (
    "TASK [Gathering Facts]",
    "ok: [controller]",
    "Running tox environment",
    "INFO: collecting results",
    "PLAY RECAP",
)


@dataclass(frozen=True)
class DemoJob:
    """One job run: what its logs and its line in the Zuul comment say."""

    name: str
    uuid: str
    status: str  # SUCCESS or FAILURE
    voting: bool = True
    bug: str | None = None  # id of the query whose line the job's logs carry
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # fields the bug line needs
    failed_tests: tuple[str, ...] = ()  # test ids the job's console reports as failed

    @property
    def short_uuid(self) -> str:
        return self.uuid[:7]


@dataclass(frozen=True)
class DemoBuildset:
    """The jobs run for one patchset in one pipeline, and when."""

    project: str
    change: str
    patchset: str
    queue: str
    started: datetime
    jobs: tuple[DemoJob, ...]
    branch: str = "master"
    schema: Schema = DEFAULT_SCHEMA  # the layout of its log documents

    @property
    def failed(self) -> bool:
        return any(job.status == "FAILURE" for job in self.jobs)

    def log_url(self, job: DemoJob) -> str:
        return (
            f"{LOG_HOST}/{self.change[-2:]}/{self.change}/{self.patchset}/{self.queue}/"
            f"{job.name}/{job.short_uuid}/"
        )


@dataclass(frozen=True)
class DemoData:
    buildsets: tuple[DemoBuildset, ...]

    def documents(self) -> Iterator[dict[str, Any]]:
        for buildset in self.buildsets:
            for job in buildset.jobs:
                yield from job_documents(buildset, job)

    def events(self, server: str = "demo") -> list[dict[str, Any]]:
        """Gerrit ``comment-added`` events for the failed buildsets, oldest first."""
        return [gerrit_event(b) for b in self.failed()]

    def failed(self) -> list[DemoBuildset]:
        """The failed buildsets, oldest first."""
        return sorted((b for b in self.buildsets if b.failed), key=lambda b: b.started)

    def replayed(self, count: int) -> list[DemoBuildset]:
        """``count`` recent failures for the demo to replay, oldest first: the newest ones, but
        with each queue's known-bug and unrecognized failures and every project's known-bug
        failures among them, so that every channel of the example routing hears something."""
        newest = self.failed()[::-1]
        chosen: list[DemoBuildset] = []
        for wanted in _replay_mix():
            if not any(wanted(b) for b in chosen):
                chosen += [b for b in newest if wanted(b)][:1]
        chosen += [b for b in newest if b not in chosen][: max(count - len(chosen), 0)]
        return sorted(chosen[:count], key=lambda b: b.started)

    def just_reported(
        self, chosen: Sequence[DemoBuildset], now: datetime
    ) -> tuple[DemoData, list[DemoBuildset]]:
        """``chosen`` moved to the last hours before ``now``, in their order, as if Zuul had just
        reported them (their logs then lie where readiness looks for a report made now); and
        the data with them moved."""
        moved = {
            b.change: replace(b, started=now - REPORTED_AFTER - (len(chosen) - n) * REPORT_GAP)
            for n, b in enumerate(chosen)
        }
        buildsets = sorted(
            (moved.get(b.change, b) for b in self.buildsets), key=lambda b: b.started
        )
        return DemoData(tuple(buildsets)), [moved[b.change] for b in chosen]


def known(buildset: DemoBuildset) -> bool:
    """Whether a job of the buildset failed on a known bug (what a positive verdict needs)."""
    return any(job.bug for job in buildset.jobs if job.status == "FAILURE")


def _replay_mix() -> list[Callable[[DemoBuildset], bool]]:
    """What the replayed failures must show, most important first."""
    return [
        *(
            lambda b, queue=queue, kind=kind: b.queue == queue and known(b) == kind
            for queue in QUEUES
            for kind in (True, False)
        ),
        *(lambda b, project=project: b.project == project and known(b) for project in PROJECTS),
    ]


def generate(
    queries: Sequence[Query],
    *,
    now: datetime | None = None,
    days: int = 10,
    buildsets_per_day: int = 12,
    seed: int = 1,
    schema: Schema = DEFAULT_SCHEMA,
) -> DemoData:
    """A reproducible dataset over the last ``days`` days, using ``queries`` as the known bugs,
    its log documents in ``schema``'s layout."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    usable = [q for q in queries if matching_fields(q.lucene).get("message")]
    buildsets = []
    for n in range(days * buildsets_per_day):
        started = now - timedelta(minutes=rng.uniform(30, days * 24 * 60))
        buildsets.append(replace(_buildset(rng, n, started, usable), schema=schema))
    return DemoData(tuple(sorted(buildsets, key=lambda b: b.started)))


def _buildset(rng: random.Random, n: int, started: datetime, queries: list[Query]) -> DemoBuildset:
    change = str(900000 + n)
    buildset = DemoBuildset(
        project=rng.choice(PROJECTS),
        change=change,
        patchset=str(rng.randint(1, 9)),
        queue=rng.choice(QUEUES),
        started=started,
        jobs=(),
    )
    jobs = []
    for name in JOBS:
        uuid = hashlib.sha1(f"{change}/{name}/{n}".encode()).hexdigest()[:32]
        roll = rng.random()
        if roll < 0.25 and queries:
            jobs.append(_job_with_bug(rng.choice(queries), name, uuid))
        elif roll < 0.32:
            jobs.append(
                DemoJob(name, uuid, "FAILURE", extra={"message": rng.choice(UNKNOWN_ERRORS)})
            )
        else:
            jobs.append(DemoJob(name, uuid, "SUCCESS", voting=rng.random() > 0.1))
    return replace(buildset, project=_project(jobs, buildset.project), jobs=tuple(jobs))


def _project(jobs: list[DemoJob], default: str) -> str:
    """The project a query asks for, else the one a project-named job belongs to."""
    for job in jobs:
        if "project" in job.extra:
            return str(job.extra["project"])
    for job in jobs:
        for project in PROJECTS:
            if job.bug and job.name.startswith(project.split("/")[1] + "-"):
                return project
    return default


def _job_with_bug(query: Query, name: str, uuid: str) -> DemoJob:
    extra: dict[str, Any] = dict(matching_fields(query.lucene))
    # Fields that describe the whole build (a job name, a project) come from the query.
    name = str(extra.pop("build_name", name))
    # A bug that also hits non-voting jobs is shown on one, as such queries exist for them.
    return DemoJob(
        name, uuid, "FAILURE", voting=not query.allow_nonvoting, bug=query.id, extra=extra
    )


def job_documents(buildset: DemoBuildset, job: DemoJob) -> Iterator[dict[str, Any]]:
    """The log lines of one job, logstash-style, one document each (``buildset.schema``)."""
    base = {
        "build_name": job.name,
        "build_status": job.status,
        "build_queue": buildset.queue,
        "build_branch": buildset.branch,
        "build_change": buildset.change,
        "build_patchset": buildset.patchset,
        "build_ref": _ref(buildset),
        "build_uuid": job.uuid,
        "build_set": hashlib.sha1(_ref(buildset).encode()).hexdigest()[:32],
        "project": buildset.project,
        "voting": job.voting,
        "tenant": TENANT,
        "change_url": _change_url(buildset),
        "hosts_id": [hashlib.sha1(job.uuid.encode()).hexdigest()[:16]],
        "hosts_region": ["demo-region"],
        "zuul_executor": "ze01.example.org",
        "log_url": buildset.log_url(job),
        "node_provider": "demo-cloud",
        "filename": "job-output.txt",
        "tags": ["console", "console.html"],
        "loglevel": "INFO",
    }
    lines: list[dict[str, Any]] = [{"message": text} for text in ROUTINE_LINES]
    if job.extra:
        lines.insert(3, {"loglevel": "ERROR", **job.extra})
    lines[4:4] = [
        {"message": f"{test} ... FAILED", "loglevel": "ERROR"} for test in job.failed_tests
    ]
    lines.append({"message": END_MARKER})
    for second, line in enumerate(lines):
        when = buildset.started + timedelta(seconds=second)
        yield shape({**base, **line, "@timestamp": when.isoformat()}, buildset.schema)


def gerrit_event(buildset: DemoBuildset, author: str = "zuul") -> dict[str, Any]:
    """The ``comment-added`` event Zuul would cause, reporting this buildset."""
    lines = [
        f"Patch Set {buildset.patchset}: Verified-{'2' if buildset.queue == 'gate' else '1'}",
        "",
        f"Build failed ({buildset.queue} pipeline).  For information on how to proceed, see "
        "https://docs.opendev.org/opendev/infra-manual/latest/developers.html#automated-testing",
        "",
    ]
    for job in buildset.jobs:
        suffix = "" if job.voting else " (non-voting)"
        lines.append(f"- {job.name} {buildset.log_url(job)} : {job.status} in 42m 07s{suffix}")
    created = int(buildset.started.timestamp()) + 3600
    return {
        "type": "comment-added",
        "author": {"name": "Zuul", "username": author},
        "comment": "\n".join(lines),
        "change": {
            "project": buildset.project,
            "branch": buildset.branch,
            "number": int(buildset.change),
            "url": _change_url(buildset),
            "subject": "Demo change",
        },
        "patchSet": {"number": int(buildset.patchset), "ref": _ref(buildset)},
        "eventCreatedOn": created,
    }


def _change_url(buildset: DemoBuildset) -> str:
    return f"{REVIEW_URL}/c/{buildset.project}/+/{buildset.change}"


def _ref(buildset: DemoBuildset) -> str:
    return f"refs/changes/{buildset.change[-2:]}/{buildset.change}/{buildset.patchset}"
