"""What is announced about a build: its failed jobs and their known bugs.

Built from a classification by :func:`outcome_of`, described by the bug trackers by
:func:`describe_bugs` (titles, statuses, the projects that route it), journaled as JSON before
anyone is told, and formatted by :mod:`bot.watch.messages`. The lines each bug matched (the
evidence) are journaled with it in a table of their own (:mod:`bot.state.evidence`), not in the
JSON: an outcome read back from the journal has none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.bugs import Bug, ref_from_url
from bot.queries import Query
from bot.state.evidence import JobsEvidence, Matched
from bot.watch.verdict import Verdict

#: Looks a bug up in its tracker; None when it cannot tell (unknown, unreachable, not ours).
LookUp = Callable[[Bug], Awaitable[Bug | None]]


@dataclass(frozen=True)
class JobResult:
    """One failed job and the known bugs that explain it (none: unrecognized)."""

    name: str
    bugs: tuple[Bug, ...] = ()
    url: str | None = None
    evidence: tuple[Matched, ...] = ()  # per bug, the lines its query matched in the job


@dataclass(frozen=True)
class Outcome:
    """What is announced about one build."""

    jobs: tuple[JobResult, ...]  # failed voting jobs that were judged, with their bugs
    not_ready: tuple[str, ...] = ()  # jobs whose logs never became searchable
    waited: float = 0.0  # seconds spent waiting for logs
    teams: tuple[str, ...] = ()  # owners of the found bugs' queries
    bug_projects: tuple[str, ...] = ()  # tracker projects of the found bugs

    @property
    def found(self) -> bool:
        return any(job.bugs for job in self.jobs)

    @property
    def evidence(self) -> JobsEvidence:
        """Per job with a known bug, the lines each bug's query matched in it."""
        return {job.name: job.evidence for job in self.jobs if job.evidence}

    def to_json(self) -> dict[str, Any]:
        jobs = [
            {"name": job.name, "bugs": [_bug_json(bug) for bug in job.bugs], "url": job.url}
            for job in self.jobs
        ]
        return {
            "jobs": jobs,
            "not_ready": list(self.not_ready),
            "waited": self.waited,
            "teams": list(self.teams),
            "bug_projects": list(self.bug_projects),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outcome:
        jobs = tuple(
            JobResult(job["name"], tuple(map(_bug_from_json, job["bugs"])), job.get("url"))
            for job in data["jobs"]
        )
        return cls(
            jobs=jobs,
            not_ready=tuple(data.get("not_ready", ())),
            waited=float(data.get("waited", 0.0)),
            teams=tuple(data.get("teams", ())),
            bug_projects=tuple(data.get("bug_projects", ())),
        )


def _bug_json(bug: Bug) -> dict[str, Any]:
    """What an announcement shows of a bug (the journal keeps only that)."""
    fields = ("kind", "id", "url", "project", "title", "status")
    return {name: getattr(bug, name) for name in fields}


def _bug_from_json(data: Mapping[str, Any]) -> Bug:
    # Journals written before the kind was kept: the URL tells it, else launchpad (ER's).
    known = ref_from_url(str(data.get("url", "")))
    kind = data.get("kind") or (known.kind if known else "launchpad")
    return Bug(
        kind=kind,
        id=str(data["id"]),
        url=str(data.get("url", "")),
        project=data.get("project"),
        title=data.get("title"),
        status=data.get("status"),
    )


def outcome_of(verdict: Verdict, queries: Mapping[str, Query]) -> Outcome:
    """What to announce from a classification: bugs with their links, late jobs apart.

    As ER did, a failed non-voting job is only mentioned when a query explains it.
    """
    jobs: list[JobResult] = []
    late: list[str] = []
    found: list[Query] = []
    for job in verdict.jobs:
        # A bug found in partial logs is still worth announcing; only silence is "late".
        if job.status == "not-ready":
            late.append(job.job.name)
            continue
        bugs = [queries[bug] for bug in job.bugs if bug in queries]
        if not bugs and not job.job.voting:
            continue
        found += bugs
        shown = tuple(replace(q.bug, title=q.title) for q in bugs)
        lines = tuple(Matched(q.id, q.bug.id, job.lines.get(q.id, ())) for q in bugs)
        jobs.append(JobResult(job.job.name, shown, job.job.url, lines))
    return Outcome(
        jobs=tuple(jobs),
        not_ready=tuple(late),
        waited=verdict.waited,
        teams=tuple(sorted({q.owner for q in found if q.owner})),
        bug_projects=tuple(sorted({q.bug.project for q in found if q.bug.project})),
    )


async def describe_bugs(outcome: Outcome, look_up: LookUp) -> Outcome:
    """``outcome`` with tracker titles and statuses on its bugs and their tracker projects
    added to ``bug_projects`` (routing by tracker project, as ER routed by Launchpad target).

    A bug the tracker cannot tell about keeps what the query file said.
    """
    bugs = {bug.key: bug for job in outcome.jobs for bug in job.bugs}
    answers = await asyncio.gather(*(look_up(bug) for bug in bugs.values()))
    described = {key: answer for key, answer in zip(bugs, answers, strict=True) if answer}
    jobs = tuple(
        replace(job, bugs=tuple(_described(bug, described.get(bug.key)) for bug in job.bugs))
        for job in outcome.jobs
    )
    projects = set(outcome.bug_projects)
    for answer in described.values():
        if not answer.private:
            projects.update(answer.projects)
    return replace(outcome, jobs=jobs, bug_projects=tuple(sorted(projects)))


def _described(bug: Bug, answer: Bug | None) -> Bug:
    if answer is None or answer.private:
        return bug
    return replace(bug, title=answer.title or bug.title, status=answer.status)
