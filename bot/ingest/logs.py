"""Log files → logstash-style documents, and finding files in a log tree. Pure functions.

One document per non-blank line, in the layout sites write today (ci-log-processing's logsender,
:mod:`bot.search.schema`): ``@timestamp`` (from the line when it starts with one), ``message``
(the text after a console line's ``TIMESTAMP | ``), ``filename`` (path in the tree, ``.gz``
dropped), ``tags`` (the file's configured tags, then its base name: ``console`` and
``console.html`` for the console log, as logsender's default file list has them), ``log_url``
(the file's own URL), ``loglevel`` when the line names one, and the build's fields: integer
``voting`` and ``build_change``, no ``build_short_uuid``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import html
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from bot.events.model import FailedBuild, Job
from bot.search.schema import shape

log = logging.getLogger(__name__)

#: Console logs, most likely first: Zuul v3+ (plain or gzipped), then Jenkins / Zuul v2.
CONSOLE_FILES = ("job-output.txt", "job-output.txt.gz", "console.html", "console.html.gz")
MANIFEST = "zuul-manifest.json"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The console log's configured tags (logsender's file list); its base name follows them.
CONSOLE_TAGS = ("console", "console.html")
#: Longest message kept: a minified JSON blob on one line is no log line a query needs whole.
MAX_LINE_CHARS = 10_000


@dataclass(frozen=True)
class BuildInfo:
    """What every document of one job's logs says about its build."""

    log_root: str  # the log tree's URL, ending in "/"
    fields: Mapping[str, Any]  # build_*, project, voting, ...
    when: datetime = EPOCH  # time of the lines before the first time stamp


def build_info(build: FailedBuild, job: Job, log_root: str) -> BuildInfo:
    """The build fields of ``job``'s documents.

    Readiness and classification pick a job's latest build by ``build_uuid``, so every document
    needs one: without it (a log URL says only the short one) one is derived from the URL.
    """
    root = log_root if log_root.endswith("/") else log_root + "/"
    uuid = job.uuid or hashlib.sha1(root.encode()).hexdigest()[:32]
    fields = {
        "build_name": job.name,
        "build_status": job.result,
        "build_queue": build.queue,
        "build_branch": build.branch,
        "build_change": build.change,
        "build_patchset": build.patchset,
        "build_ref": _ref(build),
        "build_uuid": uuid,
        "build_set": _zuul_id(build.buildset_url, "buildset"),
        "project": build.project,
        "voting": job.voting,
        "tenant": _tenant(job.url) or _tenant(build.buildset_url),
        "change_url": build.change_url,
    }
    when = datetime.fromtimestamp(build.created, UTC) if build.created > 0 else datetime.now(UTC)
    known = {k: v for k, v in fields.items() if v is not None}
    return BuildInfo(root, shape(known, "logsender"), when)


_ZUUL_PAGE = re.compile(r"/t/(?P<tenant>[^/]+)/(?P<kind>build|buildset)/(?P<id>[0-9a-f]{32})")


def _ref(build: FailedBuild) -> str | None:
    if not (build.change.isdigit() and build.patchset.isdigit()):
        return None
    return f"refs/changes/{build.change[-2:]:0>2}/{build.change}/{build.patchset}"


def _zuul_id(url: str | None, kind: str) -> str | None:
    match = _ZUUL_PAGE.search(url or "")
    return match["id"] if match and match["kind"] == kind else None


def _tenant(url: str | None) -> str | None:
    match = _ZUUL_PAGE.search(url or "")
    return match["tenant"] if match else None


# Zuul's console (`2026-11-26 08:00:00.123456 | …`), oslo.log and ISO 8601 stamps.
_ISO_STAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})(?P<frac>[.,]\d{1,9})?"
    r"\s?(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)
# syslog and journald exports (devstack's screen-*.txt): `Nov 26 08:00:00[.123456] host …`.
_SYSLOG_STAMP = re.compile(
    r"^(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2}) "
    r"(?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d{1,9})?"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LEVEL = re.compile(r"\b(TRACE|DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b")
_LEVEL_NAMES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
_TAG = re.compile(r"<[^>]*>")
# Zuul's console prefix, which logsender leaves out of ``message``.
_CONSOLE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})? \|(?: |$)")


def parse_timestamp(line: str, around: datetime) -> datetime | None:
    """The time a log line starts with, if any. Stamps without a zone are UTC (as Zuul's
    executors and devstack nodes log); syslog stamps, which have no year, take ``around``'s."""
    if match := _ISO_STAMP.match(line):
        return _iso_time(match)
    if match := _SYSLOG_STAMP.match(line):
        return _syslog_time(match, around)
    return None


def _micros(frac: str | None) -> str:
    return (frac or ".0")[1:7].ljust(6, "0")


