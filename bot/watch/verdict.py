"""The verdict model: what one classification request said about each failed job of a build."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from bot.events.model import FailedBuild, Job
from bot.search.lines import LogLine

JobStatus = Literal["classified", "unrecognized", "not-ready"]


@dataclass(frozen=True)
class JobVerdict:
    """What one failed job's logs say."""

    job: Job
    bugs: tuple[str, ...] = ()  # ids of the matching queries to announce, sorted
    suppressed: tuple[str, ...] = ()  # matching suppress-notification queries: never announced
    ready: bool = False  # the job's logs were complete when classified
    build_uuid: str | None = None  # the build whose logs were read
    missing: tuple[str, ...] = ()  # what readiness still lacked ("console end marker", files)
    # The evidence: for each matching query (announced or suppressed), the first lines of the
    # job it matched, from the same response. Empty for a query with no line to show.
    lines: Mapping[str, tuple[LogLine, ...]] = field(default_factory=dict)

    @property
    def status(self) -> JobStatus:
        """``classified`` when a bug matched (even on partial logs: a hit is a hit);
        otherwise ``unrecognized`` if the logs were complete, else ``not-ready``."""
        if self.bugs:
            return "classified"
        return "unrecognized" if self.ready else "not-ready"


@dataclass(frozen=True)
class Verdict:
    """The classification of every failed job of one build."""

    build: FailedBuild
    jobs: tuple[JobVerdict, ...]
    waited: float = 0.0  # seconds spent waiting for logs before classifying

    @property
    def bugs(self) -> tuple[str, ...]:
        """Every announced bug of the build, sorted."""
        return tuple(sorted({bug for job in self.jobs for bug in job.bugs}))

    @property
    def ready(self) -> bool:
        return all(job.ready for job in self.jobs)

    @property
    def not_ready(self) -> tuple[JobVerdict, ...]:
        return tuple(job for job in self.jobs if job.status == "not-ready")
