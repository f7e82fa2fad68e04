"""Who may run which chat command, and how often.

ACL: a command's level (``anyone`` / ``admin``, overridable per command in the settings) and the
configured admins, matched on identities a user cannot simply claim: IRC ``nick!user@host``
masks and services accounts, Matrix user ids, the room they speak in. Display names never count.

Rate limits: token buckets per user and per room; a command takes its ``rate`` in tokens from
both, or from neither.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.config.chat import ChatSettings, Level, Principals, RateLimit
from bot.transports.base import Room, User

TRANSPORTS = ("irc", "matrix", "console")

# RFC 1459 casemapping, what most IRC networks use: []\~ are the upper case of {}|^.
_IRC_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^")


def irc_fold(text: str) -> str:
    """``text`` in IRC's case-insensitive form."""
    return text.translate(_IRC_FOLD)


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


def room_key(room: Room) -> str:
    return f"{room.transport}:{room.id}"


@dataclass
class TokenBucket:
    """``burst`` tokens when full, ``per_second`` refilled; starts full."""

    burst: float
    per_second: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now

    def wait_for(self, cost: float) -> float:
        """Seconds until ``cost`` tokens are there (0: now). A cost above burst costs burst."""
        missing = min(cost, self.burst) - self.tokens
        return max(0.0, missing / self.per_second)

    def take(self, cost: float) -> None:
        self.tokens -= min(cost, self.burst)


class RateLimiter:
    """Per-user and per-room token buckets; tells a user to wait once per wait, not per line."""

    MAX_BUCKETS = 5000  # beyond this, full (idle) buckets are forgotten

    def __init__(
        self, user: RateLimit, room: RateLimit, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = {"user": user, "room": room}
        self._buckets: dict[str, TokenBucket] = {}
        self._warned_until: dict[str, float] = {}
        self._clock = clock

    def check(self, user: str, room: str, cost: float, *, skip_user: bool = False) -> float:
        """Take ``cost`` from both buckets and return 0, or take nothing and return the wait."""
        now = self._clock()
        buckets = [self._bucket("room", room, now)]
        if not skip_user:
            buckets.append(self._bucket("user", user, now))
        wait = max(bucket.wait_for(cost) for bucket in buckets)
        if wait == 0:
            for bucket in buckets:
                bucket.take(cost)
        return wait

    def should_warn(self, user: str, wait: float) -> bool:
        """True the first time a user hits the limit; then silent until the wait is over, so a
        flood of commands does not become a flood of "please wait" replies."""
        now = self._clock()
        if self._warned_until.get(user, 0.0) > now:
            return False
        self._warned_until[user] = now + wait
        return True

    def _bucket(self, kind: str, key: str, now: float) -> TokenBucket:
        name = f"{kind}:{key}"
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= self.MAX_BUCKETS:
                self._forget_idle(now)
            limit = self._limits[kind]
            bucket = TokenBucket(limit.burst, limit.per_minute / 60.0, limit.burst, now)
            self._buckets[name] = bucket
        bucket.refill(now)
        return bucket

    def _forget_idle(self, now: float) -> None:
        for name, bucket in list(self._buckets.items()):
            bucket.refill(now)
            if bucket.tokens >= bucket.burst:
                del self._buckets[name]
        self._warned_until = {k: t for k, t in self._warned_until.items() if t > now}
