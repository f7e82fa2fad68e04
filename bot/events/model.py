"""What the event sources produce: a failed build and its jobs (frozen value objects)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Job results that mean "this job failed" (Zuul's vocabulary).
FAILED_RESULTS = frozenset(
    {"FAILURE", "POST_FAILURE", "TIMED_OUT", "RETRY_LIMIT", "NODE_FAILURE", "ERROR", "DISK_FULL"}
)


@dataclass(frozen=True)
class Job:
    """One job of a build as reported in the CI comment."""

    name: str
    result: str
    url: str | None = None
    voting: bool = True
    duration: float | None = None  # seconds
    uuid: str | None = None  # full build uuid, when the URL is a Zuul build page
    short_uuid: str | None = None  # 7 hex, when the URL is a log URL ending in it
    detail: str | None = None  # Zuul's error text after the result, e.g. why a NODE_FAILURE

    @property
    def failed(self) -> bool:
        return self.result in FAILED_RESULTS


@dataclass(frozen=True)
class FailedBuild:
    """A "Build failed" report on one patchset, from one Gerrit server."""

    server: str
    project: str
    change: str
    patchset: str
    queue: str | None  # Zuul pipeline: gate, check, ...
    jobs: tuple[Job, ...]
    branch: str | None = None
    change_url: str | None = None
    author: str | None = None  # the CI account that reported
    buildset_url: str | None = None
    created: float = 0.0  # eventCreatedOn, epoch seconds
    comment: str = field(default="", repr=False)

    @property
    def key(self) -> str:
        """Stable identity of this report: ``server/change,patchset/queue@created``.

        The report's time is part of it: after a ``recheck`` the same patchset fails again in
        the same queue, and that is a new failure to judge and announce. The same report seen
        twice (a stream and the events-log catch-up) has the same time, so it stays one.
        """
        report = f"{self.server}/{self.change},{self.patchset}/{self.queue or '-'}"
        return f"{report}@{int(self.created)}" if self.created > 0 else report

    @property
    def failed_jobs(self) -> tuple[Job, ...]:
        return tuple(job for job in self.jobs if job.failed)
