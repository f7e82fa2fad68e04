"""Synced query repos in the whole bot (Gerrit SSH stand-in → osmem → ngIRCd and Synapse): a
git source over ``file://`` followed on a schedule, a bad commit kept back while the old
queries go on classifying (the admin room told once), a good commit picked up without a
restart, and ``!queries`` / ``!sync`` answered on IRC and in a Matrix room."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import irc.client
import pytest

from bot.app.process import App
from bot.config import SearchSettings
from bot.queries import load_queries
from bot.transports.ircformat import strip_formatting
from commands.queries import shorten
from tests.support.gitrepo import Remote, query
from tests.support.peers import IrcPeer, MatrixPeer, irc_settings, matrix_bot, only_notices, unique
from tests.support.polling import until
from tests.support.scenario import Scenario, scenario
from tests.support.servers import IrcServer, SynapseServer

FIRST = {"queries/1000001.yaml": query("Quota of the disk exceeded in the gate")}
SECOND = {"queries/1000002.yaml": query("Mirror answered with an empty package list")}
BROKEN = {"queries/1000003.yaml": "query: message:(unbalanced\n"}
KEPT_BACK = "queries from upstream: commit {sha} kept back: 1000003.yaml: "


@pytest.fixture
async def run(tmp_path: Path, search_settings: SearchSettings) -> AsyncIterator[Scenario]:
    async with scenario(tmp_path, search_settings.url) as started:
        yield started


def follow(run: Scenario, remote: Remote, minutes: float, **chat: object) -> None:
    """The bot's settings: the git source first, the scenario's directory after it."""
    run.extra = {
        "query_sources": [
            {"name": "upstream", "git": remote.url},
            {"name": "local", "dir": str(run.queries)},
        ],
        "query_sync": {"interval_minutes": minutes, "timeout": 30},
        "chat": chat,
    }


def known(run: Scenario, remote: Remote) -> None:
    """The remote's queries, so that :meth:`Scenario.buildset` writes logs they match."""
    run.by_id |= {q.id: q for q in load_queries(remote.work / "queries").queries}


async def has_query(app: App, query_id: str) -> None:
    assert app.parts is not None
    store = app.parts.clients.store
    await until(lambda: query_id in store.by_id, f"query {query_id} in use", seconds=30)


async def announced(peer: IrcPeer, channel: str, change: str) -> str:
    event = await peer.expect(
        "pubnotice", lambda e: e.target == channel and change in e.arguments[0]
    )
    return strip_formatting(event.arguments[0])


async def said(peer: IrcPeer, channel: str, text: str, *, first: str) -> list[str]:
    """The bot's lines in ``channel`` after ``text``, from the one starting with ``first``."""
    peer.conn.privmsg(channel, text)
    lines: list[str] = []
    while not lines:
        event = await peer.expect("pubmsg", lambda e: e.target == channel)
        line = strip_formatting(event.arguments[0]).removeprefix(f"{peer.nick}: ")
        if line.startswith(first):
            lines.append(line)
    return lines


def told(peer: IrcPeer, channel: str, sha: str) -> int:
    notice = KEPT_BACK.format(sha=sha[:7])
    return sum(f" {channel} :" in line and notice in line for line in peer.raw)


