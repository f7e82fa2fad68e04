"""Which log documents belong to a build and to one of its jobs, and what marks a job's logs
complete. Shared by readiness, classification and the failure analysis; both document layouts
(:mod:`bot.search.schema`) answer the same.

A job is tied to its documents by its build uuid when the report gives one (a Zuul build page).
A report with only a log URL (older Zuul, Jenkins, some Software Factory reporters) names its build
by the short uuid in that URL (ER-era documents carry ``build_short_uuid``) or by the URL itself
(logsender's ``log_url`` is that URL plus the file's path); when neither finds a document, change,
patchset and job name do, and the latest build is the one meant (a patchset's rechecks share
those keys). All of it in one filter, decided inside the one request: see :func:`reported`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.events.model import FailedBuild, Job
from bot.search.schema import log_dir

#: The last lines a console log gets: Zuul v3+ ``job-output.txt``, or Jenkins-era ``console.html``.
CONSOLE_END = (
    '(filename:"job-output.txt" AND message:"POST-RUN END") OR '
    '(filename:"console.html" AND (message:"[Zuul] Job complete" OR '
    'message:"[SCP] Copying console log" OR message:"Grabbing consoleLog"))'
)
#: Files devstack-gate jobs must have indexed before their logs tell the whole story (ER).
DSVM_FILES = (
    "logs/screen-n-api.txt",
    "logs/screen-n-cpu.txt",
    "logs/screen-n-sch.txt",
    "logs/screen-g-api.txt",
    "logs/screen-c-api.txt",
    "logs/screen-c-vol.txt",
    "logs/syslog.txt",
    "logs/screen-n-net.txt",
)
GRENADE_FILE = "logs/grenade.sh.txt"
#: Lines older than this before the report (or newer after it) belong to another build: the
#: range lets a real cluster skip whole daily indices, as ER's "recent indices" did.
WINDOW_BEFORE = 2 * 86400.0
WINDOW_AFTER = 86400.0


def required_files(job_name: str) -> frozenset[str]:
    """Files ER required besides the console log. Anchored: ``gate-tempest-dsvm-x`` needs none."""
    if not job_name.startswith(("tempest-dsvm", "grenade-dsvm")):
        return frozenset()
    files = set(DSVM_FILES)
    if job_name.startswith("grenade"):
        files.add(GRENADE_FILE)
    return frozenset(files)


def term(name: str, value: Any) -> dict[str, Any]:
    """An exact match. A value is read as the field's type: the text ``"912345"`` matches
    ER's keyword ``build_change`` and, parsed, logsender's integer one (osmem and OpenSearch
    alike), so one clause serves both layouts."""
    return {"term": {name: value}}


def job_filter(build: FailedBuild, job: Job) -> dict[str, Any]:
    """The documents of one job: by build uuid; else by what the report's log URL names, or
    change/patchset/name (which may hold several runs: :func:`reported` picks one)."""
    if job.uuid:
        return term("build_uuid", job.uuid)
    named = same_job(build, job)
    exact = reported_as(job)
    return named if exact is None else any_of([exact, named])


def same_job(build: FailedBuild, job: Job) -> dict[str, Any]:
    """Every run of the job on the build's patchset."""
    return {
        "bool": {
            "filter": [
                term("build_change", build.change),
                term("build_patchset", build.patchset),
                term("build_name", job.name),
            ]
        }
    }


def reported_as(job: Job) -> dict[str, Any] | None:
    """The documents of exactly the reported run of a job without a build uuid: the job's,
    with the short uuid of its log URL (ER-era documents) or a ``log_url`` starting with that
    URL (logsender's). None when the report gives neither."""
    names = [term("build_short_uuid", job.short_uuid)] if job.short_uuid else []
    if job.url:
        names.append({"prefix": {"log_url": log_prefix(job.url)}})
    if not names:
        return None
    return {"bool": {"filter": [term("build_name", job.name), any_of(names)]}}


def log_prefix(url: str) -> str:
    """A reported log URL as the start of its files' URLs: the directory, ending in ``/``
    (a console file named in the report is cut, as is any ``?query`` or ``#anchor``)."""
    directory = log_dir(url.split("#", 1)[0].split("?", 1)[0])
    return directory if directory.endswith("/") else directory + "/"


def reported(builds: Sequence[FailedBuild], sub_aggs: Mapping[str, Any]) -> dict[str, Any]:
    """Under a job's bucket, the one build its report means, with ``sub_aggs`` evaluated in it.

    The newest build wins, except that a build named exactly by its job's log URL (see
    :func:`reported_as`) beats builds matched only by change/patchset/name: a recheck that ran
    since the report does not replace the reported run, and a URL that names no document still
    finds the latest run. The exact clauses of all the jobs make one ``exact`` filter, the
    first key the builds are ordered by (each clause names its job: only the bucket's own hits).
    """
    jobs = [job for build in builds for job in build.failed_jobs if not job.uuid]
    exact = [clause for job in jobs if (clause := reported_as(job)) is not None]
    aggs: dict[str, Any] = {"latest": {"max": {"field": "@timestamp"}}}
    order: Any = {"latest": "desc"}
    if exact:
        aggs["exact"] = {"filter": any_of(exact)}
        order = [{"exact": "desc"}, {"latest": "desc"}]
    terms = {"field": "build_uuid", "size": 1, "order": order}
    return {"terms": terms, "aggs": {**aggs, **sub_aggs}}


def any_of(clauses: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Documents matching one of ``clauses``."""
    if len(clauses) == 1:
        return clauses[0]
    return {"bool": {"should": list(clauses), "minimum_should_match": 1}}


def build_filter(build: FailedBuild) -> dict[str, Any]:
    """Every document of the build's patchset around the time of the report."""
    clauses: list[dict[str, Any]] = [
        term("build_change", build.change),
        term("build_patchset", build.patchset),
    ]
    if build.created > 0:
        gte = _iso(build.created - WINDOW_BEFORE)
        lte = _iso(build.created + WINDOW_AFTER)
        clauses.append({"range": {"@timestamp": {"gte": gte, "lte": lte}}})
    return {"bool": {"filter": clauses}}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
