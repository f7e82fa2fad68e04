"""Who may run which chat command.

A command's level (``anyone`` / ``admin``, overridable per command in the settings) and the
configured admins, matched on identities a user cannot simply claim: IRC ``nick!user@host``
masks and services accounts, Matrix user ids, the room they speak in. Display names never count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.config.chat import ChatSettings, Level, Principals
from bot.transports.base import Room, User
from bot.transports.registry import TRANSPORTS, kind_of


def room_matches(pattern: str, room: Room) -> bool:
    """``#chan`` matches that room on any transport; ``matrix:!id:server`` only on Matrix."""
    transport, sep, rest = pattern.partition(":")
    if sep and transport in TRANSPORTS:
        if room.transport != transport:
            return False
        pattern = rest
    return kind_of(room.transport).matches(pattern, room.id)


def is_member(who: Principals, user: User, room: Room) -> bool:
    """``user`` (speaking in ``room``) is one of ``who``."""
    if any(room_matches(pattern, room) for pattern in who.rooms):
        return True
    return kind_of(user.transport).is_principal(who, user)


@dataclass(frozen=True)
class Acl:
    """The command levels in force and the people who are admins."""

    admins: Principals
    overrides: Mapping[str, Level] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: ChatSettings) -> Acl:
        return cls(settings.admins, dict(settings.acl))

    def level(self, command: str, default: Level) -> Level:
        return self.overrides.get(command, default)

    def is_admin(self, user: User, room: Room) -> bool:
        return is_member(self.admins, user, room)

    def allows(self, command: str, default: Level, user: User, room: Room) -> bool:
        return self.level(command, default) == "anyone" or self.is_admin(user, room)


def user_key(user: User) -> str:
    """Whose rate bucket a message draws from (see :meth:`TransportKind.user_key`)."""
    return kind_of(user.transport).user_key(user)
