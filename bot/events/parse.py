"""Gerrit stream events and Zuul report comments → FailedBuild. Pure functions, no I/O.

The comment is what Zuul (or Jenkins / Zuul v2 before it) posted on the change: an optional
``Patch Set 3: Verified-2`` line from Gerrit, a header (``Build failed (gate pipeline).``), on
newer Zuul a buildset URL, then one line per job:
``- <job> <url> : <RESULT>[ <detail>][ in <elapsed>][ (non-voting)]``.

Nothing here raises on bad input: one odd event must never stop a stream. Bad input becomes a
``Skip`` whose reason the caller logs. Decoding the JSON of a stream line is
:mod:`bot.events.decode`'s.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.events.decode import epoch_seconds
from bot.events.model import FailedBuild, Job
from bot.events.source import RawEvent

log = logging.getLogger(__name__)

#: Gerrit caps review messages at 16 KiB by default; anything far bigger is not a Zuul report,
#: and refusing it keeps a hostile or broken event from costing real time.
MAX_COMMENT_CHARS = 1_000_000


class CommentKind(StrEnum):
    """What a CI comment reports, from its header line."""

    BUILD_FAILED = "build failed"
    BUILD_SUCCEEDED = "build succeeded"
    DEPENDENCY_FAILED = "dependency failed to merge"
    DEPENDENCY_CYCLE = "dependency cycle failed"
    MERGE_CONFLICT = "merge conflict"
    CONFIG_ERROR = "config error"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ParsedComment:
    """Everything a CI report comment says. ``change``/``patchset`` come from its log URLs."""

    kind: CommentKind
    pipeline: str | None = None  # from the header, else from the first failed job's log URL
    buildset_url: str | None = None
    tenant: str | None = None  # from the buildset URL `/t/<tenant>/`
    jobs: tuple[Job, ...] = ()
    skipped_jobs: int = 0  # `Skipped N jobs`
    successes_omitted: bool = False  # `Successful jobs omitted due to length restrictions`
    change: str | None = None
    patchset: str | None = None


@dataclass(frozen=True)
class Skip:
    """An event that is not a failed build, and why (for the debug log and the journal)."""

    reason: str


# Gerrit puts the vote summary before the message ("Patch Set 3: Verified-2", or a bare
# "Patch Set 1:") and "(N comments)" when the review has inline comments.
_PREAMBLE = re.compile(r"^(?:Patch Set \d+:.*|\(\d+ (?:inline )?comments?\))$", re.IGNORECASE)
# Header texts are per deployment (pipeline failure-message), so only their stable starts are
# matched. Order matters: the first head line that matches any of these decides the kind.
_HEADER_TEXTS = {
    CommentKind.BUILD_FAILED: r"^Build failed\b",
    CommentKind.BUILD_SUCCEEDED: r"^Build succeeded\b",
    CommentKind.DEPENDENCY_FAILED: r"depends on a change that failed to merge",
    CommentKind.DEPENDENCY_CYCLE: r"part of a dependency cycle",
    CommentKind.MERGE_CONFLICT: r"^Merge Failed\b|unable to be automatically merged",
    CommentKind.CONFIG_ERROR: r"Zuul encountered|invalid configuration|\bconfig(uration)? error",
}
_HEADERS = tuple((kind, re.compile(text, re.IGNORECASE)) for kind, text in _HEADER_TEXTS.items())
_HEADER_PIPELINE = re.compile(r"^Build \w+ \((?P<pipeline>[^()\s]+) pipeline\)", re.IGNORECASE)
# Zuul falls back to the bare job name when a build has no URL (`- job-x : NODE_FAILURE`);
# Zuul v2 printed the name a second time instead: a target that is no URL means none.
_JOB_LINE = re.compile(
    r"^- (?P<name>\S+)(?: (?P<target>\S+))? : (?P<result>[A-Z][A-Z_]*)(?P<rest>(?: .*)?)$"
)
# Zuul formats elapsed time as `1h 02m 03s`, `3m 05s` or `45s`. Digit counts are bounded so
# int() can never meet a giant number.
_ELAPSED = re.compile(r"(?:(?P<h>\d{1,6})h ?)?(?:(?P<m>\d{1,6})m ?)?(?:(?P<s>\d{1,6})s)?")
_NON_VOTING = "(non-voting)"
_BUILDSET = re.compile(
    r"^(?P<url>https?://\S*?/(?:t/(?P<tenant>[^\s/]+)/)?buildset/[0-9a-fA-F-]{8,})/?$", re.I
)
_SKIPPED = re.compile(r"^Skipped (?P<count>\d{1,9}) jobs?\b", re.IGNORECASE)
_OMITTED = re.compile(r"^Successful jobs omitted", re.IGNORECASE)
# ER matched only `http://` log URLs, so every https report slipped through; take both.
_URL = re.compile(r"^https?://", re.IGNORECASE)
_URL_PATH = re.compile(r"^https?://[^/?#]*(?P<path>[^?#]*)", re.IGNORECASE)
_BUILD_PAGE = re.compile(r"/build/(?P<uuid>[0-9a-fA-F]{32}|[0-9a-fA-F-]{36})/?$")
_SHORT_UUID = re.compile(r"[0-9a-f]{7}")
_NUMBER = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class LogUrl:
    """The parts of a log URL `…/<change>/<ps>/<pipeline>/<job>/<short-uuid>/…`."""

    short_uuid: str
    change: str | None = None
    patchset: str | None = None
    pipeline: str | None = None


def parse_comment(text: str) -> ParsedComment:
    """Parse a CI report comment (Zuul v3+, Zuul v2 or Jenkins era)."""
    lines = [line.rstrip() for line in text.splitlines()]
    jobs: list[Job] = []
    paths: list[LogUrl | None] = []
    buildset = tenant = None
    skipped, omitted = 0, False
    for line in lines:
        if job_match := _JOB_LINE.match(line):
            job, path = _parse_job(job_match)
            jobs.append(job)
            paths.append(path)
        elif buildset is None and (bs_match := _BUILDSET.match(line)):
            buildset, tenant = bs_match["url"], bs_match["tenant"]
        elif sk_match := _SKIPPED.match(line):
            skipped = int(sk_match["count"])
        elif _OMITTED.match(line):
            omitted = True
    kind, pipeline = _read_header(lines)
    change, patchset = _majority_change(paths)
    return ParsedComment(
        kind=kind,
        pipeline=pipeline or _url_pipeline(jobs, paths),
        buildset_url=buildset,
        tenant=tenant,
        jobs=tuple(jobs),
        skipped_jobs=skipped,
        successes_omitted=omitted,
        change=change,
        patchset=patchset,
    )


def _read_header(lines: list[str]) -> tuple[CommentKind, str | None]:
    """Kind and pipeline from the first head line (before the job list) that says either."""
    for line in lines:
        if line.startswith("- "):
            break
        if not line.strip() or _PREAMBLE.match(line):
            continue
        for kind, pattern in _HEADERS:
            if pattern.search(line):
                pipeline = _HEADER_PIPELINE.match(line)
                return kind, pipeline["pipeline"] if pipeline else None
    return CommentKind.UNKNOWN, None


def _parse_job(match: re.Match[str]) -> tuple[Job, LogUrl | None]:
    name, rest = match["name"], match["rest"].strip()
    voting = not rest.endswith(_NON_VOTING)
    if not voting:
        rest = rest[: -len(_NON_VOTING)].rstrip()
    rest, duration = _split_elapsed(rest)
    url = match["target"] if match["target"] and _URL.match(match["target"]) else None
    path = parse_log_url(url, name) if url else None
    build_page = _BUILD_PAGE.search(_url_path(url)) if url else None
    job = Job(
        name=name,
        result=match["result"],
        url=url,
        voting=voting,
        duration=duration,
        uuid=build_page["uuid"].lower() if build_page else None,
        short_uuid=path.short_uuid if path else None,
        detail=rest or None,
    )
    return job, path


def _split_elapsed(rest: str) -> tuple[str, float | None]:
    """Split `<detail> in <elapsed>` (either part optional) into detail and seconds."""
    if rest.startswith("in "):
        detail, elapsed = "", rest[3:]
    else:
        detail, sep, elapsed = rest.rpartition(" in ")
        if not sep:
            return rest, None
    seconds = parse_elapsed(elapsed)
    if seconds is None:
        return rest, None
    return detail.strip(), seconds


def parse_elapsed(text: str) -> float | None:
    """Zuul's `1h 02m 03s` / `3m 05s` / `45s` → seconds; None when it is not one of those."""
    match = _ELAPSED.fullmatch(text.strip())
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(part or 0) for part in match.group("h", "m", "s"))
    return float(hours * 3600 + minutes * 60 + seconds)


