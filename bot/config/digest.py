"""The ``digest:`` section: a weekly digest in each room that asks for it.

Off by default: no ``schedule`` and no ``on_start``, no digest. A room takes it when its
channel in channels.yaml says ``digest: true`` or is named in ``rooms``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import Field, field_validator, model_validator

from bot.config.base import Section

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = {name: n for names in (DAYS, _NAMES) for n, name in enumerate(names)}
_WEEKLY = re.compile(r"([a-z]+)\s+([01]?\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class Weekly:
    """A time of the week, UTC: ``weekday`` 0 is Monday."""

    weekday: int
    hour: int
    minute: int

    def __str__(self) -> str:
        return f"{DAYS[self.weekday]} {self.hour:02d}:{self.minute:02d}"


def parse_weekly(text: str) -> Weekly:
    """``mon 09:00``, ``Monday 9:30`` → a :class:`Weekly`; ValueError says what is expected."""
    found = _WEEKLY.fullmatch(text.strip().lower())
    if found is None or found[1] not in _WEEKDAY:
        raise ValueError(f"{text!r} is no weekly time: a day and HH:MM in UTC, like 'mon 09:00'")
    return Weekly(_WEEKDAY[found[1]], int(found[2]), int(found[3]))


class DigestSettings(Section):
    """A weekly digest per room: its projects' costliest bugs, new clusters of uncategorized
    failures, queries that stopped hitting."""

    schedule: str | None = Field(
        None, description="when it goes out each week, UTC: 'mon 09:00' (none: never)"
    )
    on_start: bool = Field(
        False, description="also at start, when this week's has not gone out yet (the demo's)"
    )
    rooms: tuple[str, ...] = Field(
        (), description="channels.yaml channels that take it, besides those with digest: true"
    )
    days: int = Field(7, ge=1, le=31, description="days the digest looks back on")
    history_days: int = Field(
        14,
        ge=2,
        le=90,
        description="days searched for what is new and what stopped: a query with hits in "
        "them but none in the last `days` stopped hitting",
    )
    bugs: int = Field(3, ge=1, le=10, description="costliest bugs listed per room")
    clusters: int = Field(3, ge=0, le=10, description="new uncategorized clusters listed")

    @field_validator("schedule")
    @classmethod
    def _weekly(cls, value: str | None) -> str | None:
        return None if value is None else str(parse_weekly(value))

    @model_validator(mode="after")
    def _history_before_the_week(self) -> DigestSettings:
        if self.history_days <= self.days:
            raise ValueError("history_days must be more than days: what came before the week")
        return self

    @property
    def weekly(self) -> Weekly | None:
        return parse_weekly(self.schedule) if self.schedule else None

    @property
    def enabled(self) -> bool:
        return self.schedule is not None or self.on_start
