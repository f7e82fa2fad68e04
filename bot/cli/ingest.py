"""``recheckbot ingest LOG_URL``: index one job's logs, for sites without a log pipeline."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from bot.cli.app import Common, UserError, command, run_async
from bot.config import Settings
from bot.events.model import FailedBuild, Job
from bot.events.parse import parse_log_url
from bot.ingest import IngestError, IngestSettings, ingest_build
from bot.search.opensearch import OpenSearchBackend

_BUILD_PAGE_UUID = re.compile(r"/build/([0-9a-fA-F-]{32,36})/?$")


@command(
    "ingest",
    help="Fetch a job's logs from its log URL and index them, one document per line.",
)
def ingest_command(
    log_url: Annotated[str, typer.Argument(help="The job's log URL or Zuul build page.")],
    job: Annotated[str, typer.Option("--job", help="Job name (build_name).")],
    change: Annotated[int, typer.Option("--change", min=1, help="Gerrit change number.")],
    patchset: Annotated[int, typer.Option("--patchset", min=1, help="Patchset number.")],
    project: Annotated[str, typer.Option("--project", help="Gerrit project.")] = "unknown",
    queue: Annotated[str, typer.Option("--queue", help="Zuul pipeline.")] = "gate",
    branch: Annotated[str, typer.Option("--branch")] = "master",
    status: Annotated[str, typer.Option("--status", help="Build result.")] = "FAILURE",
    uuid: Annotated[
        str | None, typer.Option("--uuid", help="Build uuid [default: from the URL].")
    ] = None,
    voting: Annotated[bool, typer.Option("--voting/--non-voting")] = True,
    when: Annotated[
        datetime | None,
        typer.Option("--time", help="Build end, for lines without a time stamp [default: now]."),
    ] = None,
    files: Annotated[
        list[str] | None,
        typer.Option("--file", help="Glob of files to index besides the console (repeatable)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Fetch and count the documents; write nothing.")
    ] = False,
    *,
    common: Common,
) -> None:
    settings = common.settings()
    if settings.search.backend == "kibana":
        raise UserError("ingest writes to the search server: a kibana backend is read-only")
    options = ingest_settings(settings, files)
    found = FailedBuild(
        server="cli",
        project=project,
        change=str(change),
        patchset=str(patchset),
        queue=queue or None,
        branch=branch or None,
        jobs=(cli_job(log_url, job, status.upper(), voting, uuid),),
        created=_epoch(when),
    )
    count = run_async(_ingest(settings, found, options, dry_run))
    print(count)
    done = "would index" if dry_run else f"indexed into {settings.search.url}:"
    print(f"recheckbot: {done} {count} documents from {log_url}", file=sys.stderr)


def ingest_settings(settings: Settings, files: list[str] | None) -> IngestSettings:
    """The ``ingest:`` section if the settings have one, with ``--file`` globs over its list."""
    section = getattr(settings, "ingest", None)
    base = section if isinstance(section, IngestSettings) else IngestSettings()
    return base.model_copy(update={"files": tuple(files)}) if files else base


def cli_job(url: str, name: str, status: str, voting: bool, uuid: str | None) -> Job:
    """The one job of the command line, identified as the comment parser would identify it."""
    page = _BUILD_PAGE_UUID.search(url)
    parsed = parse_log_url(url, name)
    return Job(
        name=name,
        result=status,
        url=url,
        voting=voting,
        uuid=(uuid or (page[1] if page else "")).lower() or None,
        short_uuid=parsed.short_uuid if parsed else None,
    )


def _epoch(when: datetime | None) -> float:
    if when is None:
        return datetime.now(UTC).timestamp()
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


async def _ingest(
    settings: Settings, build: FailedBuild, options: IngestSettings, dry_run: bool
) -> int:
    backend = None if dry_run else OpenSearchBackend(settings.search)
    try:
        return await ingest_build(backend, build, build.jobs[0], options)
    except IngestError as exc:
        raise UserError(str(exc)) from None
    finally:
        if backend is not None:
            await backend.close()
