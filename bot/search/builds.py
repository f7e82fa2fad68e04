"""Which log documents belong to a build and to one of its jobs, and what marks a job's logs
complete. Shared by readiness, classification and the failure analysis.

A job is tied to its documents by its build uuid when the report gives one, else by change,
patchset and job name (plus the short uuid of its log URL when there is one); without a uuid a
patchset's rechecks share those keys, and the latest build is the one meant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.events.model import FailedBuild, Job

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


def term(name: str, value: str) -> dict[str, Any]:
    return {"term": {name: value}}


def job_filter(build: FailedBuild, job: Job) -> dict[str, Any]:
    """The documents of one job: by build uuid, else short uuid + change/patchset/name.

    Without either, change/patchset/name may hold several runs (rechecks); the latest wins,
    see :func:`latest_build`.
    """
    if job.uuid:
        return term("build_uuid", job.uuid)
    clauses = [
        term("build_change", build.change),
        term("build_patchset", build.patchset),
        term("build_name", job.name),
    ]
    if job.short_uuid:
        clauses.append(term("build_short_uuid", job.short_uuid))
    return {"bool": {"filter": clauses}}


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
