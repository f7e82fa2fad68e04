"""``!why`` on real networks: the whole bot judges a failed build (Gerrit SSH stand-in → osmem),
journals the lines its bug matched, and answers ``!why <change>`` on ngIRCd and on Synapse."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import SearchSettings
from bot.demo.data import DemoBuildset, DemoJob
from bot.transports.ircformat import strip_formatting
from tests.support.peers import IrcPeer, only_notices
from tests.support.scenario import Scenario, on_irc_and_matrix, scenario
from tests.support.servers import IrcServer, SynapseServer

BUG = "1745168"
UNKNOWN = "ERROR: the cinder volume service vanished mid-test"


@pytest.fixture
async def run(tmp_path: Path, search_settings: SearchSettings) -> AsyncIterator[Scenario]:
    async with scenario(tmp_path, search_settings.url) as started:
        yield started


def two_failures(run: Scenario) -> DemoBuildset:
    """A nova buildset with a known bug in one job and an unknown error in another."""
    known = run.buildset("openstack/nova", "nova-ceph-multistore", BUG)
    unknown = DemoJob("tempest-full-py3", uuid.uuid4().hex, "FAILURE", extra={"message": UNKNOWN})
    return replace(known, jobs=(*known.jobs, unknown))


def expected_reply(buildset: DemoBuildset, dashboard: str) -> list[str]:
    line = buildset.jobs[0].extra["message"]
    return [
        f"nova-ceph-multistore matched bug {BUG} on: `{line}` in job-output.txt"
        f" · {dashboard}/bug/{BUG}",
        "tempest-full-py3: no known bug (unrecognized)",
    ]


async def test_why_on_irc_and_matrix(
    run: Scenario, irc_server: IrcServer, synapse_server: SynapseServer
) -> None:
    nets = await on_irc_and_matrix(run, irc_server, synapse_server, ("positive", "negative"))
    nova, room, alice = nets.channel, nets.room, nets.alice
    buildset = two_failures(run)
    await run.index_logs(buildset)
    bob = await IrcPeer(irc_server).connect()
    await bob.join(nova)
    app = await run.start()
    assert app.parts is not None
    dashboard = app.parts.dashboard_url
    await run.publish(buildset)
    # Announced, so judged and journaled with its lines.
    announced = await bob.expect("pubnotice", lambda e: e.target == nova)
    assert buildset.change in announced.arguments[0]

    bob.conn.privmsg(nova, f"!why {buildset.change}")
    said = [strip_formatting((await bob.expect("pubmsg", lambda e: e.target == nova)).arguments[0])]
    said += [strip_formatting(t) for t in await bob.texts("pubmsg", 2)]
    head = f"{bob.nick}: {buildset.change},{buildset.patchset} openstack/nova (gate, "
    assert said[0].startswith(head)
    assert said[0].endswith(": 1 of 2 failed jobs explained")
    assert said[1:] == expected_reply(buildset, dashboard)

    # --all in the channel: every job, to bob alone (an IRC private message).
    bob.conn.privmsg(nova, f"!why {buildset.change} --all")
    apart = [strip_formatting(t) for t in await bob.texts("privmsg", 3)]
    assert apart[0].startswith(f"{buildset.change},{buildset.patchset} openstack/nova (gate, ")
    assert apart[1:] == expected_reply(buildset, dashboard)

    asked = await alice.say(room, f"!why {buildset.change},{buildset.patchset}")
    seen = await alice.events(
        lambda s: any(e.body.startswith(buildset.change) for _, e in only_notices(s))
    )
    (answer,) = [e for _, e in only_notices(seen) if e.body.startswith(buildset.change)]
    assert answer.body.splitlines()[1:] == expected_reply(buildset, dashboard)
    assert answer.source["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == asked
    html = answer.formatted_body
    assert html.startswith(f"<b>{buildset.change},{buildset.patchset}</b>")
    assert f"<br>nova-ceph-multistore matched bug {BUG} on: `" in html
    assert f'<a href="{dashboard}/bug/{BUG}">bug page</a>' in html
    bob.close()
    await alice.client.close()
