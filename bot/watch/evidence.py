"""The evidence behind verdicts, for those who ask: ``!why``, a bug page, the uncategorized page.

Every verdict is journaled with the lines its queries matched (:mod:`bot.state.evidence`, from the
classification request itself: no extra round trip). This module reads them back as views:

* :func:`why`: the latest judged build(s) of a change, each failed job with its bugs and their
  lines, or why it has none (unrecognized, logs not searchable in time);
* :func:`bug_evidence`: where one query matched lately, with the lines (a bug's page);
* :func:`uncategorized_evidence`: for failed builds no query explains, their newest error lines,
  from the search server (the journal has no matched line for them): one search per 200 builds.

Sites without Kibana (an internal Jenkins, Software Factory) see why from these alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.bugs import Bug
from bot.events.model import FailedBuild
from bot.intel.evidence import EvidenceLine, lines_aggs, msearch_all, parse_evidence
from bot.intel.uncategorized import UncatBuild
from bot.search.base import SearchBackend
from bot.search.lines import MAX_FILE, LogLine, clean
from bot.search.schema import log_dir
from bot.search.stats import since
from bot.state import StateStore
from bot.state.evidence import Judged, Matched, Sighting
from bot.watch.outcome import Outcome

#: Builds of a change shown by :func:`why`: the newest per Gerrit server and queue, this many.
MAX_BUILDS = 3
#: Error lines per uncategorized build.
UNCAT_LINES = 3
#: Uncategorized builds per search (each answers with a few lines per build).
UNCAT_PER_SEARCH = 200

JobState = Literal["classified", "unrecognized", "not-ready"]


@dataclass(frozen=True)
class JobWhy:
    """One failed job of a judged build: its bugs and the lines they matched, or why none."""

    name: str
    state: JobState
    bugs: tuple[Bug, ...] = ()
    evidence: tuple[Matched, ...] = ()  # per bug (by query), the lines it matched
    url: str | None = None  # the job's logs


@dataclass(frozen=True)
class BuildWhy:
    """A judged build of a change, as :func:`why` shows it."""

    build: FailedBuild
    judged: float  # epoch seconds the build was received (its verdict followed)
    jobs: tuple[JobWhy, ...]


def explain(judged: Judged) -> BuildWhy:
    """A journaled build as a view: the saved outcome's jobs, with the saved lines."""
    outcome = Outcome.from_json(judged.verdict)
    jobs = [
        JobWhy(
            name=job.name,
            state="classified" if job.bugs else "unrecognized",
            bugs=job.bugs,
            evidence=tuple(judged.evidence.get(job.name, ())),
            url=job.url,
        )
        for job in outcome.jobs
    ]
    jobs += [JobWhy(name, "not-ready") for name in outcome.not_ready]
    return BuildWhy(judged.build, judged.received, tuple(jobs))


def latest(judged: Sequence[Judged], *, limit: int = MAX_BUILDS) -> list[Judged]:
    """Of a change's judged builds (newest first), those of its newest patchset on each Gerrit
    server, the newest per queue: what a developer means by "my change's last run"."""
    newest: dict[str, int] = {}
    for item in judged:
        server = item.build.server
        newest[server] = max(newest.get(server, -1), _number(item.build.patchset))
    chosen: dict[tuple[str, str | None], Judged] = {}
    for item in judged:
        build = item.build
        if _number(build.patchset) == newest[build.server]:
            chosen.setdefault((build.server, build.queue), item)
    return list(chosen.values())[:limit]


def _number(patchset: str) -> int:
    return int(patchset) if patchset.isdigit() else 0


async def why(state: StateStore, change: str, patchset: str | None = None) -> list[BuildWhy]:
    """The latest judged build(s) of ``change`` (of ``patchset``, if given), newest first."""
    return [explain(item) for item in latest(await state.judged(change, patchset))]


# --- a bug's page ---------------------------------------------------------------------------


async def bug_evidence(state: StateStore, query: str, limit: int = 10) -> list[Sighting]:
    """The latest ``limit`` failed jobs ``query`` matched, newest first, with the lines."""
    return await state.sightings(query, limit)


def sighting_json(sighting: Sighting) -> dict[str, Any]:
    """One sighting for a page's JSON (see :func:`line_json` for each line)."""
    build = sighting.build
    return {
        "query": sighting.matched.query,
        "bug": sighting.matched.bug,
        "project": build.project,
        "change": build.change,
        "patchset": build.patchset,
        "queue": build.queue,
        "change_url": build.change_url,
        "job": sighting.job,
        "job_url": next((job.url for job in build.jobs if job.name == sighting.job), None),
        "judged": sighting.saved,
        "lines": [line_json(line) for line in sighting.matched.lines],
    }


def line_json(line: LogLine) -> dict[str, Any]:
    return {"message": line.message, "file": line.file, "url": line.url, "logged": line.logged}


# --- the uncategorized page -----------------------------------------------------------------


def uncategorized_body(uuids: Sequence[str], days: int, size: int) -> dict[str, Any]:
    """Per build of ``uuids``: its newest ``size`` error lines and last console lines."""
    builds = {"terms": {"field": "build_uuid", "size": len(uuids)}, "aggs": lines_aggs(size, size)}
    window = [{"terms": {"build_uuid": list(uuids)}}, since(days + 1)]  # a build may start early
    return {"size": 0, "query": {"bool": {"filter": window}}, "aggs": {"builds": builds}}


async def uncategorized_evidence(
    backend: SearchBackend, builds: Sequence[UncatBuild], *, days: int, size: int = UNCAT_LINES
) -> Mapping[str, tuple[LogLine, ...]]:
    """Build uuid → its newest error lines (oldest first), else its last console lines; builds
    without either are left out."""
    groups = [builds[i : i + UNCAT_PER_SEARCH] for i in range(0, len(builds), UNCAT_PER_SEARCH)]
    bodies = [uncategorized_body([b.uuid for b in group], days, size) for group in groups]
    found: dict[str, tuple[LogLine, ...]] = {}
    for group, response in zip(groups, await msearch_all(backend, bodies), strict=True):
        for job in parse_evidence(response, group):
            lines = tuple(_uncat_line(job.build, line) for line in (job.errors or job.tail))
            if lines:
                found[job.build.uuid] = lines[-size:]
    return found


def _uncat_line(build: UncatBuild, line: EvidenceLine) -> LogLine:
    root = log_dir(build.log_url) if build.log_url else ""
    name = line.filename.lstrip("/")
    url = root + name if root.endswith("/") and name else None
    return LogLine(clean(line.message), clean(line.filename, MAX_FILE), url, clean(line.timestamp))
