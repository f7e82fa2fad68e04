"""The weekly digest on real networks: the whole bot (``digest.on_start``) tells an IRC channel
on ngIRCd and a Matrix room on Synapse what their week cost, from a journaled gate failure, a
cluster of new uncategorized failures and a query that stopped hitting (logs on osmem); started
again, it sends nothing more."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app.process import App
from bot.config import SearchSettings
from bot.impact_store import BugLabel, ImpactJournal, JudgedBuild, JudgedJob
from bot.transports.ircformat import strip_formatting
from tests.support.peers import IrcPeer, MatrixPeer, irc_settings, matrix_bot, only_notices, unique
from tests.support.scenario import Scenario, scenario
from tests.support.servers import IrcServer, SynapseServer

STOPPED = "1708704"
UNKNOWN = "ERROR: rsync: connection unexpectedly closed (0 bytes received so far)"
LP = "https://bugs.launchpad.net/bugs/1541364"
DIGEST_TASK = "weekly digest"


@pytest.fixture
async def run(tmp_path: Path, search_settings: SearchSettings) -> AsyncIterator[Scenario]:
    async with scenario(tmp_path, search_settings.url) as started:
        yield started


async def journal_a_gate_failure(path: Path) -> None:
    """What the bot journaled two days ago: a nova gate failure on bug 1541364, 42 min of CI."""
    journal = await ImpactJournal.open(path)
    created = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    job = JudgedJob("tempest-full-py3", 2527.0, ("launchpad:1541364",))
    build = JudgedBuild(
        "opendev/900001,1/gate", created, "opendev", "900001", "1", "openstack/nova", "gate", (job,)
    )
    await journal.add_judged(build, [BugLabel("launchpad:1541364", "1541364", LP, None)])
    await journal.close()


async def index_the_week(run: Scenario) -> None:
    """A stopped query's hits of nine days ago, and two nova gate builds failing alike."""
    stopped = run.buildset("openstack/nova", "tempest-full-py3", STOPPED)
    stopped = replace(stopped, started=datetime.now(UTC) - timedelta(days=9))
    alike = []
    for hours in (30, 20):
        failing = run.buildset("openstack/nova", "grenade", None)
        jobs = (replace(failing.jobs[0], extra={"message": UNKNOWN}), *failing.jobs[1:])
        started = datetime.now(UTC) - timedelta(hours=hours)
        alike.append(replace(failing, jobs=jobs, started=started, change=str(hours)))
    await run.index_logs(stopped, *alike)


async def digest_done(caplog: pytest.LogCaptureFixture, runs: int) -> None:
    """The app's digest task has ended ``runs`` times (on start only: it ends once it sent
    what it had to), as the app's task group logs it."""
    finished = f"{DIGEST_TASK} finished"
    async with asyncio.timeout(60):
        # Polling, not an Event: the app's task group logs when the task ends.
        while sum(r.getMessage() == finished for r in caplog.records) < runs:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_the_digest_on_irc_and_matrix_once(
    run: Scenario,
    irc_server: IrcServer,
    synapse_server: SynapseServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.app.process")
    nova = unique("#nova")
    matrix = matrix_bot(synapse_server)
    alice = await MatrixPeer(synapse_server).login()
    room = await alice.create_room(matrix["user_id"])
    run.irc = irc_settings(irc_server, nick=unique("rb")).model_dump()
    run.matrix = matrix
    run.channels = {
        nova: {"projects": ["nova"], "events": ["positive"], "digest": True},
        "m": {"transport": "matrix", "room": room, "projects": ["all"], "events": ["positive"]},
    }
    run.extra = {"digest": {"on_start": True, "rooms": ["m"]}}
    await journal_a_gate_failure(run.workdir / "state.sqlite")
    await index_the_week(run)
    bob = await IrcPeer(irc_server).connect()
    await bob.join(nova)

    app = await run.start()
    assert app.parts is not None
    dashboard = app.parts.dashboard_url
    said = [strip_formatting(t) for t in await bob.texts("pubnotice", 4)]
    assert said[0].startswith(f"weekly digest for {nova}: the 7 days to ")
    assert said[0].endswith(f" UTC · {dashboard}")
    assert said[1] == (
        "1. bug 1541364: 1 failed build, 1 change, 0 rechecks, 42 min CI, 1 gate failure"
    )
    assert said[2].startswith("new uncategorized failures: c-")
    assert f" (2 builds, grenade: {UNKNOWN[:60]}…) · !suggest <id>" in said[2]
    assert (
        said[3]
        == f"stopped hitting (no hit in 7 d, hits before): bug {STOPPED} (1 hits, last 9 d ago)"
    )

    seen = await alice.events(lambda s: any("weekly digest" in e.body for _, e in only_notices(s)))
    (digest,) = [e for _, e in only_notices(seen) if "weekly digest" in e.body]
    assert digest.body.splitlines()[0].startswith("weekly digest for m: the 7 days to ")
    html = digest.formatted_body
    assert f'1. <a href="{dashboard}/bug/1541364">bug 1541364</a>: 1 failed build' in html
    assert f'<a href="{dashboard}/uncategorized.html">new uncategorized failures</a>' in html
    assert f'<a href="{dashboard}/bug/{STOPPED}">bug {STOPPED}</a> (1 hits' in html
    await digest_done(caplog, 1)
    await run.stop()

    # Started again the same week: the journal says both rooms had it.
    again = App(run.settings(), announce=lambda line: None)
    stop = asyncio.Event()
    running = asyncio.create_task(again.run(stop))
    async with asyncio.timeout(60):
        await again.ready.wait()
    await digest_done(caplog, 2)
    # What the bot says next in the channel is the answer to this, not a second digest.
    marker = uuid.uuid4().hex[:8]
    bob.conn.privmsg(nova, f"!bug {marker}")
    before, reply = await until_reply(bob, nova)
    assert marker in strip_formatting(reply.arguments[0])
    assert [e for e in before if e.type == "pubnotice"] == []
    stop.set()
    await running
    bob.close()
    await alice.client.close()


async def until_reply(peer: IrcPeer, channel: str) -> tuple[list[Any], Any]:
    """Everything that reached ``peer`` before the bot's next message in ``channel``, and it."""
    seen = []
    async with asyncio.timeout(30):
        while (event := await peer.events.get()).type != "pubmsg" or event.target != channel:
            seen.append(event)
    return seen, event
