"""Matrix transport on matrix-nio's ``AsyncClient``.

Two background jobs share one client: the sync sessions (long-poll ``/sync``, kept up by
:func:`bot.core.retry.keep_connected`) that turn room messages into :class:`Incoming`, and a
sender that delivers queued notices, one at a time, retrying through outages with the same
transaction id (so a retry never posts twice).
Encrypted rooms are skipped: the bot does not do end-to-end encryption. Every HTTP call runs
under a timeout of ours, because nio leaves some without one (a ``full_state`` sync).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import nio

from bot.config import MatrixSettings
from bot.core.errors import ReadableError, describe
from bot.core.retry import Backoff, Link, keep_connected
from bot.transports.base import Health, Incoming, Room, Text, User, link_health
from bot.transports.queues import Inbox, Outbox

log = logging.getLogger(__name__)

T = TypeVar("T")
CLOSE_GRACE = 2.0  # seconds close() lets queued notices go out
INCOMING_MAX = 1000
THREADS_KEPT = 1000  # event id → thread root, for threading replies to messages in threads
# The first sync only learns the rooms' state and where "now" is: no history is wanted.
FIRST_SYNC_FILTER = {"room": {"timeline": {"limit": 1}}}
# Errors that a retry will not fix: the notice is dropped (and logged).
PERMANENT = {"M_FORBIDDEN", "M_NOT_FOUND", "M_BAD_JSON", "M_NOT_JSON", "M_TOO_LARGE"}
PERMANENT |= {"M_INVALID_PARAM", "M_UNKNOWN"}


def notice_content(
    text: Text, reply_to: str | None = None, thread: str | None = None
) -> dict[str, Any]:
    """The ``m.room.message`` content of a notice; a reply goes in the thread of ``reply_to``.

    ``thread`` is the root of the thread ``reply_to`` is in, when it is in one. The
    ``m.in_reply_to`` fallback lets clients without thread support show it as a reply.
    """
    content: dict[str, Any] = {"msgtype": "m.notice", "body": text.plain}
    if text.html:
        content |= {"format": "org.matrix.custom.html", "formatted_body": text.html}
    if reply_to:
        content["m.relates_to"] = {
            "rel_type": "m.thread",
            "event_id": thread or reply_to,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": reply_to},
        }
    return content


def image_content(filename: str, url: str, size: int) -> dict[str, Any]:
    """The ``m.image`` content for an uploaded PNG."""
    info = {"mimetype": "image/png", "size": size}
    return {"msgtype": "m.image", "body": filename, "url": url, "info": info}


def localpart(user_id: str) -> str:
    return user_id.removeprefix("@").split(":", 1)[0]


@dataclass(frozen=True)
class _Notice:
    room: str  # as given: room id or alias
    content: dict[str, Any]
    txn: str


class MatrixTransport:
    """The bot on one Matrix account; see :class:`bot.transports.base.Transport`."""

    name = "matrix"

    def __init__(self, settings: MatrixSettings) -> None:
        self.settings = settings
        self._client: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._rooms: dict[str, str | None] = {}  # room as configured → room id once joined
        self._names: dict[str, str] = {}  # room id → room as configured
        self._encrypted: dict[str, bool] = {}  # room id → encrypted (checked on join)
        self._threads: OrderedDict[str, str] = OrderedDict()
        self._outbox: Outbox[_Notice] = Outbox()
        self._inbox = Inbox("Matrix", INCOMING_MAX)
        self._link = Link()
        self._synced, self._tried = asyncio.Event(), asyncio.Event()  # a sync worked; 1st try over
        self._closing, self._first_sync_done = False, False
        self._started = time.time()

    # --- the Transport interface -----------------------------------------------------------

    async def connect(self) -> None:
        """Start the sync loop and the sender; returns after the first attempt to sync."""
        if self._client is not None:
            return
        s = self.settings
        config = nio.AsyncClientConfig(
            max_timeouts=0,  # connection errors come to us: our loops own the backoff
            request_timeout=s.request_timeout,
            encryption_enabled=False,
            store_sync_tokens=False,
        )
        self._client = nio.AsyncClient(
            s.homeserver,
            s.user_id,
            s.device_id or "",
            config=config,
            ssl=None if s.verify_tls else False,
        )
        self._started = time.time()
        syncing = keep_connected(
            self._sync_session, self._link, self._backoff(), healthy_after=0, on_down=self._on_down
        )
        self._tasks = [
            asyncio.create_task(syncing, name="matrix sync"),
            asyncio.create_task(self._sender(), name="matrix send"),
        ]
        await self._tried.wait()

    async def join(self, room: Room) -> None:
        self._rooms.setdefault(room.id, None)
        if self._synced.is_set():
            try:
                await self._room_id(room.id)
            except Exception as exc:  # joined again with the next session
                log.warning("Matrix: cannot join %s now: %s", room.id, describe(exc))

    async def send(self, room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        """Queue a notice for ``room``; a reply to a message with an event id is threaded."""
        event = reply_to.event_id if reply_to is not None else None
        thread = self._threads.get(event) if event else None
        self._outbox.put(_Notice(room.id, notice_content(text, event, thread), _txn()))

    async def send_image(
        self, room: Room, png: bytes, filename: str, *, reply_to: Incoming | None = None
    ) -> None:
        """Upload a PNG and post it in ``room`` now (a chart: best effort, not journaled)."""
        room_id = await self._room_id(room.id)
        if self._encrypted.get(room_id):
            log.info("Matrix: room %s is encrypted; image skipped", room.id)
            return
        upload, _ = await self._client_call(
            self._client.upload(
                io.BytesIO(png), content_type="image/png", filename=filename, filesize=len(png)
            )
        )
        if not isinstance(upload, nio.UploadResponse):
            raise RuntimeError(f"Matrix: image upload refused: {upload}")
        content = image_content(filename, upload.content_uri, len(png))
        event = reply_to.event_id if reply_to is not None else None
        if event:
            relation = notice_content(Text.of(""), event, self._threads.get(event))
            content["m.relates_to"] = relation["m.relates_to"]
        await self._call(self._client.room_send(room_id, "m.room.message", content, tx_id=_txn()))

    async def flush(self) -> None:
        """Return once every notice queued so far was accepted by the homeserver (or dropped
        as undeliverable, which the sender logs)."""
        await self._outbox.flush()

    async def wait_connected(self) -> None:
        """Return once a sync worked since the link was last lost (at once when it has)."""
        await self._synced.wait()

    def incoming(self) -> AsyncIterator[Incoming]:
        return self._inbox.messages()

    def health(self) -> Health:
        s = self.settings
        return link_health(self._link, f"{s.homeserver} as {s.user_id}", closed=self._closing)

    async def close(self) -> None:
        if self._closing:
            return
        if self._synced.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.flush(), CLOSE_GRACE)
        self._closing = True
        self._synced.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
        self._inbox.close()

    # --- the sync sessions -----------------------------------------------------------------

    def _backoff(self) -> Backoff:
        limit = self.settings.reconnect_max_delay
        return Backoff(initial=min(1.0, limit), maximum=limit)

    async def _sync_session(self) -> None:
        """One session, for keep_connected: log in, then sync until a sync fails.

        Each sync that works keeps the link up; a failure after one (``healthy_after=0``) is
        retried after the initial delay, as a homeserver restart is worth trying again soon.
        """
        await self._start_session()
        while True:
            await self._sync_once(self.settings.sync_timeout)

    def _on_down(self, exc: BaseException, delay: float, lasted: float) -> None:
        self._synced.clear()
        self._tried.set()
        homeserver = self.settings.homeserver
        log.warning("Matrix %s: %s", homeserver, describe(exc))
        expired = isinstance(exc, _MatrixError) and exc.code == "M_UNKNOWN_TOKEN"
        if expired and self.settings.password is not None:
            self._client.access_token = ""  # logged out elsewhere: log in again
        log.info("Matrix %s: retrying in %.1f s", homeserver, delay)

    async def _start_session(self) -> None:
        await self._login()
        for name in list(self._rooms):
            with suppress(_RoomUnavailable):
                await self._room_id(name)
        if not self._first_sync_done:
            # This sync learns the rooms' state and where "now" is; its timeline is history.
            sync = self._client.sync(timeout=0, full_state=True, sync_filter=FIRST_SYNC_FILTER)
            await self._call(sync)
            self._first_sync_done = True
        await self._sync_once(0)  # a quick one: connected is only said after a sync worked
        log.info("Matrix: connected to %s as %s", self.settings.homeserver, self.settings.user_id)

    async def _login(self) -> None:
        client, s = self._client, self.settings
        if client.access_token:
            return
        if s.access_token is not None:
            client.access_token = s.access_token.get_secret_value()
            try:
                who = await self._call(client.whoami())
            except Exception:
                client.access_token = ""
                raise
            device = s.device_id or who.device_id or ""
            client.restore_login(s.user_id, device, client.access_token)
        else:
            password = s.password.get_secret_value() if s.password else ""
            await self._call(client.login(password, device_name=s.device_name))
        log.info("Matrix: logged in as %s (device %s)", s.user_id, client.device_id)

    async def _sync_once(self, poll: float) -> None:
        """One ``/sync``, held open by the server up to ``poll`` seconds when nothing happens."""
        response = await self._call(self._client.sync(timeout=int(poll * 1000)), poll)
        self._link.up()
        self._synced.set()
        self._tried.set()
        for room_id, info in response.rooms.join.items():
            if self._client.rooms.get(room_id) and self._client.rooms[room_id].encrypted:
                self._mark_encrypted(room_id)
            for event in info.timeline.events:
                self._on_event(room_id, event)

    def _on_event(self, room_id: str, event: Any) -> None:
        if not isinstance(event, nio.RoomMessageText) or room_id not in self._names:
            return
        relation = event.source.get("content", {}).get("m.relates_to") or {}
        if relation.get("rel_type") == "m.thread":
            self._remember_thread(event.event_id, relation.get("event_id", event.event_id))
        if event.sender == self._client.user_id or relation.get("rel_type") == "m.replace":
            return  # our own echo; an edit of an old message
        if self._sent_before_start(event):
            return
        room = self._client.rooms.get(room_id)
        name = (room.user_name(event.sender) if room else None) or localpart(event.sender)
        user = User("matrix", event.sender, name)
        room_name = Room("matrix", self._names[room_id])
        self._inbox.put(Incoming(room_name, user, event.body.strip(), event.event_id))

    def _sent_before_start(self, event: Any) -> bool:
        """Whether ``event`` predates this process (the history a newly joined room shows).

        The server's ``unsigned.age`` is measured on its own clock, so ``now - age`` does not
        suffer from clock skew between the homeserver and us; ``origin_server_ts`` might.
        """
        age = event.source.get("unsigned", {}).get("age")
        sent = time.time() - age / 1000 if isinstance(age, int) else event.server_timestamp / 1000
        return bool(sent < self._started)

    def _remember_thread(self, event_id: str, root: str) -> None:
        self._threads[event_id] = root
        while len(self._threads) > THREADS_KEPT:
            self._threads.popitem(last=False)

    # --- rooms -----------------------------------------------------------------------------

    async def _room_id(self, name: str) -> str:
        """The id of room ``name`` (an id or alias), joined first if need be."""
        if known := self._rooms.get(name):
            return known
        response = await self._call(self._client.join(name), room=True)
        room_id: str = response.room_id
        self._rooms[name], self._names[room_id] = room_id, name
        state = await self._client_call(
            self._client.room_get_state_event(room_id, "m.room.encryption")
        )
        if isinstance(state, nio.RoomGetStateEventResponse):
            self._mark_encrypted(room_id)
        log.info("Matrix: joined %s (%s)", name, room_id)
        return room_id

    def _mark_encrypted(self, room_id: str) -> None:
        if not self._encrypted.get(room_id):
            self._encrypted[room_id] = True
            log.warning("Matrix: room %s is encrypted; skipped", self._names.get(room_id, room_id))

    # --- the sender ------------------------------------------------------------------------

    async def _sender(self) -> None:
        """Deliver the oldest notice, retrying it (paused by a backoff) until it goes out."""
        backoff = self._backoff()
        while True:
            notice = await self._outbox.oldest()
            while not await self._deliver(notice):
                await asyncio.sleep(backoff.next_delay())
                await self._synced.wait()
            self._outbox.done(notice)
            backoff.reset()

    async def _deliver(self, notice: _Notice) -> bool:
        """Send one notice; False when it should be tried again later."""
        try:
            room_id = await self._room_id(notice.room)
            if self._encrypted.get(room_id):
                log.info("Matrix: room %s is encrypted; notice skipped", notice.room)
                return True
            await self._call(
                self._client.room_send(room_id, "m.room.message", notice.content, tx_id=notice.txn),
                room=True,
            )
        except _RoomUnavailable as exc:
            log.error("Matrix: notice to %s dropped: %s", notice.room, exc)
        except Exception as exc:
            log.warning("Matrix: notice to %s not sent yet: %s", notice.room, describe(exc))
            return False
        return True

    # --- HTTP ------------------------------------------------------------------------------

    async def _client_call(self, call: Awaitable[T], extra: float = 0.0) -> T:
        """``call`` under our timeout (nio's own timeout does not cover every request)."""
        async with asyncio.timeout(self.settings.request_timeout + extra):
            return await call

    async def _call(self, call: Awaitable[Any], extra: float = 0.0, *, room: bool = False) -> Any:
        """``call`` under our timeout; an error response raises :class:`_MatrixError`, or for a
        ``room`` call (join, send) :class:`_RoomUnavailable` when retrying will not help."""
        response = await self._client_call(call, extra)
        if isinstance(response, nio.ErrorResponse):
            problem = str(response)  # "LoginError: M_FORBIDDEN Invalid username or password"
            code = response.status_code
            if room and code in PERMANENT:
                raise _RoomUnavailable(problem, code)
            raise _MatrixError(problem, code)
        return response


class _MatrixError(ReadableError):
    """The homeserver answered with an error (its message is readable); it may pass."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code  # "M_FORBIDDEN", "M_UNKNOWN_TOKEN" …


class _RoomUnavailable(_MatrixError):
    """Joining or sending to a room failed for good (not invited, no such room, no right)."""


def _txn() -> str:
    return f"recheckbot-{uuid.uuid4().hex}"
