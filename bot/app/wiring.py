"""Factories for the app: event sources, chat transports and the chat dispatcher, from settings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from bot.config import GerritServer, Settings
from bot.core.logs import mask
from bot.events.source import EventSource
from bot.transports.base import Incoming, Room, Text, Transport
from bot.watch.routing import Routing

if TYPE_CHECKING:
    from bot.app.process import App
    from bot.chat.dispatcher import Dispatcher
    from bot.chat.services import Send
    from bot.state import StateStore
    from bot.watch.classify import Classifier

log = logging.getLogger(__name__)

Spawn = Callable[[str, Coroutine[Any, Any, None]], None]


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


async def build_transports(settings: Settings, routing: Routing) -> dict[str, Transport]:
    """Connect the transports the settings configure and join the rooms routed to them."""
    transports: dict[str, Transport] = {}
    if settings.console:
        from bot.transports.console import ConsoleTransport

        transports["console"] = ConsoleTransport()
    if settings.irc:
        from bot.transports.irc import IrcTransport

        transports["irc"] = IrcTransport(settings.irc)
    if settings.matrix:
        from bot.transports.matrix import MatrixTransport

        transports["matrix"] = MatrixTransport(settings.matrix)
    for name, transport in transports.items():
        await transport.connect()
        for room in routing.rooms:
            if room.transport == name:
                await transport.join(room)
    return transports


def start_chat(app: App, spawn: Spawn, state: StateStore, classifier: Classifier) -> Dispatcher:
    """Listen for chat commands on every transport and answer them through the dispatcher."""
    from bot.app.services import dispatcher_for

    dispatcher = dispatcher_for(app, state, classifier)
    for name, transport in app.transports.items():
        spawn(f"chat {name}", _listen(transport, dispatcher))
    return dispatcher


async def _listen(transport: Transport, dispatcher: Dispatcher) -> None:
    # dispatch() runs each command as its own task: a slow !query never stalls reading.
    send = masked_send(transport)
    async for message in transport.incoming():
        dispatcher.dispatch(message, send)


def masked_send(transport: Transport) -> Send:
    """``transport.send`` with configured secrets masked: a reply quoting an error (a URL with
    credentials, a server's message) never shows one in a room."""

    async def send(room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        clean = Text(
            mask(text.plain),
            mask(text.irc) if text.irc else text.irc,
            mask(text.html) if text.html else text.html,
        )
        await transport.send(room, clean, reply_to=reply_to)

    return send
