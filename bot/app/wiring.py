"""Factories for the app: event sources and chat transports, from settings."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.config import GerritServer, Settings
from bot.events.model import FailedBuild
from bot.events.parse import Skip, parse_event
from bot.events.source import EventSource, RawEvent
from bot.events.zuul_mqtt import parse_mqtt_message

log = logging.getLogger(__name__)


def to_failed_build(raw: RawEvent, ci_accounts: Sequence[str]) -> FailedBuild | Skip:
    """Parse a raw event of any source kind."""
    if raw.kind == "zuul-mqtt":
        return parse_mqtt_message(raw)
    return parse_event(raw, ci_accounts=list(ci_accounts))


def build_sources(settings: Settings) -> list[tuple[EventSource, list[str]]]:
    """Every configured event source with the CI accounts whose comments it trusts."""
    sources: list[tuple[EventSource, list[str]]] = []
    for server in settings.gerrit:
        sources.append((_gerrit_source(server), list(server.ci_usernames)))
    if settings.mqtt:
        from bot.events.zuul_mqtt import ZuulMqttSource

        sources += [(ZuulMqttSource(mqtt), []) for mqtt in settings.mqtt]
    watch = settings.watch
    if watch.replay:
        from bot.events.replay import ReplaySource

        replay = ReplaySource(watch.replay, server="demo", interval=watch.replay_interval)
        sources.append((replay, list(watch.ci_accounts)))
    return sources


def _gerrit_source(server: GerritServer) -> EventSource:
    if server.source == "rest":
        from bot.events.gerrit_rest import GerritRestPoller

        return GerritRestPoller(server)
    from bot.events.gerrit_ssh import GerritStreamSource

    return GerritStreamSource(server)