def _url_path(url: str) -> str:
    match = _URL_PATH.match(url)
    return match["path"] if match else ""


def parse_log_url(url: str, job_name: str) -> LogUrl | None:
    """Find `<change>/<ps>/<pipeline>/<job>/<7 hex>` in a log URL's path.

    The path may have a prefix (swift containers) or a suffix (docs-draft URLs end in
    `…/<short-uuid>/doc/build/html/`, where ER took `html` for the uuid). A window whose job
    segment is this job's name wins; periodic jobs have no change, just `…/<job>/<7 hex>/`.
    """
    segments = _url_path(url).split("/")
    windows = [
        (seg[3], LogUrl(short_uuid=seg[4], change=seg[0], patchset=seg[1], pipeline=seg[2]))
        for seg in (segments[i : i + 5] for i in range(len(segments) - 4))
        if _is_number(seg[0]) and _is_number(seg[1]) and _SHORT_UUID.fullmatch(seg[4])
    ]
    for job, path in windows:
        if job == job_name:
            return path
    if windows:
        return windows[0][1]
    for index, segment in enumerate(segments[:-1]):
        if segment == job_name and _SHORT_UUID.fullmatch(segments[index + 1]):
            return LogUrl(short_uuid=segments[index + 1])
    return None


def _is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None