async def test_the_running_bot_follows_the_git_source_and_keeps_a_bad_commit_back(
    run: Scenario, irc_server: IrcServer, remote: Remote
) -> None:
    channel, nick = unique("#qa"), unique("rb")
    run.irc = irc_settings(irc_server, nick=nick).model_dump()
    run.channels = {channel: {"projects": ["all"], "events": ["positive", "negative"]}}
    follow(run, remote, 0.03, admin_room=channel, admins={"irc_masks": ["*!*@*"]})
    remote.commit(FIRST)
    known(run, remote)
    bob = await IrcPeer(irc_server).connect()
    await bob.join(channel)
    app = await run.start()
    assert app.parts is not None
    assert app.parts.queries is not None
    await bob.expect("join", lambda e: irc.client.NickMask(e.source).nick == nick)
    await has_query(app, "1000001")  # the first sync, right at start

    one = run.buildset("openstack/nova", "tempest-full-py3", "1000001")
    await run.index_logs(one)
    await run.publish(one)
    assert "https://bugs.launchpad.net/bugs/1000001" in await announced(bob, channel, one.change)

    bad = await asyncio.to_thread(remote.commit, {**BROKEN, **SECOND})
    await until(lambda: told(bob, channel, bad) == 1, "the admin room told", seconds=30)
    sync = app.parts.queries.sync
    assert sync is not None
    runs = sync.runs
    await until(lambda: sync.runs >= runs + 2, "two more scheduled syncs", seconds=30)
    assert told(bob, channel, bad) == 1  # once per bad commit, however often it is fetched
    store = app.parts.clients.store
    assert "1000002" not in store.by_id
    assert "1000001" in store.by_id
    # The old queries go on classifying.
    again = run.buildset("openstack/nova", "tempest-full-py3", "1000001")
    await run.index_logs(again)
    await run.publish(again)
    assert "https://bugs.launchpad.net/bugs/1000001" in await announced(bob, channel, again.change)

    fixed = await asyncio.to_thread(remote.commit, {"queries/1000003.yaml": None})
    known(run, remote)
    await has_query(app, "1000002")  # the scheduled sync, no restart
    two = run.buildset("openstack/nova", "tempest-full-py3", "1000002")
    await run.index_logs(two)
    await run.publish(two)
    assert "https://bugs.launchpad.net/bugs/1000002" in await announced(bob, channel, two.change)

    (line,) = await said(bob, channel, "!queries", first="1. ")
    assert line.startswith(f"1. upstream ({shorten(remote.url)}): commit {fixed[:7]} from ")
    assert ", 2 queries, fetched " in line
    (synced,) = await said(bob, channel, "!sync", first="upstream: ")
    assert synced == f"upstream: still at {fixed[:7]}, 2 queries"
    bob.close()


async def test_queries_and_sync_in_a_matrix_room(
    run: Scenario, synapse_server: SynapseServer, remote: Remote
) -> None:
    first = remote.commit(FIRST)
    matrix = matrix_bot(synapse_server)
    alice = await MatrixPeer(synapse_server).login()
    room = await alice.create_room(matrix["user_id"])
    run.matrix = matrix
    run.channels = {
        "m": {"transport": "matrix", "room": room, "projects": ["all"], "events": ["positive"]}
    }
    # Syncs only when asked: the schedule's next run is an hour away.
    follow(run, remote, 60, admin_room="m", admins={"matrix_users": [alice.user_id]})
    app = await run.start()
    await has_query(app, "1000001")

    await alice.say(room, "!queries")
    seen = await alice.events(lambda s: any("upstream (" in e.body for _, e in only_notices(s)))
    (listing,) = [e.body for _, e in only_notices(seen) if "upstream (" in e.body]
    assert f"1. upstream ({shorten(remote.url)}): commit {first[:7]} from " in listing
    assert "2. local (" in listing

    bad = await asyncio.to_thread(remote.commit, BROKEN)
    asked = await alice.say(room, "!sync")
    seen = await alice.events(lambda s: sum("kept back" in e.body for _, e in only_notices(s)) >= 2)
    bodies = [e.body for _, e in only_notices(seen)]
    (reply,) = [b for b in bodies if b.startswith("queries synced")]
    assert f"upstream: kept back a commit, still at {first[:7]}, 1 queries; commit {bad[:7]}: " in (
        reply
    )
    assert sum(b.startswith(KEPT_BACK.format(sha=bad[:7])) for b in bodies) == 1  # the admin room
    replies = [e for _, e in only_notices(seen) if e.body.startswith("queries synced")]
    assert replies[0].source["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == asked
    await alice.client.close()


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "upstream")
