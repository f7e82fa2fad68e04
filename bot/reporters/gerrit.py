"""ER's Gerrit review comment: what to say (pure) and posting it (SSH or REST), once.

The text keeps ER's shape (INVENTORY §4.3): ``found_bug`` with ``%(bugs)s`` (one ``- job: links``
line per judged job, tracker titles when known), then ``recheck_instructions`` when every failed
job is explained, else ``unrecognized``, then ``footer``; parts joined by newlines (empty parts
left out). Like ER, nothing is said when no bug was found, unless the server sets
``comment_unrecognized``: then a short note, ``no_bugs_found`` + ``unrecognized`` + ``footer``.

Per server: ``comment: off | dry-run | on`` (dry-run, the default, logs exactly what would be posted
and posts nothing), ``comment_projects`` / ``comment_queues`` globs, ``comment_via: ssh | rest``.
A comment is journaled as a delivery to the pseudo-room ``Room("gerrit", <server>)`` under
``<server>/<change>,<patchset>#<verdict fingerprint>``: the same verdict on the same patchset is
never posted twice (not even from check and then gate), a different verdict is. Dry runs journal
under ``gerrit-dry-run``, so they rehearse the dedupe without spending the real one. Failures
(SSH down, HTTP 4xx/5xx) are logged once per outage and returned, never raised.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal
from urllib.parse import quote

import aiohttp
import asyncssh

from bot.config import GerritServer
from bot.core.errors import ReadableError, describe
from bot.events.model import FailedBuild
from bot.gerrit.rest import decode_json, open_session, request
from bot.gerrit.ssh import import_key, run_command
from bot.state import StateStore
from bot.transports.base import Room
from bot.watch.messages import format_bug_list
from bot.watch.outcome import Outcome
from bot.watch.routing import Messages

log = logging.getLogger(__name__)

#: Gerrit refuses change messages over ``change.commentSizeLimit`` (16k characters by default).
MAX_MESSAGE = 15_000
CUT = "\n[… cut: the comment was too long for Gerrit]"

Status = Literal["posted", "dry-run", "duplicate", "skipped", "failed"]


@dataclass(frozen=True)
class ReportResult:
    """What became of one build's comment; ``message`` is the text (posted / would be / failed)."""

    status: Status
    detail: str = ""
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class PostError(ReadableError):
    """Gerrit did not take the comment; the text says why, in one line."""


# -- what to say: pure -----------------------------------------------------------------------


def fill_bugs(template: str, bugs: str) -> str:
    """ER's ``template % {"bugs": …}`` for templates written for it (``%%`` is a ``%``), without
    the ``%`` operator: a stray ``%`` ("100% sure") is kept as is rather than garbling the text."""
    return "%".join(piece.replace("%(bugs)s", bugs) for piece in template.split("%%"))


def format_review(
    build: FailedBuild, outcome: Outcome, messages: Messages, *, unrecognized_note: bool = False
) -> str | None:
    """The review comment for ``outcome``, or None when there is nothing to say.

    "Every failed job explained" also needs every job judged: a job whose logs never came is
    not known to be explained, so it gets ``unrecognized`` too. ``build`` is not used by ER's
    templates; it is here so the text may name the change some day without a new signature.
    """
    if not outcome.jobs:
        return None
    if outcome.found:
        explained = all(job.bugs for job in outcome.jobs) and not outcome.not_ready
        parts = [
            fill_bugs(messages.found_bug, format_bug_list(outcome.jobs)),
            messages.recheck_instructions if explained else messages.unrecognized,
        ]
    elif unrecognized_note:
        parts = [messages.no_bugs_found, messages.unrecognized]
    else:
        return None
    return "\n".join(part for part in (*parts, messages.footer) if part)


def verdict_fingerprint(outcome: Outcome) -> str:
    """Equal for the same judged jobs with the same bugs (titles and statuses do not count)."""
    verdict = sorted((job.name, sorted(bug.id for bug in job.bugs)) for job in outcome.jobs)
    return hashlib.sha1(json.dumps(verdict).encode()).hexdigest()[:16]


def dedupe_key(build: FailedBuild, outcome: Outcome) -> str:
    # No queue in the key: the same verdict on one patchset is said once, check or gate.
    return f"{build.server}/{build.change},{build.patchset}#{verdict_fingerprint(outcome)}"


def skip_reason(server: GerritServer, build: FailedBuild) -> str | None:
    """Why ``server`` does not comment on ``build`` (None: it does)."""
    if server.comment == "off":
        return "comments are off"
    if build.server != server.name:
        return f"build from {build.server}, not {server.name}"
    if not any(fnmatchcase(build.queue or "", q) for q in server.comment_queues):
        return f"queue {build.queue or '-'} not in comment_queues"
    if not any(fnmatchcase(build.project, p) for p in server.comment_projects):
        return f"project {build.project} not in comment_projects"
    return None


def cap(message: str, limit: int = MAX_MESSAGE) -> str:
    return message if len(message) <= limit else message[: limit - len(CUT)] + CUT


def quote_arg(value: str) -> str:
    """One argument for Gerrit's SSH command line, whatever it holds.

    Gerrit splits the command like a shell: single quotes keep everything literal (newlines,
    backslashes, double quotes); a single quote itself is closed, given in double quotes, and
    reopened, as ``shlex.quote`` does. Always quoted; NUL dropped (it cannot cross the wire).
    """
    return "'" + value.replace("\0", "").replace("'", "'\"'\"'") + "'"


def review_command(build: FailedBuild, message: str, tag: str | None) -> str:
    parts = ["gerrit", "review", f"{build.change},{build.patchset}"]
    parts += ["--message", quote_arg(message), "--project", quote_arg(build.project)]
    if tag:
        parts += ["--tag", quote_arg(tag)]
    return " ".join(parts)


