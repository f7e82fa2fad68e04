"""The rooms the Matrix bot knows, as plain bookkeeping (no I/O): the configured rooms and how
the bot is in each, the direct chats, and commands waiting for their room to be named.

A room is *direct* (``Incoming.private``) when it is no configured room, the bot accepted an
invitation to it marked ``is_direct`` (it records those in its ``m.direct`` account data, as
Element does, so they stay direct across restarts), and nobody but the bot and one other user
is in it. A third member makes it an ordinary room, whose messages the bot does not take.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

PARKED_KEPT = 100  # events per room waiting for the room to be named
ENCRYPTED = "joined, but encrypted: skipped (the bot does not do end-to-end encryption)"


class RoomBook:
    """What the transport knows of its rooms; it joins, and tells this book what happened."""

    def __init__(self) -> None:
        self.ids: dict[str, str | None] = {}  # room as configured → room id once joined
        self.names: dict[str, str] = {}  # room id → room as configured
        self.encrypted: set[str] = set()  # room ids
        self._states: dict[str, str] = {}  # room as configured → how the bot is in it
        self._direct: dict[str, list[str]] = {}  # m.direct: user id → direct room ids
        self._direct_rooms: set[str] = set()
        self._parked: dict[str, deque[Any]] = {}  # room id → events of an unnamed room

    # --- configured rooms ----------------------------------------------------------------------

    def want(self, name: str) -> None:
        """``name`` (an id or alias from channels.yaml) is a room to be in."""
        self.ids.setdefault(name, None)
        self._states.setdefault(name, "joining")

    def joined(self, name: str, room_id: str) -> None:
        self.ids[name], self.names[room_id] = room_id, name
        self._states[name] = "joined"

    def failed(self, name: str, why: str) -> None:
        if name in self.ids:
            self._states[name] = f"not joined: {why}"

    def departed(self, room_id: str, how: str) -> str | None:
        """The bot is out of ``room_id`` (``how``: left, kicked by…); its configured name, if
        it has one: the next send or session joins it again."""
        name = self.names.get(room_id)
        if name is not None:
            self.ids[name] = None
            self._states[name] = f"not joined: {how}"
        return name

    def missing(self) -> list[str]:
        """Configured rooms the bot is not in (yet, or any more)."""
        return [name for name, room_id in self.ids.items() if room_id is None]

    def rows(self) -> tuple[tuple[str, str], ...]:
        """Each configured room and how the bot is in it: ``Health.rooms``."""
        return tuple(
            (name, ENCRYPTED if room_id in self.encrypted else self._states[name])
            for name, room_id in self.ids.items()
        )

    # --- direct chats ----------------------------------------------------------------------

    def read_direct(self, content: Mapping[str, Any]) -> None:
        """The bot's ``m.direct`` account data, as the homeserver has it now."""
        self._direct = {
            user: [room for room in rooms if isinstance(room, str)]
            for user, rooms in content.items()
            if isinstance(rooms, list)
        }
        self._direct_rooms = {room for rooms in self._direct.values() for room in rooms}

    def add_direct(self, user_id: str, room_id: str) -> dict[str, list[str]]:
        """Record ``room_id`` as a direct chat with ``user_id``; the ``m.direct`` to save."""
        rooms = self._direct.setdefault(user_id, [])
        if room_id not in rooms:
            rooms.append(room_id)
        self._direct_rooms.add(room_id)
        return {user: list(rooms) for user, rooms in self._direct.items()}

    def is_direct(self, room_id: str, members: int) -> bool:
        return room_id not in self.names and room_id in self._direct_rooms and members <= 2

    # --- commands in rooms not named yet ------------------------------------------------------

    def park(self, room_id: str, event: Any) -> None:
        """Keep an event of a room that is neither configured nor direct, in case it is a
        configured room not joined by name yet: the bot connects (and takes its backlog)
        before it is told its rooms."""
        self._parked.setdefault(room_id, deque(maxlen=PARKED_KEPT)).append(event)

    def release(self, room_id: str) -> list[Any]:
        """The events parked for ``room_id``, now that it has a name."""
        return list(self._parked.pop(room_id, ()))
