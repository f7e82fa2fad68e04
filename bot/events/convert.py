"""Raw events → failed builds: one parser per raw event kind, in one table.

A source tags each :class:`~bot.events.source.RawEvent` with its ``kind``; :data:`PARSERS` says
which pure parser turns that kind into a :class:`~bot.events.model.FailedBuild` or a
:class:`~bot.events.parse.Skip`. A source bringing a new kind of event adds its parser here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from bot.events.model import FailedBuild
from bot.events.parse import Skip, parse_event
from bot.events.source import RawEvent
from bot.events.zuul_mqtt import parse_mqtt_message

#: ``(raw event, CI accounts whose comments count) → FailedBuild | Skip``; never raises.
Parser = Callable[[RawEvent, Collection[str]], FailedBuild | Skip]

PARSERS: Mapping[str, Parser] = {
    # A stream-events object (SSH, events-log, REST poll, replay): a CI account's comment.
    "gerrit": lambda raw, ci_accounts: parse_event(raw, ci_accounts=ci_accounts),
    # Zuul's own report: structured, trusted as it is (no accounts to check).
    "zuul-mqtt": lambda raw, _ci_accounts: parse_mqtt_message(raw),
}


def to_failed_build(raw: RawEvent, ci_accounts: Collection[str]) -> FailedBuild | Skip:
    """``raw`` as a failed build, or a Skip saying why not; an unknown kind is a Skip too."""
    parser = PARSERS.get(raw.kind)
    if parser is None:
        known = ", ".join(sorted(PARSERS))
        return Skip(f"no parser for events of kind {raw.kind!r} (known: {known})")
    return parser(raw, ci_accounts)
