"""Reading what a ``/sync`` brings, pure: which timeline events are commands to answer, the
thread a message is in, what an invitation or a departure says. No I/O."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nio

ANSWERED_KEPT = 5000  # event ids of commands the bot was seen answering


def relation_of(content: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``m.relates_to`` of an event's content ({} when none, or not an object)."""
    relation = content.get("m.relates_to")
    return relation if isinstance(relation, Mapping) else {}


def thread_root(content: Mapping[str, Any]) -> str | None:
    """The root of the thread a message was sent in (None: not in a thread)."""
    relation = relation_of(content)
    root = relation.get("event_id")
    return root if relation.get("rel_type") == "m.thread" and isinstance(root, str) else None


def replied_to(content: Mapping[str, Any]) -> str | None:
    """The event a message replies to (in a thread or not), if any."""
    reply = relation_of(content).get("m.in_reply_to")
    target = reply.get("event_id") if isinstance(reply, Mapping) else None
    return target if isinstance(target, str) else None


def sent_at(source: Mapping[str, Any], now: float) -> float:
    """When an event was sent, on our clock.

    ``unsigned.age`` is measured on the homeserver's own clock, so ``now - age`` does not
    suffer from a skew between its clock and ours, as ``origin_server_ts`` would.
    """
    unsigned = source.get("unsigned")
    age = unsigned.get("age") if isinstance(unsigned, Mapping) else None
    if isinstance(age, int):
        return now - age / 1000
    stamp = source.get("origin_server_ts")
    return stamp / 1000 if isinstance(stamp, int) else now


@dataclass(frozen=True)
class Invitation:
    inviter: str
    direct: bool  # the inviter's client marked the room a direct chat (``is_direct``)


def invitation(invite_state: Sequence[Any], user_id: str) -> Invitation | None:
    """Who invited ``user_id``, from an invited room's stripped state."""
    for event in invite_state:
        if (
            isinstance(event, nio.InviteMemberEvent)
            and event.state_key == user_id
            and event.membership == "invite"
        ):
            return Invitation(event.sender, event.content.get("is_direct") is True)
    return None


def departure(events: Sequence[Any], user_id: str) -> str:
    """How ``user_id`` left a room, from the events of the leave: ``left``, ``kicked by @op
    (why)`` or ``banned by @op (why)``."""
    for event in reversed(events):
        if (
            isinstance(event, nio.RoomMemberEvent)
            and event.state_key == user_id
            and event.membership in ("leave", "ban")
        ):
            if event.sender == user_id:
                return "left"
            verb = "banned" if event.membership == "ban" else "kicked"
            reason = event.content.get("reason")
            return f"{verb} by {event.sender}" + (f" ({reason})" if reason else "")
    return "left"


class Arrivals:
    """Which timeline events are commands for the bot: none of its own, none it has answered,
    none sent more than ``backlog`` seconds before it started.

    The bot keeps no sync token, so a start's first sync shows each room's latest events, some
    sent while it was down. Those of the last ``backlog`` seconds are commands still to answer,
    unless the same timeline holds a reply of the bot to them (answered before a restart: a
    reply always comes after its command, so it is in the timeline whenever the command is).
    Later syncs bring each new event once.
    """

    def __init__(self, backlog: float, clock: Callable[[], float] = time.time) -> None:
        self.backlog = backlog
        self._clock = clock
        self.started = clock()
        self._answered: OrderedDict[str, None] = OrderedDict()

    def start(self) -> None:
        """The process (re)started now: the backlog is counted back from here."""
        self.started = self._clock()

    def commands(self, events: Sequence[Any], own_id: str) -> list[Any]:
        """The events of one room's timeline (oldest first) that are commands to answer."""
        own = (event for event in events if getattr(event, "sender", None) == own_id)
        for target in filter(None, (replied_to(e.source.get("content") or {}) for e in own)):
            self._remember(target)
        return [event for event in events if self._is_command(event, own_id)]

    def _is_command(self, event: Any, own_id: str) -> bool:
        if not isinstance(event, nio.RoomMessageText) or event.sender == own_id:
            return False
        if relation_of(event.source.get("content") or {}).get("rel_type") == "m.replace":
            return False  # an edit: the command it changes was taken as it first came
        if event.event_id in self._answered:
            return False
        return sent_at(event.source, self._clock()) >= self.started - self.backlog

    def _remember(self, event_id: str) -> None:
        self._answered[event_id] = None
        while len(self._answered) > ANSWERED_KEPT:
            self._answered.popitem(last=False)
