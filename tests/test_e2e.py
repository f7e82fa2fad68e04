"""The whole bot end to end: Gerrit SSH stand-in → osmem → ngIRCd and Synapse.

Failed builds are announced where channels.yaml routes them and nowhere else; a second client
on each network reads the exact text; chat commands sent by them are answered; and the bot
reconnects after ngIRCd and Synapse restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import SearchSettings
from bot.transports.ircformat import strip_formatting
from tests.support.peers import IrcPeer, MatrixPeer, irc_settings, matrix_bot, only_notices, unique
from tests.support.scenario import STORAGE_BUG, Scenario, on_irc_and_matrix, scenario
from tests.support.servers import IrcServer, SynapseServer

LP = "https://bugs.launchpad.net/bugs/"


@pytest.fixture
async def run(tmp_path: Path, search_settings: SearchSettings) -> AsyncIterator[Scenario]:
    async with scenario(tmp_path, search_settings.url) as started:
        yield started


async def irc_peer(server: IrcServer, *channels: str) -> IrcPeer:
    peer = await IrcPeer(server).connect()
    for channel in channels:
        await peer.join(channel)
    return peer


async def notices_in(peer: IrcPeer, channel: str, count: int) -> list[str]:
    texts = []
    for _ in range(count):
        event = await peer.expect("pubnotice", lambda e: e.target == channel)
        texts.append(event.arguments[0])
    return texts


async def get_metrics(dashboard: str) -> dict[str, float]:
    """``/metrics`` as ``{name{labels}: value}``."""
    async with aiohttp.ClientSession() as http, http.get(f"{dashboard}/metrics") as reply:
        text = await reply.text()
    samples = (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    return {name: float(value) for name, value in samples}


async def test_failed_builds_reach_exactly_their_rooms_and_commands_are_answered(
    run: Scenario, irc_server: IrcServer, synapse_server: SynapseServer
) -> None:
    nova, qa, glance = unique("#nova"), unique("#qa"), unique("#glance")
    matrix = matrix_bot(synapse_server)
    alice = await MatrixPeer(synapse_server).login()
    nova_room = await alice.create_room(matrix["user_id"])
    storage_room = await alice.create_room(matrix["user_id"])
    run.irc = irc_settings(irc_server, nick=unique("rb")).model_dump()
    run.matrix = matrix
    run.channels = {
        nova: {"projects": ["nova"], "events": ["positive"]},
        qa: {"projects": ["all"], "events": ["negative"]},
        glance: {"projects": ["glance"], "events": ["positive"]},
        "nova-matrix": {
            "transport": "matrix",
            "room": nova_room,
            "projects": ["openstack/nova"],
            "events": ["positive"],
        },
        "storage": {
            "transport": "matrix",
            "room": storage_room,
            "projects": ["none"],
            "teams": ["storage"],
            "events": ["positive"],
        },
    }
    known = run.buildset("openstack/nova", "tempest-full-py3", "1541364")
    unknown = run.buildset("openstack/glance", "grenade", None)
    storage = run.buildset("openstack/cinder", "cinder-tempest", STORAGE_BUG)
    await run.index_logs(known, unknown, storage)
    bob = await irc_peer(irc_server, nova, qa, glance)
    app = await run.start()

    for buildset in (known, unknown, storage):
        await run.publish(buildset)

    assert app.parts is not None
    pages = f"{app.parts.dashboard_url}/bug/"
    (said,) = await notices_in(bob, nova, 1)
    assert strip_formatting(said) == (
        f"openstack/nova change: https://review.example.org/c/openstack/nova/+/{known.change} "
        f"failed in the gate queue because of: tempest-full-py3: {LP}1541364"
        f" (bug page: {pages}1541364)"
    )
    (negative,) = await notices_in(bob, qa, 1)
    assert strip_formatting(negative).startswith(
        f"openstack/glance change: https://review.example.org/c/openstack/glance/+/{unknown.change}"
        " failed grenade in the gate queue with an unrecognized error (see http://127.0.0.1:"
    )

    seen = await alice.events(lambda s: len(only_notices(s)) >= 2)
    by_room = dict(only_notices(seen))
    assert by_room[nova_room].body.startswith("openstack/nova change: ")
    assert f'<a href="{LP}1541364">bug 1541364</a>' in by_room[nova_room].formatted_body
    assert f'<a href="{pages}1541364">bug page</a>' in by_room[nova_room].formatted_body
    assert f'<a href="{pages}{STORAGE_BUG}">bug page</a>' in by_room[storage_room].formatted_body
    assert by_room[storage_room].body.startswith("openstack/cinder change: ")
    assert STORAGE_BUG in by_room[storage_room].body
    assert "iSCSI target vanishes under load" in by_room[storage_room].body

    # Chat: a second client asks on each network and reads the answer.
    bob.conn.privmsg(nova, "!query 1541364")
    reply = await bob.expect("pubmsg", lambda e: e.target == nova)
    assert strip_formatting(reply.arguments[0]).startswith(
        f"{bob.nick}: bug 1541364 over 7 d: 1 hits"
    )
    asked = await alice.say(nova_room, "!query 1541364")
    answers = await alice.events(
        lambda s: any(e.body.startswith("bug 1541364") for _, e in only_notices(s))
    )
    (answer,) = [e for _, e in only_notices(answers) if e.body.startswith("bug 1541364")]
    assert answer.body.startswith("bug 1541364 over 7 d: 1 hits in 1 builds, 1 failed (100%)")
    assert answer.source["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == asked

    # Nothing went where it was not routed: #glance heard nothing, #qa no positive.
    assert app.parts is not None
    await asyncio.sleep(1)
    stray = [e for e in bob.raw if f"NOTICE {glance} " in e]
    assert stray == []
    qa_notices = [e for e in bob.raw if f"NOTICE {qa} " in e]
    assert len(qa_notices) == 1

    # What the operator sees of it: every announcement counted, the round trips made.
    metrics = await get_metrics(app.parts.dashboard.url)
    assert metrics['recheckbot_announcements_total{result="sent"}'] >= 4
    assert metrics['recheckbot_announcements_total{result="given-up"}'] == 0
    assert metrics['recheckbot_search_requests_total{kind="classification"}'] >= 1
    assert metrics['recheckbot_builds_finished_total{result="judged"}'] >= 2
    bob.close()
    await alice.client.close()


async def test_bot_reconnects_after_irc_and_synapse_restart(
    run: Scenario,
    irc_server_factory: Any,
    synapse_server: SynapseServer,
) -> None:
    irc_server = irc_server_factory()
    nets = await on_irc_and_matrix(run, irc_server, synapse_server)
    nova, alice = nets.channel, nets.alice
    first = run.buildset("openstack/nova", "tempest-full-py3", "1541364")
    second = run.buildset("openstack/nova", "nova-ceph-multistore", "1745168")
    await run.index_logs(first, second)
    bob = await irc_peer(irc_server, nova)
    await run.start()
    await run.publish(first)
    assert first.change in (await notices_in(bob, nova, 1))[0]
    await alice.events(lambda s: len(only_notices(s)) >= 1)
    bob.close()

    irc_server.restart()
    synapse_server.restart()
    bob = await irc_peer(irc_server, nova)
    await run.publish(second)
    (after,) = await notices_in(bob, nova, 1)
    assert second.change in after
    assert "1745168" in after
    seen = await alice.events(lambda s: any(second.change in e.body for _, e in only_notices(s)))
    assert any("1745168" in e.body for _, e in only_notices(seen))
    bob.close()
    await alice.client.close()
