"""The event sources the settings configure, built by a registry keyed by source kind.

:func:`sources_from` gives each source with the CI accounts whose comments it trusts, and hands
each its ``since`` (the newest ``eventCreatedOn`` the app kept for that source name), so a
restart can catch up on what happened while the bot was down.

A new event source touches:

* its module here in ``bot/events/`` (a class with ``name``, ``events()`` and ``status``, see
  :class:`~bot.events.source.EventSource`; connections in :func:`bot.core.retry.reconnecting`);
* its settings in ``bot/config/events.py`` and a line in :func:`configured` below;
* :data:`BUILDERS` below: one entry;
* :data:`bot.events.convert.PARSERS`: one entry, if its events are of a new ``kind``;
* its tests (``tests/test_<source>.py``, against a real server or a stand-in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from bot.config import GerritServer, MqttSettings, Settings, WatchSettings
from bot.events.source import EventSource

#: ``(its settings, since per source name) → the source``. Imports are lazy: a bot without MQTT
#: never loads the MQTT client.
Builder = Callable[[Any, Mapping[str, float]], EventSource]


def _ssh(server: GerritServer, since: Mapping[str, float]) -> EventSource:
    from bot.events.gerrit_ssh import GerritStreamSource

    return GerritStreamSource(server, since=since.get(server.name))


def _rest(server: GerritServer, since: Mapping[str, float]) -> EventSource:
    from bot.events.gerrit_rest import GerritRestPoller

    return GerritRestPoller(server, since=since.get(server.name))


def _mqtt(mqtt: MqttSettings, since: Mapping[str, float]) -> EventSource:
    from bot.events.zuul_mqtt import ZuulMqttSource

    return ZuulMqttSource(mqtt)  # a broker has no history to catch up from


def _replay(watch: WatchSettings, since: Mapping[str, float]) -> EventSource:
    from bot.events.replay import ReplaySource

    assert watch.replay is not None  # configured() lists the replay only when it is set
    return ReplaySource(watch.replay, server="demo", interval=watch.replay_interval)


BUILDERS: Mapping[str, Builder] = {"ssh": _ssh, "rest": _rest, "mqtt": _mqtt, "replay": _replay}


def configured(settings: Settings) -> Iterator[tuple[str, Any, list[str]]]:
    """``(source kind, its settings, trusted CI accounts)`` for each configured source, in the
    order of the settings."""
    for server in settings.gerrit:
        yield server.source, server, list(server.ci_usernames)
    for mqtt in settings.mqtt:
        yield "mqtt", mqtt, []  # Zuul's own reports: no accounts to check
    if settings.watch.replay:
        yield "replay", settings.watch, list(settings.watch.ci_accounts)


def sources_from(
    settings: Settings, since: Mapping[str, float] | None = None
) -> list[tuple[EventSource, list[str]]]:
    """Every configured event source with the CI accounts whose comments it trusts.

    ``since``: per source name, an ``eventCreatedOn`` to catch up from (Gerrit sources; the
    others have nothing to catch up from and ignore it).
    """
    since = since or {}
    return [
        (BUILDERS[kind](config, since), accounts) for kind, config, accounts in configured(settings)
    ]