def _iso_time(match: re.Match[str]) -> datetime | None:
    tz = match["tz"] or "+00:00"
    tz = "+00:00" if tz == "Z" else tz if ":" in tz else f"{tz[:3]}:{tz[3:]}"
    try:
        return datetime.fromisoformat(
            f"{match['date']}T{match['time']}.{_micros(match['frac'])}{tz}"
        )
    except ValueError:  # 2026-13-45: looks like a stamp, is not one
        return None


def _syslog_time(match: re.Match[str], around: datetime) -> datetime | None:
    hour, minute, second = (int(part) for part in match["time"].split(":"))
    month, day = _MONTHS.index(match["mon"]) + 1, int(match["day"])
    micro = int(_micros(match["frac"]))
    try:
        when = datetime(around.year, month, day, hour, minute, second, micro, UTC)
    except ValueError:
        return None
    # A December line read in January belongs to the year before.
    if when - around > timedelta(days=31):
        when = when.replace(year=when.year - 1)
    return when


def log_level(line: str) -> str | None:
    """The level a log line names near its start (oslo.log, Python logging, Ansible)."""
    match = _LEVEL.search(line, 0, 200)
    if match is None:
        return None
    return _LEVEL_NAMES.get(match[1], match[1])


def file_name(path: str) -> str:
    """The ``filename`` field of a file: its path in the tree without a ``.gz`` suffix
    (log pipelines index ``logs/syslog.txt``, however the server stored it)."""
    return path.removesuffix(".gz")


def message_text(line: str) -> str:
    """A line as logsender's ``message``: without a console line's ``TIMESTAMP | `` prefix."""
    return _CONSOLE_PREFIX.sub("", line, count=1)


def documents(
    text: str, path: str, build: BuildInfo, *, console: bool = False
) -> Iterator[dict[str, Any]]:
    """One document per non-blank line of one file.

    A line without a time stamp (a traceback's body, a wrapped message) gets the time of the
    line before it, so it sorts with the event it belongs to; the build time before any stamp.
    """
    file = {
        "filename": file_name(path),
        "tags": list(CONSOLE_TAGS if console else ()),
        "log_url": build.log_root,
    }
    # The URL of the file as stored (``.gz`` and all): the link must open it.
    base = shape({**build.fields, **file}, "logsender") | {"log_url": build.log_root + path}
    strip_html = file_name(path).endswith(".html")
    when = build.when
    for raw in text.splitlines():
        line = html.unescape(_TAG.sub("", raw)) if strip_html else raw
        line = line.rstrip()[:MAX_LINE_CHARS]
        if not line.strip():
            continue
        when = parse_timestamp(line, build.when) or when
        message = message_text(line)
        if not message.strip():  # a stamp and nothing else: logsender skips it too
            continue
        doc = {**base, "@timestamp": when.isoformat(), "message": message}
        if level := log_level(line):
            doc["loglevel"] = level
        yield doc


def manifest_files(manifest: Mapping[str, Any]) -> list[str]:
    """Paths of the files in a ``zuul-manifest.json`` tree (directories walked)."""
    found: list[str] = []

    def walk(nodes: Any, prefix: str) -> None:
        for node in nodes if isinstance(nodes, list) else []:
            name = node.get("name") if isinstance(node, Mapping) else None
            if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
                continue  # a hostile manifest must not point outside the tree
            if "children" in node:
                walk(node["children"], f"{prefix}{name}/")
            else:
                found.append(prefix + name)

    walk(manifest.get("tree"), "")
    return found


_HREF = re.compile(r"""href\s*=\s*["']([^"'?#]+)["']""", re.IGNORECASE)


def index_links(page: str, page_url: str, root: str) -> list[str]:
    """Paths (relative to ``root``) of the files a directory listing page links to."""
    found = []
    for href in _HREF.findall(page):
        url = urljoin(page_url, html.unescape(href))
        if url.startswith(root) and not url.endswith("/"):
            found.append(url[len(root) :])
    return found


def listing_dirs(patterns: tuple[str, ...]) -> list[str]:
    """Directories whose listings can show files matching ``patterns`` ("" is the root)."""
    return sorted({pattern.rpartition("/")[0] for pattern in patterns})


def select_files(paths: list[str], patterns: tuple[str, ...], limit: int) -> list[str]:
    """The paths a glob matches (``.gz`` ignored), sorted, at most ``limit``; a file stored
    both plain and gzipped is taken once."""
    chosen: dict[str, str] = {}
    for path in sorted(paths):
        name = file_name(path)
        if name not in CONSOLE_FILES and any(fnmatch.fnmatchcase(name, p) for p in patterns):
            chosen.setdefault(name, path)
    picked = sorted(chosen.values())
    if len(picked) > limit:
        log.warning("%d log files match; indexing the first %d", len(picked), limit)
    return picked[:limit]


def console_candidates(files: list[str]) -> list[str]:
    """Console log names to try: those the tree is known to hold, else every usual one."""
    present = [name for name in CONSOLE_FILES if name in files]
    return present or list(CONSOLE_FILES)