def review_url(http_url: str, build: FailedBuild) -> str:
    """``/a/changes/<project>~<number>/revisions/<patchset>/review`` (project %-encoded)."""
    change = f"{quote(build.project, safe='')}~{build.change}"
    return f"{http_url.rstrip('/')}/a/changes/{change}/revisions/{build.patchset}/review"


def review_body(message: str, tag: str | None) -> dict[str, str]:
    return {"message": message, "tag": tag} if tag else {"message": message}


# -- posting --------------------------------------------------------------------------------


class GerritReporter:
    """Comments on one server's reviews; ``await report(build, outcome)`` never raises."""

    def __init__(
        self, server: GerritServer, messages: Messages, *, state: StateStore | None = None
    ) -> None:
        self._server = server
        self._messages = messages
        self._state = state
        self._journal: set[tuple[str, str]] = set()  # without a state store
        # One check-post-journal at a time per key: check and gate racing on one patchset.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._last_error: str | None = None
        # The stream source's SSH client (bot.gerrit.ssh: key, known_hosts, timeouts).
        self._via_ssh = server.comment_via == "ssh"
        self._key = import_key(server) if self._via_ssh else None

    @property
    def name(self) -> str:
        return self._server.name

    async def report(self, build: FailedBuild, outcome: Outcome) -> ReportResult:
        try:
            return await self._report(build, outcome)
        except Exception as exc:  # a bug of ours: the pipeline must go on regardless
            log.exception("gerrit %s: commenting on %s failed", self.name, build.key)
            return ReportResult("failed", f"unexpected error: {exc}")

    async def _report(self, build: FailedBuild, outcome: Outcome) -> ReportResult:
        s = self._server
        if reason := skip_reason(s, build):
            return ReportResult("skipped", reason)
        text = format_review(
            build, outcome, self._messages, unrecognized_note=s.comment_unrecognized
        )
        if text is None:
            return ReportResult("skipped", "nothing to say")
        text = cap(text)
        room = Room("gerrit" if s.comment == "on" else "gerrit-dry-run", s.name)
        key = dedupe_key(build, outcome)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            return await self._say(build, text, key, room)

    async def _say(self, build: FailedBuild, text: str, key: str, room: Room) -> ReportResult:
        s = self._server
        if await self._delivered(key, room):
            return ReportResult("duplicate", f"already said on {build.change},{build.patchset}")
        if s.comment == "dry-run":
            log.info(
                "gerrit %s: dry-run: would comment on %s,%s (%s):\n%s",
                *(s.name, build.change, build.patchset, build.project, text),
            )
            await self._mark(key, room)
            return ReportResult("dry-run", key, text)
        # ReadableError: PostError and Gerrit's refusals (bot.gerrit's CommandFailed, GerritError).
        try:
            await self._post(build, text)
        except (ReadableError, asyncssh.Error, OSError, aiohttp.ClientError, TimeoutError) as exc:
            return self._failed(build, exc, text)
        await self._mark(key, room)
        if self._last_error is not None:
            log.info("gerrit %s: commenting works again", s.name)
            self._last_error = None
        log.info("gerrit %s: commented on %s,%s", s.name, build.change, build.patchset)
        return ReportResult("posted", key, text)

    def _failed(self, build: FailedBuild, exc: BaseException, text: str) -> ReportResult:
        reason = describe(exc)
        # Once per outage: the same error again is only a debug line.
        level = logging.DEBUG if reason == self._last_error else logging.WARNING
        self._last_error = reason
        where = f"{build.change},{build.patchset}"
        log.log(level, "gerrit %s: cannot comment on %s: %s", self.name, where, reason)
        return ReportResult("failed", reason, text)

    async def _post(self, build: FailedBuild, text: str) -> None:
        async with asyncio.timeout(self._server.comment_timeout):
            if self._via_ssh:
                await self._post_ssh(build, text)
            else:
                await self._post_rest(build, text)

    async def _post_ssh(self, build: FailedBuild, text: str) -> None:
        command = review_command(build, text, self._server.comment_tag)
        await run_command(self._server, self._key, command)

    async def _post_rest(self, build: FailedBuild, text: str) -> None:
        s = self._server
        if not (s.http_url and s.http_password):  # the settings validator requires both
            raise PostError("comment_via: rest needs http_url and http_password")
        async with open_session(s, timeout=s.comment_timeout) as http:
            url, body = review_url(s.http_url, build), review_body(text, s.comment_tag)
            answer = await request(http, "POST", url, json=body)
        try:
            decode_json(answer)
        except ValueError:
            raise PostError(f"not a review result: {answer[:120]!r}") from None

    async def _delivered(self, key: str, room: Room) -> bool:
        if self._state is not None:
            return await self._state.delivered(key, room.key)
        return (key, room.transport) in self._journal

    async def _mark(self, key: str, room: Room) -> None:
        if self._state is not None:
            await self._state.mark_delivered(key, room.key)
        else:
            self._journal.add((key, room.transport))


class GerritReporters:
    """The pipeline's hook: each build's comment goes through the reporter of its server."""

    def __init__(
        self,
        servers: Iterable[GerritServer],
        messages: Messages,
        *,
        state: StateStore | None = None,
    ) -> None:
        self._by_name = {s.name: GerritReporter(s, messages, state=state) for s in servers}

    async def report(self, build: FailedBuild, outcome: Outcome) -> ReportResult:
        reporter = self._by_name.get(build.server)
        if reporter is None:  # a replayed or MQTT build: no Gerrit to comment on
            return ReportResult("skipped", f"no gerrit server named {build.server}")
        return await reporter.report(build, outcome)
