"""``!top`` live: the whole bot (Gerrit SSH stand-in → osmem → ngIRCd and Synapse) judges a gate
failure, reads a developer's ``recheck`` from the Gerrit stream, and answers ``!top`` on IRC
and in a Matrix room with what the bug cost, counted by hand:

one failed gate build of openstack/nova whose failed job (``FAILURE in 42m 07s``: 2527 s, 42
min) matched bug 1541364, then a recheck on the same patchset: 1 failed build, 1 change, 1
recheck, 42 min CI, 1 gate failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import SearchSettings
from bot.demo.data import gerrit_event
from bot.impact_store import ImpactJournal
from bot.transports.ircformat import strip_formatting
from tests.support.peers import IrcPeer, only_notices
from tests.support.scenario import Scenario, on_irc_and_matrix, scenario
from tests.support.servers import IrcServer, SynapseServer

COST = (
    "1. bug 1541364: 1 failed build, 1 change, 1 recheck, 42 min CI, 1 gate failure"
    " · https://bugs.launchpad.net/bugs/1541364"
)


@pytest.fixture
async def run(tmp_path: Path, search_settings: SearchSettings) -> AsyncIterator[Scenario]:
    async with scenario(tmp_path, search_settings.url) as started:
        yield started


async def journaled_rechecks(journal: ImpactJournal, count: int) -> None:
    async with asyncio.timeout(20):
        # Polling, not an Event: the bot's intake task writes the journal.
        while len((await journal.facts(0)).rechecks) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_top_answers_on_irc_and_matrix_with_the_rechecked_gate_failure(
    run: Scenario, irc_server: IrcServer, synapse_server: SynapseServer
) -> None:
    nets = await on_irc_and_matrix(run, irc_server, synapse_server)
    nova, room, alice = nets.channel, nets.room, nets.alice
    failed = run.buildset("openstack/nova", "tempest-full-py3", "1541364")  # the gate queue
    await run.index_logs(failed)
    bob = await IrcPeer(irc_server).connect()
    await bob.join(nova)
    app = await run.start()
    assert app.parts is not None

    report = gerrit_event(failed)
    await run.gerrit.publish(report)
    await bob.expect("pubnotice", lambda e: e.target == nova)  # judged and announced
    recheck = {
        "type": "comment-added",
        "author": {"name": "Bob", "username": "bob"},
        "comment": f"Patch Set {failed.patchset}:\n\nrecheck",
        "change": {"project": failed.project, "number": int(failed.change)},
        "patchSet": {"number": int(failed.patchset)},
        "eventCreatedOn": report["eventCreatedOn"] + 60,
    }
    await run.gerrit.publish(recheck)
    await journaled_rechecks(app.parts.clients.impact, 1)

    bob.conn.privmsg(nova, "!top nova")
    said: list[str] = []
    while not any(line.startswith("1. ") for line in said):
        event = await bob.expect("pubmsg", lambda e: e.target == nova)
        said.append(strip_formatting(event.arguments[0]).removeprefix(f"{bob.nick}: "))
    assert said[0].startswith("costliest bugs over 7 d in nova (score: CI hours")
    page = f"{app.parts.dashboard_url}/bug/1541364"
    assert said[-1] == f"{COST} · {page}"

    asked = await alice.say(room, "!top")
    seen = await alice.events(lambda s: any(COST in e.body for _, e in only_notices(s)))
    (answer,) = [e for _, e in only_notices(seen) if COST in e.body]
    assert answer.body.startswith("costliest bugs over 7 d (score: CI hours")
    assert '<a href="https://bugs.launchpad.net/bugs/1541364">tracker</a>' in (
        answer.formatted_body
    )
    assert f'<a href="{page}">bug page</a>' in answer.formatted_body
    assert answer.source["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == asked
    bob.close()
    await alice.client.close()
