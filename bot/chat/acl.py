"""Who may run which chat command.

A command's level (``anyone`` / ``admin``, overridable per command in the settings) and the
configured admins, matched on identities a user cannot simply claim: IRC ``nick!user@host``
masks and services accounts, Matrix user ids, the room they speak in. Display names never count.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.config.chat import ChatSettings, Level, Principals
from bot.transports.base import Room, User
from bot.transports.ircformat import fold as irc_fold

TRANSPORTS = ("irc", "matrix", "console")


@functools.lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    # Only * and ?: fnmatch's [classes] would misread nicks like "alice[m]" and "[afk]bob".
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def glob_match(pattern: str, value: str, *, irc: bool = False) -> bool:
    """``value`` matches the ``*``/``?`` glob; IRC names compare case-insensitively."""
    if irc:
        pattern, value = irc_fold(pattern), irc_fold(value)
    return _glob_regex(pattern).fullmatch(value) is not None


def room_matches(pattern: str, room: Room) -> bool:
    """``#chan`` matches that room on any transport; ``matrix:!id:server`` only on Matrix."""
    transport, sep, rest = pattern.partition(":")
    if sep and transport in TRANSPORTS:
        if room.transport != transport:
            return False
        pattern = rest
    return glob_match(pattern, room.id, irc=room.transport == "irc")


def is_member(who: Principals, user: User, room: Room) -> bool:
    """``user`` (speaking in ``room``) is one of ``who``."""
    if any(room_matches(pattern, room) for pattern in who.rooms):
        return True
    if user.transport == "irc":
        return _irc_member(who, user)
    if user.transport == "matrix":
        return any(glob_match(pattern, user.id) for pattern in who.matrix_users)
    return user.transport == "console" and who.console


def _irc_member(who: Principals, user: User) -> bool:
    if user.account and any(glob_match(p, user.account, irc=True) for p in who.irc_accounts):
        return True
    # A mask needs the full nick!user@host; a bare nick (no "!") is never trusted.
    return "!" in user.id and any(glob_match(p, user.id, irc=True) for p in who.irc_masks)


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
    """Whose bucket a message draws from.

    The services account when known; on IRC otherwise ``user@host`` without the nick, so that
    changing nick does not refill the bucket.
    """
    if user.account:
        return f"{user.transport}:account:{irc_fold(user.account)}"
    if user.transport == "irc" and "!" in user.id:
        return f"irc:{irc_fold(user.id.partition('!')[2])}"
    return f"{user.transport}:{user.id}"
