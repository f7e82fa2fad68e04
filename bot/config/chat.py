"""The ``chat:`` section of the settings: command prefix, limits, admins, rate limits.

Defaults suit a busy upstream channel: everyone may run the cheap commands with bounded
arguments, the costly ones (``!refresh``, wide ``!query`` windows) are for the admins listed here.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bot.config.base import Section

#: Who may run a command: everyone, or the configured admins only.
Level = Literal["anyone", "admin"]

#: Fields a chat user's Lucene may name: the log document's, minus the time (that is --days).
DEFAULT_QUERY_FIELDS = (
    "message",
    "filename",
    "tags",
    "build_name",
    "build_status",
    "build_queue",
    "build_branch",
    "build_change",
    "build_patchset",
    "build_uuid",
    "build_short_uuid",
    "project",
    "voting",
    "node_provider",
    "module",
    "loglevel",
)


class Principals(Section):
    """A set of people; matching any entry is enough. Display names never count: anyone can
    take one. Globs use ``*`` and ``?`` only (``[`` is literal: bridged nicks end in ``[m]``).
    """

    irc_masks: tuple[str, ...] = Field((), description="nick!user@host globs: '*!*@trusted.host'")
    irc_accounts: tuple[str, ...] = Field((), description="IRC services accounts (SASL)")
    matrix_users: tuple[str, ...] = Field((), description="'@alice:example.org', '@*:example.org'")
    rooms: tuple[str, ...] = Field(
        (), description="everyone speaking in these rooms: '#infra-ops', 'matrix:!id:server'"
    )
    console: bool = Field(True, description="the local console: the operator at the terminal")


class RateLimit(Section):
    """A token bucket: ``burst`` tokens when full, refilled at ``per_minute``."""

    burst: float = Field(gt=0)
    per_minute: float = Field(gt=0)


class ChatSettings(Section):
    """How the bot answers chat commands."""

    prefix: str = Field("!", description="what starts a command: '!query ...'")
    address_by_name: bool = Field(True, description="also answer 'botnick: query ...'")
    rooms: tuple[str, ...] = Field(
        (),
        description="answer commands only in these rooms (globs; private messages are always "
        "answered); empty: everywhere",
    )
    admins: Principals = Field(default_factory=lambda: Principals())
    admin_room: str | None = Field(
        None,
        description="the channels.yaml channel that hears what admins must fix (a query "
        "commit kept back)",
    )
    acl: dict[str, Level] = Field(
        default_factory=dict, description="per-command level overrides: {refresh: anyone}"
    )
    lucene_acl: Level = Field(
        "anyone", description="who may search free-form Lucene with !query (bug ids: anyone)"
    )
    default_days: int = Field(7, ge=1)
    max_days: int = Field(14, ge=1, description="--days cap for everyone")
    admin_max_days: int = Field(90, ge=1, description="--days cap for admins")
    max_message_length: int = Field(1000, ge=50, description="longer messages are refused")
    max_query_length: int = Field(300, ge=10)
    max_query_terms: int = Field(20, ge=1)
    min_wildcard_prefix: int = Field(3, ge=1, description="characters before a trailing *")
    max_phrase_slop: int = Field(5, ge=0, description='largest N in "a b"~N')
    query_fields: tuple[str, ...] = DEFAULT_QUERY_FIELDS
    search_timeout: float = Field(10.0, gt=0, description="server-side search timeout, seconds")
    command_timeout: float = Field(30.0, gt=0, description="seconds a command may run")
    max_concurrent: int = Field(4, ge=1, description="commands running at once, all users")
    uncat_queue: str | None = Field("gate", description="queue !uncat looks at (None: all)")
    uncat_items: int = Field(5, ge=1, le=10)
    # A lookup (!query, !uncat, !bug) costs 2: six in a row, then five a minute, per person;
    # the room's bucket lets two or three people do that at once.
    user_rate: RateLimit = Field(
        RateLimit(burst=12, per_minute=10),
        description="each person's bucket (services account, else nick and host)",
    )
    room_rate: RateLimit = Field(
        RateLimit(burst=30, per_minute=30), description="each room's bucket, shared by everyone"
    )
    refusal_cost: float = Field(
        1.0,
        gt=0,
        description="tokens a refused command costs (bad input, unknown command, not allowed) "
        "instead of its own price",
    )
    admins_skip_user_rate: bool = Field(True, description="admins still share the room's bucket")

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[^\w\s]{1,3}", value):
            raise ValueError("must be 1 to 3 punctuation characters, like '!'")
        return value

    @model_validator(mode="after")
    def _check_days(self) -> ChatSettings:
        if not self.default_days <= self.max_days <= self.admin_max_days:
            raise ValueError("need default_days <= max_days <= admin_max_days")
        return self
