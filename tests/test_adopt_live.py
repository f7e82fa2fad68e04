"""``!adopt`` live: the whole bot (osmem with uncategorized failures, ngIRCd, Synapse) adopts a
cluster's verified query on IRC and in a Matrix room: a dry run shows the file and the push
command and pushes nothing; ``--propose`` pushes a change to a local bare repository that takes
``refs/for/master`` as Gerrit does (tests.support.gerritrepo) and replies with its URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.app.process import App
from bot.config import SearchSettings, Settings
from bot.intel import find_clusters
from bot.queries import load_queries
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.transports.ircformat import strip_formatting
from tests.support.clusters import documents, seed_builds
from tests.support.gerritrepo import PROJECT, REVIEW, QueryRemote
from tests.support.peers import IrcPeer, MatrixPeer, irc_settings, matrix_bot, only_notices, unique
from tests.support.scenario import Scenario, scenario
from tests.support.servers import IrcServer, SynapseServer

CHANGE = f"{REVIEW}/c/{PROJECT}/+/"


@pytest.fixture
async def run(tmp_path: Path, search_settings: SearchSettings) -> AsyncIterator[Scenario]:
    async with scenario(tmp_path, search_settings.url) as started:
        yield started


async def verified_cluster(run: Scenario) -> str:
    """Index the clustering scenario's builds; the id of a cluster with a verified query, as
    the bot will find it (its queries, !adopt's default 7 days, the gate)."""
    backend = OpenSearchBackend(Settings().search.model_copy(update={"url": run.search_url}))
    try:
        await bulk_index(backend.client, documents(seed_builds(5)))
        queries = load_queries(run.queries).queries
        report = await find_clusters(backend, queries, days=7, queue="gate")
    finally:
        await backend.close()
    return next(c.id for c in report.clusters if report.suggestions[c.id].verified)


async def until_in(bob: IrcPeer, channel: str, nick: str) -> None:
    async with asyncio.timeout(20):
        while True:
            bob.conn.names([channel])
            event = await bob.expect("namreply")
            if nick in event.arguments[-1].replace("@", "").split():
                return
            await asyncio.sleep(0.1)


async def until_joined(app: App, room: str) -> None:
    assert app.parts is not None
    matrix = app.parts.clients.transports["matrix"]
    async with asyncio.timeout(20):
        while (room, "joined") not in matrix.health().rooms:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def said(bob: IrcPeer, channel: str, last: Callable[[str], bool]) -> list[str]:
    """The bot's lines to ``bob`` in ``channel`` up to the one ``last`` accepts."""
    lines: list[str] = []
    while not lines or not last(lines[-1]):
        event = await bob.expect("pubmsg", lambda e: e.target == channel)
        lines.append(strip_formatting(event.arguments[0]).removeprefix(f"{bob.nick}: "))
    return lines


async def test_adopt_on_irc_and_matrix_dry_run_then_a_gerrit_change(
    run: Scenario, irc_server: IrcServer, synapse_server: SynapseServer, tmp_path: Path
) -> None:
    (tmp_path / "git").mkdir()
    remote = QueryRemote(tmp_path / "git", {"queries/1541364.yaml": "query: x\n"}, gerrit=True)
    cluster = await verified_cluster(run)
    nova = unique("#nova")
    matrix = matrix_bot(synapse_server)
    alice = await MatrixPeer(synapse_server).login()
    room = await alice.create_room(matrix["user_id"])
    bob = await IrcPeer(irc_server).connect()
    await bob.join(nova)
    run.irc = irc_settings(irc_server, nick=unique("rb")).model_dump()
    run.matrix = matrix
    run.channels = {
        nova: {"projects": ["nova"], "events": ["positive"]},
        "m": {"transport": "matrix", "room": room, "projects": ["nova"], "events": ["positive"]},
    }
    admins = {"irc_masks": [f"{bob.nick}!*@*"], "matrix_users": [alice.user_id]}
    run.extra = {"chat": {"admins": admins}, "propose": {"remote": remote.url}}
    app = await run.start()
    await until_in(bob, nova, run.irc["nick"])
    await until_joined(app, room)

    # IRC: the dry run, then the real proposal.
    bob.conn.privmsg(nova, f"!adopt {cluster} 1234567")
    lines = await said(bob, nova, lambda line: line.startswith("then: "))
    assert lines[0] == (
        f"{cluster} → bug 1234567 · dry run: queries/1234567.yaml would be proposed "
        "(add --propose to push it):"
    )
    assert lines[1].strip().startswith("query: ")
    assert lines[-1] == f"then: git push {remote.url} HEAD:refs/for/master%topic=recheckbot"
    assert remote.changes() == []
    bob.conn.privmsg(nova, f"!adopt {cluster} 1234567 --propose")
    (line,) = await said(bob, nova, lambda line: "proposed" in line)
    assert line == f"{cluster} → bug 1234567: proposed queries/1234567.yaml · {CHANGE}1"
    (first,) = remote.changes()
    assert "queries/1234567.yaml" in remote.files(first.commits[0])

    # Matrix: the dry run's file in a code block, then a change linked.
    await alice.say(room, f"!adopt {cluster} jira:OSPRH-12")
    seen = await alice.events(lambda s: any("dry run" in e.body for _, e in only_notices(s)))
    (dry,) = [e for _, e in only_notices(seen) if "dry run" in e.body]
    assert "<pre><code>query: " in dry.formatted_body
    assert dry.body.endswith(f"then: git push {remote.url} HEAD:refs/for/master%topic=recheckbot")
    asked = await alice.say(room, f"!adopt {cluster} jira:OSPRH-12 --propose")
    seen = await alice.events(lambda s: any("proposed" in e.body for _, e in only_notices(s)))
    (answer,) = [e for _, e in only_notices(seen) if "proposed" in e.body]
    assert answer.body == f"{cluster} → jira OSPRH-12: proposed queries/OSPRH-12.yaml · {CHANGE}2"
    assert f'<a href="{CHANGE}2">change</a>' in answer.formatted_body
    assert answer.source["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == asked
    assert [c.number for c in remote.changes()] == [1, 2]
    bob.close()
    await alice.client.close()
