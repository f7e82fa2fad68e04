"""The Matrix transport: the bot on one Matrix account, on matrix-nio's ``AsyncClient``.

Two background jobs share one client: the sync sessions (long-poll ``/sync``, kept up by
:func:`bot.core.retry.keep_connected`) that turn room messages into :class:`Incoming` and
answer invitations, and a sender that delivers queued notices, one at a time, retrying through
outages with the same transaction id (so a retry never posts twice).
Encrypted rooms are skipped: the bot does not do end-to-end encryption.
"""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import nio

from bot.config import MatrixSettings
from bot.core.errors import describe
from bot.core.retry import Backoff, Link, keep_connected
from bot.transports.base import Health, Incoming, Room, Text, User, link_health
from bot.transports.matrix.client import (
    MatrixError,
    RoomUnavailable,
    checked,
    new_client,
    put_account_data,
    within,
)
from bot.transports.matrix.content import (
    answer_fields,
    image_content,
    localpart,
    notice_content,
    reply_thread,
    whisper_thread,
)
from bot.transports.matrix.rooms import RoomBook
from bot.transports.matrix.timeline import Arrivals, departure, invitation, thread_root
from bot.transports.queues import Inbox, Outbox

log = logging.getLogger(__name__)

T = TypeVar("T")
CLOSE_GRACE = 2.0  # seconds close() lets queued notices go out
INCOMING_MAX = 1000
BACKLOG_EVENTS = 100  # events per room the first sync brings: the backlog looked at
E2E = "it is encrypted, and the bot does not do end-to-end encryption"


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
        self._book = RoomBook()
        self._arrivals = Arrivals(settings.backlog)
        self._invitations: set[str] = set()  # rooms whose invitation was dealt with
        self._outbox: Outbox[_Notice] = Outbox()
        self._inbox = Inbox("matrix", INCOMING_MAX)
        self._link = Link()
        self._synced, self._tried = asyncio.Event(), asyncio.Event()  # a sync worked; 1st try over
        self._closing, self._first_sync_done = False, False

    # --- the Transport interface -----------------------------------------------------------

    async def connect(self) -> None:
        """Start the sync loop and the sender; returns after the first attempt to sync."""
        if self._client is not None:
            return
        self._client = new_client(self.settings)
        self._arrivals.start()
        syncing = keep_connected(
            self._sync_session, self._link, self._backoff(), healthy_after=0, on_down=self._on_down
        )
        self._tasks = [
            asyncio.create_task(syncing, name="matrix sync"),
            asyncio.create_task(self._sender(), name="matrix send"),
        ]
        await self._tried.wait()

    async def join(self, room: Room) -> None:
        self._book.want(room.id)
        if self._synced.is_set():
            try:
                await self._room_id(room.id)
            except Exception as exc:  # joined again with the next session
                log.warning("matrix: cannot join %s now: %s", room.id, describe(exc))

    async def send(self, room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        """Queue a notice for ``room``; a reply goes where ``threads`` says."""
        thread = reply_thread(reply_to, self.settings.threads) if reply_to else None
        self._queue(room.id, notice_content(text, answer_fields(reply_to, thread)))

    async def whisper(self, to: Incoming, text: Text) -> None:
        """Answer ``to`` out of the room's way: in a thread under it (or the thread it is in);
        in a direct chat, as a reply."""
        thread = whisper_thread(to, self.settings.threads)
        self._queue(to.room.id, notice_content(text, answer_fields(to, thread)))

    async def send_image(
        self, room: Room, png: bytes, filename: str, *, reply_to: Incoming | None = None
    ) -> None:
        """Upload a PNG and post it in ``room`` now (a chart: best effort, not journaled)."""
        room_id = await self._room_id(room.id)
        if room_id in self._book.encrypted:
            log.info("matrix: room %s is encrypted; image skipped", room.id)
            return
        upload, _ = await self._within(
            self._client.upload(
                io.BytesIO(png), content_type="image/png", filename=filename, filesize=len(png)
            )
        )
        if not isinstance(upload, nio.UploadResponse):
            raise RuntimeError(f"matrix: image upload refused: {upload}")
        thread = reply_thread(reply_to, self.settings.threads) if reply_to else None
        content = image_content(filename, upload.content_uri, png)
        content |= answer_fields(reply_to, thread)
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
        link = link_health(self._link, f"{s.homeserver} as {s.user_id}", closed=self._closing)
        return replace(link, rooms=self._book.rows())

    async def close(self) -> None:
        if self._closing:
            return
        if self._synced.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.flush(), CLOSE_GRACE)
            log.info("matrix: disconnected from %s (shutting down)", self.settings.homeserver)
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
        what = "disconnected from" if lasted else "cannot connect to"
        log.warning("matrix: %s %s: %s", what, homeserver, describe(exc))
        expired = isinstance(exc, MatrixError) and exc.code == "M_UNKNOWN_TOKEN"
        if expired and self.settings.password is not None:
            self._client.access_token = ""  # logged out elsewhere: log in again
        log.info("matrix: reconnecting to %s in %.1f s", homeserver, delay)

    async def _start_session(self) -> None:
        await self._login()
        for name in self._book.missing():
            with suppress(RoomUnavailable):
                await self._room_id(name)
        if not self._first_sync_done:
            # The first sync of a process: the rooms' state, where "now" is, and the latest
            # events of each room, among them the commands sent while the bot was down.
            limit = BACKLOG_EVENTS if self.settings.backlog else 1
            sync_filter = {"room": {"timeline": {"limit": limit}}}
            sync = self._client.sync(timeout=0, full_state=True, sync_filter=sync_filter)
            response = await self._call(sync)
            self._first_sync_done = True
            await self._take(response)
        await self._sync_once(0)  # a quick one: connected is only said after a sync worked
        log.info("matrix: connected to %s as %s", self.settings.homeserver, self._client.user_id)

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
        log.info("matrix: logged in as %s (device %s)", s.user_id, client.device_id)

    async def _sync_once(self, poll: float) -> None:
        """One ``/sync``, held open by the server up to ``poll`` seconds when nothing happens."""
        response = await self._call(self._client.sync(timeout=int(poll * 1000)), poll)
        self._link.up()
        self._synced.set()
        self._tried.set()
        await self._take(response)

    async def _take(self, response: Any) -> None:
        """What one sync brought: direct chats, messages, departures, invitations."""
        for data in response.account_data_events:
            if isinstance(data, nio.UnknownAccountDataEvent) and data.type == "m.direct":
                self._book.read_direct(data.content)
        own = self._client.user_id
        for room_id, info in response.rooms.join.items():
            room = self._client.rooms.get(room_id)
            if room is not None and room.encrypted:
                self._mark_encrypted(room_id)
            for event in self._arrivals.commands(info.timeline.events, own):
                self._hear(room_id, event)
        for room_id, info in response.rooms.leave.items():
            self._departed(room_id, departure([*info.state, *info.timeline.events], own))
        for room_id, info in response.rooms.invite.items():
            if room_id not in self._invitations:
                self._invitations.add(room_id)
                await self._invited(room_id, info.invite_state)

    def _hear(self, room_id: str, event: Any) -> None:
        """A command in ``room_id``: to the inbox, or parked while the room has no name."""
        name = self._book.names.get(room_id)
        room = self._client.rooms.get(room_id)
        members = room.member_count if room is not None else 0
        private = self._book.is_direct(room_id, members)
        if name is None and not private:
            self._book.park(room_id, event)
            return
        who = (room.user_name(event.sender) if room else None) or localpart(event.sender)
        thread = thread_root(event.source.get("content") or {})
        self._inbox.put(
            Incoming(
                Room("matrix", name or room_id),
                User("matrix", event.sender, who),
                event.body.strip(),
                event.event_id,
                private=private,
                thread_id=thread,
            )
        )

    # --- rooms -----------------------------------------------------------------------------

    async def _room_id(self, name: str) -> str:
        """The id of room ``name`` (configured: an id or alias; else a direct chat's id),
        joined first if need be."""
        if known := self._book.ids.get(name):
            return known
        if name not in self._book.ids and name in self._client.rooms:
            return name  # a direct chat
        try:
            response = await self._call(self._client.join(name), room=True)
        except MatrixError as exc:
            self._book.failed(name, describe(exc))
            raise
        room_id: str = response.room_id
        configured = name in self._book.ids
        if configured:
            self._book.joined(name, room_id)
            log.info("matrix: joined %s (%s)", name, room_id)
        if await self._is_encrypted(room_id):
            self._mark_encrypted(room_id)
        for event in self._book.release(room_id) if configured else ():
            self._hear(room_id, event)
        return room_id

    async def _is_encrypted(self, room_id: str) -> bool:
        state = self._client.room_get_state_event(room_id, "m.room.encryption")
        return isinstance(await self._within(state), nio.RoomGetStateEventResponse)

    def _mark_encrypted(self, room_id: str) -> None:
        if room_id not in self._book.encrypted:
            self._book.encrypted.add(room_id)
            name = self._book.names.get(room_id, room_id)
            log.warning("matrix: room %s is encrypted; skipped", name)

    def _departed(self, room_id: str, how: str) -> None:
        name = self._book.departed(room_id, how)
        self._invitations.discard(room_id)  # a new invitation is a new question
        if how == "left":
            log.info("matrix: left %s", name or room_id)
        else:
            log.warning("matrix: out of %s: %s", name or room_id, how)

    async def _invited(self, room_id: str, invite_state: list[Any]) -> None:
        """Accept a direct chat, or the invitation to a configured room; ignore the rest."""
        asked = invitation(invite_state, self._client.user_id)
        if asked is None:
            return
        if asked.direct and self.settings.direct_chats:
            await self._accept_direct(room_id, asked.inviter)
            return
        # Joined only as a configured room: now if it is one the bot is missing, else when
        # join() names it (the bot connects before it is told its rooms).
        log.info("matrix: invited to %s by %s", room_id, asked.inviter)
        for name in self._book.missing():
            with suppress(MatrixError):
                await self._room_id(name)

    async def _accept_direct(self, room_id: str, inviter: str) -> None:
        try:
            await self._call(self._client.join(room_id), room=True)
            if await self._is_encrypted(room_id):
                log.info("matrix: left the direct chat %s from %s: %s", room_id, inviter, E2E)
                await self._call(self._client.room_leave(room_id))
                return
            log.info("matrix: joined a direct chat with %s (%s)", inviter, room_id)
            direct = self._book.add_direct(inviter, room_id)
            await self._within(put_account_data(self._client, "m.direct", direct))
        except Exception as exc:  # the next invitation is another chance
            log.warning("matrix: direct chat %s from %s: %s", room_id, inviter, describe(exc))

    # --- the sender ------------------------------------------------------------------------

    def _queue(self, room: str, content: dict[str, Any]) -> None:
        self._outbox.put(_Notice(room, content, _txn()))

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
            if room_id in self._book.encrypted:
                log.info("matrix: room %s is encrypted; notice skipped", notice.room)
                return True
            send = self._client.room_send(
                room_id, "m.room.message", notice.content, tx_id=notice.txn
            )
            await self._call(send, room=True)
        except RoomUnavailable as exc:
            log.error("matrix: notice to %s dropped: %s", notice.room, exc)
        except Exception as exc:
            log.warning("matrix: notice to %s not sent yet: %s", notice.room, describe(exc))
            return False
        return True

    # --- HTTP ------------------------------------------------------------------------------

    async def _within(self, call: Awaitable[T], extra: float = 0.0) -> T:
        return await within(self.settings.request_timeout + extra, call)

    async def _call(self, call: Awaitable[Any], extra: float = 0.0, *, room: bool = False) -> Any:
        """``call`` under our timeout, an error response raised (:func:`checked`)."""
        return checked(await self._within(call, extra), room=room)


def _txn() -> str:
    return f"recheckbot-{uuid.uuid4().hex}"