def _url_pipeline(jobs: list[Job], paths: list[LogUrl | None]) -> str | None:
    """ER's fallback: the pipeline component of the first failed job's log URL (else any job's)."""
    ordered = [p for j, p in zip(jobs, paths, strict=True) if j.failed] + paths
    return next((p.pipeline for p in ordered if p and p.pipeline), None)


def _majority_change(paths: list[LogUrl | None]) -> tuple[str | None, str | None]:
    """The change,patchset most log URLs point at (one upstream report links another change)."""
    counts = Counter((p.change, p.patchset) for p in paths if p and p.change and p.patchset)
    if not counts:
        return None, None
    return counts.most_common(1)[0][0]


def parse_event(raw: RawEvent, *, ci_accounts: Collection[str]) -> FailedBuild | Skip:
    """A Gerrit ``comment-added`` event by a CI account reporting a failed build → FailedBuild.

    Everything else, malformed events included, is a Skip with the reason. Failed non-voting jobs
    stay in ``jobs`` (``voting=False``) for later stages to judge; Skip when no job failed.
    """
    try:
        return _parse_event(raw, ci_accounts)
    except Exception as exc:  # a parser bug must cost one event, never the stream
        log.exception("cannot parse event from %s", raw.server)
        return Skip(f"internal error: {type(exc).__name__}")


