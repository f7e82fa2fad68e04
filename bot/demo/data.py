"""Demo data: realistic builds, their log documents and the Gerrit events that report them.

Feeds the embedded search server for ``make run``, the tests and the benchmarks. Failing jobs
carry lines that a chosen query matches (synthesized from the query itself, see
:mod:`bot.search.synth`) or an error no query knows; passing jobs are mostly clean. Each job ran
for a while (its duration in Zuul's report). Everything is derived from a seed, so a dataset is
reproducible. The documents come in either layout (:mod:`bot.search.schema`): logsender's, what
sites write today, unless told otherwise.

What the demo adds (:func:`demo_dataset`, :mod:`bot.demo.choices`): ``passing_hits``, a share of
the passing jobs carrying a known bug's line too, as real logs do (failure rates below 100 %);
``stopped_days``, a query that stops hitting that many days ago (a bug fixed lately);
``new_error_days``, a new error failing builds from that many days ago (a bug nobody filed yet).
A job failing on a query with ``test_ids`` has one of those tests fail (its console says so, and
its test results do: :mod:`bot.demo.results`); such a query lands on jobs that run tempest only.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.demo.choices import Choices, stopped_query
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

#: What ``run --demo`` shows besides the defaults: passing jobs that carry a known bug's line
#: (failure rates below 100 %), and a query that stopped hitting (the weekly digest names it).
DEMO_PASSING_HITS = 0.08
DEMO_STOPPED_DAYS = 8.0
DEMO_NEW_ERROR_DAYS = 5.0

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
    seconds: int = 2527  # how long it ran: Zuul's "FAILURE in 42m 07s"

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
    passing_hits: float = 0.0,
    stopped_days: float | None = None,
    new_error_days: float | None = None,
) -> DemoData:
    """A reproducible dataset over the last ``days`` days, using ``queries`` as the known bugs,
    its log documents in ``schema``'s layout (``passing_hits``, ``stopped_days``,
    ``new_error_days``: see the module docstring)."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    usable = [q for q in queries if matching_fields(q.lucene).get("message")]
    choices = Choices(usable, random.Random(f"{seed}/extra"), passing_hits)
    stopped = stopped_query(queries)
    if stopped_days is not None and stopped is not None:
        choices = replace(choices, stopped=stopped, stopped_since=now - timedelta(stopped_days))
    if new_error_days is not None:
        choices = replace(choices, new_error_since=now - timedelta(new_error_days))
    buildsets = []
    for n in range(days * buildsets_per_day):
        started = now - timedelta(minutes=rng.uniform(30, days * 24 * 60))
        buildsets.append(replace(_buildset(rng, n, started, choices), schema=schema))
    return DemoData(tuple(sorted(buildsets, key=lambda b: b.started)))


def demo_dataset(
    queries: Sequence[Query],
    *,
    now: datetime | None = None,
    seed: int = 1,
    schema: Schema = DEFAULT_SCHEMA,
) -> DemoData:
    """The dataset ``run --demo`` seeds: :func:`generate` with the demo's extras."""
    return generate(
        queries,
        now=now,
        seed=seed,
        schema=schema,
        passing_hits=DEMO_PASSING_HITS,
        stopped_days=DEMO_STOPPED_DAYS,
        new_error_days=DEMO_NEW_ERROR_DAYS,
    )


def _buildset(rng: random.Random, n: int, started: datetime, choices: Choices) -> DemoBuildset:
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
    queries = choices.queries
    for name in JOBS:
        uuid = hashlib.sha1(f"{change}/{name}/{n}".encode()).hexdigest()[:32]
        roll = rng.random()
        if roll < 0.25 and queries:
            query = choices.for_job(choices.query(rng.choice(queries), started), name, uuid)
            jobs.append(_job_with_bug(query, name, uuid))
        elif roll < 0.32:
            message = choices.unknown_error(rng.choice(UNKNOWN_ERRORS), started)
            jobs.append(DemoJob(name, uuid, "FAILURE", extra={"message": message}))
        else:
            voting, bug = rng.random() > 0.1, choices.passing_bug(started)
            fit = choices.for_job(bug, name, uuid) if bug else None
            jobs.append(_passing(name, uuid, voting, fit))
    jobs = [replace(job, seconds=_duration(job.uuid)) for job in jobs]
    return replace(buildset, project=_project(jobs, buildset.project), jobs=tuple(jobs))


def _duration(uuid: str) -> int:
    """Seconds a job ran: 15 to 95 minutes, the same for the same job."""
    return 900 + int(uuid[:8], 16) % 4800


def _project(jobs: list[DemoJob], default: str) -> str:
    """The project a query asks for, else the one a project-named job belongs to (failed jobs
    only: they are what the buildset is announced for)."""
    failed = [job for job in jobs if job.status == "FAILURE"]
    for job in failed:
        if "project" in job.extra:
            return str(job.extra["project"])
    for job in failed:
        for project in PROJECTS:
            if job.bug and job.name.startswith(project.split("/")[1] + "-"):
                return project
    return default


def _job_with_bug(query: Query, name: str, uuid: str, status: str = "FAILURE") -> DemoJob:
    extra: dict[str, Any] = dict(matching_fields(query.lucene))
    # Fields that describe the whole build (a job name, a project) come from the query.
    name = str(extra.pop("build_name", name))
    # A bug that also hits non-voting jobs is shown on one, as such queries exist for them.
    voting = not query.allow_nonvoting
    failed = failing_test(query, uuid) if status == "FAILURE" else ()
    return DemoJob(name, uuid, status, voting, query.id, extra, failed_tests=failed)


def failing_test(query: Query, uuid: str) -> tuple[str, ...]:
    """The one of the query's ``test_ids`` that fails in the job (chosen by its uuid), if any."""
    if not query.test_ids:
        return ()
    return (query.test_ids[int(uuid[8:12], 16) % len(query.test_ids)],)


def _passing(name: str, uuid: str, voting: bool, bug: Query | None) -> DemoJob:
    """A passing job: clean, or with a known bug's line that did not fail it."""
    if bug is None:
        return DemoJob(name, uuid, "SUCCESS", voting=voting)
    return replace(_job_with_bug(bug, name, uuid, "SUCCESS"), voting=True)


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
        took = elapsed(job.seconds)
        lines.append(f"- {job.name} {buildset.log_url(job)} : {job.status} in {took}{suffix}")
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


def recheck_event(
    buildset: DemoBuildset, author: str = "alice", word: str = "recheck"
) -> dict[str, Any]:
    """A developer's ``recheck`` on the buildset's patchset, an hour after its report."""
    return {
        "type": "comment-added",
        "author": {"name": author.title(), "username": author},
        "comment": f"Patch Set {buildset.patchset}:\n\n{word}",
        "change": {
            "project": buildset.project,
            "branch": buildset.branch,
            "number": int(buildset.change),
            "url": _change_url(buildset),
        },
        "patchSet": {"number": int(buildset.patchset), "ref": _ref(buildset)},
        "eventCreatedOn": int(buildset.started.timestamp()) + 2 * 3600,
    }


def elapsed(seconds: int) -> str:
    """Zuul's way: ``42m 07s``, ``1h 02m 03s``."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _change_url(buildset: DemoBuildset) -> str:
    return f"{REVIEW_URL}/c/{buildset.project}/+/{buildset.change}"


def _ref(buildset: DemoBuildset) -> str:
    return f"refs/changes/{buildset.change[-2:]}/{buildset.change}/{buildset.patchset}"
