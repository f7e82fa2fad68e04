"""Fill in what a report comment left out (log URL, build uuid, voting) from Zuul's REST API.

Optional: a comment whose failed jobs all carry a build page or log URL needs nothing. When one
does not (`- job-x : NODE_FAILURE`, or a deployment that reports no URLs), the builds of the
patchset are read from ``/api/tenant/<tenant>/builds`` and matched to the jobs by name. Any error
leaves the build as it was: this is enrichment, never a reason to lose an event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.events.model import FailedBuild, Job
from bot.events.parse import parse_log_url

log = logging.getLogger(__name__)

#: Zuul's API answers 50 builds unless asked; a patchset with retries can have more.
_LIMIT = 500


def needs_resolution(build: FailedBuild) -> bool:
    """True when a failed job has no URL, or nothing that ties it to its log documents."""
    return any(job.failed and _lacks_identity(job) for job in build.jobs)


def _lacks_identity(job: Job) -> bool:
    return job.url is None or (job.uuid is None and job.short_uuid is None)


def builds_url(api_url: str, tenant: str) -> str:
    """``<api_url>/api/tenant/<tenant>/builds``; api_url may be Zuul's root or its ``/api``."""
    root = api_url.rstrip("/").removesuffix("/api")
    return f"{root}/api/tenant/{quote(tenant, safe='')}/builds"


def builds_query(build: FailedBuild) -> dict[str, str]:
    """Query parameters selecting the completed builds of this patchset (and pipeline)."""
    params = {"change": build.change, "patchset": build.patchset, "complete": "true"}
    if build.project:
        params["project"] = build.project
    if build.queue:
        params["pipeline"] = build.queue
    params["limit"] = str(_LIMIT)
    return params


async def resolve_builds(
    session: aiohttp.ClientSession,
    api_url: str,
    tenant: str,
    build: FailedBuild,
    *,
    timeout: float,  # noqa: ASYNC109 - per-request aiohttp timeout, part of the contract
) -> FailedBuild:
    """``build`` with its URL-less jobs filled in from Zuul; unchanged when none need it or
    when Zuul cannot be asked (timeout, HTTP error, bad JSON: logged once, at warning)."""
    if not needs_resolution(build):
        return build
    url = builds_url(api_url, tenant)
    try:
        async with session.get(
            url, params=builds_query(build), timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            if response.status != 200:
                log.warning("zuul api %s: HTTP %d for %s", url, response.status, build.key)
                return build
            payload: object = await response.json(content_type=None)
    except TimeoutError:
        log.warning("zuul api %s: no answer in %.1f s for %s", url, timeout, build.key)
        return build
    except (aiohttp.ClientError, ValueError) as exc:  # ValueError: the body is not JSON
        log.warning("zuul api %s: %s for %s", url, _describe(exc), build.key)
        return build
    if not isinstance(payload, list):
        log.warning("zuul api %s: expected a list of builds, got %s", url, type(payload).__name__)
        return build
    return merge_zuul_builds(build, payload)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def merge_zuul_builds(build: FailedBuild, api_builds: list[dict[str, Any]]) -> FailedBuild:
    """Fill url (the log URL), uuid, short uuid, voting and duration of jobs that lack a URL
    or a uuid, from the latest API build of the same job name on the same change/patchset."""
    latest = _latest_by_job(b for b in api_builds if _same_patchset(b, build))
    jobs = tuple(_fill(job, latest.get(job.name)) for job in build.jobs)
    return build if jobs == build.jobs else replace(build, jobs=jobs)


def _same_patchset(api_build: object, build: FailedBuild) -> bool:
    """False for a build of another change/patchset. Zuul ≥ 10 nests them under ``ref``."""
    if not isinstance(api_build, Mapping):
        return False
    ref = api_build.get("ref")
    where = ref if isinstance(ref, Mapping) else api_build
    for key, expected in (("change", build.change), ("patchset", build.patchset)):
        value = where.get(key)
        if value is not None and str(value) != expected:
            return False
    return True


def _latest_by_job(api_builds: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The newest build per job name: a retried job has one build per attempt. Zuul lists the
    newest first, so on equal times the first one seen stays."""
    latest: dict[str, Mapping[str, Any]] = {}
    for api_build in api_builds:
        name = api_build.get("job_name")
        if not isinstance(name, str):
            continue
        if name not in latest or _recency(api_build) > _recency(latest[name]):
            latest[name] = api_build
    return latest


def _recency(api_build: Mapping[str, Any]) -> tuple[str, str, int]:
    """Sort key: end time, start time (ISO 8601 strings sort as times), then the build id
    (Zuul's API calls it ``_id``; it grows with each build)."""
    end, start = api_build.get("end_time"), api_build.get("start_time")
    build_id = api_build.get("_id", api_build.get("id"))
    return (
        end if isinstance(end, str) else "",
        start if isinstance(start, str) else "",
        build_id if isinstance(build_id, int) and not isinstance(build_id, bool) else 0,
    )


def _fill(job: Job, api_build: Mapping[str, Any] | None) -> Job:
    if api_build is None or not _lacks_identity(job):
        return job
    log_url, uuid, voting, duration = (
        api_build.get(key) for key in ("log_url", "uuid", "voting", "duration")
    )
    url = job.url or (log_url if isinstance(log_url, str) and log_url else None)
    parsed = parse_log_url(url, job.name) if url else None
    return replace(
        job,
        url=url,
        uuid=job.uuid or (uuid.lower() if isinstance(uuid, str) and uuid else None),
        short_uuid=job.short_uuid or (parsed.short_uuid if parsed else None),
        voting=voting if isinstance(voting, bool) else job.voting,
        duration=job.duration if job.duration is not None else _seconds(duration),
    )


def _seconds(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None