def _parse_event(raw: RawEvent, ci_accounts: Collection[str]) -> FailedBuild | Skip:
    data: object = raw.data
    if not isinstance(data, Mapping):
        return Skip(f"event is {type(data).__name__}, not a JSON object")
    event_type = data.get("type")
    if event_type != "comment-added":
        return Skip(f"not comment-added (type {_brief(event_type)})")
    author = _get_str(data, "author", "username")
    if author is None:
        return Skip("comment author has no username")
    if author not in ci_accounts:
        return Skip(f"author {_brief(author)} is not a CI account")
    comment = data.get("comment")
    if not isinstance(comment, str) or not comment.strip():
        return Skip("no comment text")
    if len(comment) > MAX_COMMENT_CHARS:
        return Skip(f"comment of {len(comment)} characters is too long for a CI report")
    parsed = parse_comment(comment)
    if skip := _skip_report(parsed):
        return skip
    return _failed_build(raw.server, data, author, comment, parsed)


def _skip_report(parsed: ParsedComment) -> Skip | None:
    kind = parsed.kind
    if kind not in (CommentKind.BUILD_FAILED, CommentKind.UNKNOWN):
        return Skip(str(kind))
    if not any(job.failed for job in parsed.jobs):
        return Skip("no failed job" if kind is CommentKind.BUILD_FAILED else "not a CI report")
    # A deployment may word its failure-message freely, so an unknown header still counts when a
    # voting job failed (Zuul reports failure exactly then); non-voting failures alone do not.
    if kind is CommentKind.UNKNOWN and not any(job.failed and job.voting for job in parsed.jobs):
        return Skip("unknown header and no failed voting job")
    return None


def _failed_build(
    server: str, data: Mapping[str, Any], author: str, comment: str, parsed: ParsedComment
) -> FailedBuild | Skip:
    change = _number_field(_get(data, "change", "number"), parsed.change, "change")
    patchset = _number_field(_get(data, "patchSet", "number"), parsed.patchset, "patchset")
    if isinstance(change, Skip):
        return change
    if isinstance(patchset, Skip):
        return patchset
    # Newer Gerrit also puts the project at the top level of the event.
    project = _get_str(data, "change", "project") or _get_str(data, "project") or ""
    return FailedBuild(
        server=server,
        project=project,
        change=change,
        patchset=patchset,
        queue=parsed.pipeline,
        jobs=parsed.jobs,
        branch=_get_str(data, "change", "branch"),
        change_url=_get_str(data, "change", "url"),
        author=author,
        buildset_url=parsed.buildset_url,
        created=_timestamp(data.get("eventCreatedOn")),
        comment=comment,
    )


def _number_field(value: object, from_urls: str | None, what: str) -> str | Skip:
    """A Gerrit number: int (newer Gerrit) or digit string (older). Missing → the log URLs'."""
    if value is None:
        # Recorded events without change/patchSet (ER's jenkins fixture) still name them in
        # every log URL: `…/<nn>/<change>/<patchset>/<pipeline>/<job>/<uuid>`.
        return from_urls if from_urls else Skip(f"no {what} number")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12:
        return str(value)
    if isinstance(value, str) and _is_number(value.strip()):
        return str(int(value.strip()))
    return Skip(f"{what} number {_brief(value)} is not a number")


def _timestamp(value: object) -> float:
    """eventCreatedOn (epoch seconds, int or string; milliseconds converted); 0.0 (unknown:
    the wait counts from now, the search has no time window) when absent or out of range."""
    return epoch_seconds(value) or 0.0


def _get(data: Mapping[str, Any], *keys: str) -> object:
    """``data[k1][k2]…``, or None when a level is missing or not an object."""
    value: object = data
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _get_str(data: Mapping[str, Any], *keys: str) -> str | None:
    value = _get(data, *keys)
    return value if isinstance(value, str) else None


def _brief(value: object) -> str:
    """A short printable form of a bad value for a Skip reason (never a huge or deep repr)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40]) + "..."
    if value is None or (isinstance(value, int | float) and abs(value) < 1e40):
        return repr(value)
    return f"of type {type(value).__name__}"
