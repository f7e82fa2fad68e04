"""No event is lost across a restart: the bot journals where each Gerrit source was, and after a
restart catches up from there through the events-log plugin.

The bot is a real process (``recheckbot run``) against the Gerrit SSH stand-in (stream-events
and events-log), osmem and ngIRCd; a second IRC client counts the announcements.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from bot.demo.data import DemoBuildset, gerrit_event
from tests.support.botproc import BotProcess, IrcWatcher, finished, irc_config, journal, until
from tests.support.gerrit import GerritStandIn
from tests.support.peers import unique
from tests.support.scenario import Scenario
from tests.support.servers import IrcServer


async def publish_now(gerrit: GerritStandIn, buildset: DemoBuildset) -> None:
    """Report ``buildset`` now: the catch-up reads the events-log from the last event seen, so
    reports must come in time order (the demo dates its reports otherwise)."""
    await gerrit.publish(gerrit_event(buildset) | {"eventCreatedOn": int(time.time())})


async def test_events_while_the_bot_is_down_are_announced_once_after_a_restart(
    tmp_path: Path, osmem_url: str, irc_server_factory: Callable[..., IrcServer]
) -> None:
    irc = irc_server_factory()
    channel = unique("#nova")
    async with GerritStandIn() as gerrit:
        run = Scenario(tmp_path, gerrit, osmem_url)
        config = irc_config(
            run, irc, channel, "positive", send_interval=0.01, reconnect_max_delay=1.0
        )
        state = tmp_path / "state.sqlite"
        watcher = await IrcWatcher(irc, channel).connect()
        bot = BotProcess(config, tmp_path / "bot.log")
        before = run.buildset("openstack/nova", "tempest-full-py3", "1541364")
        during = [run.buildset("openstack/nova", "tempest-full-py3", "1541364") for _ in range(3)]
        await run.index_logs(before, *during)
        try:
            await bot.start()
            await gerrit.wait_for_streams(1, seconds=30)
            await publish_now(gerrit, before)
            await until(lambda: finished(state, before.change), "the first build announced")
            # The position is saved every few seconds: wait for it, then die without warning.
            await until(lambda: bool(journal(state, "SELECT * FROM positions")), "position")
            bot.kill()

            await asyncio.sleep(1.1)  # the reports come after the saved position, whole seconds
            for buildset in during:
                await publish_now(gerrit, buildset)

            await bot.start()
            for buildset in during:
                await until(lambda b=buildset: finished(state, b.change), f"{buildset.change}")
            await asyncio.sleep(1)  # room for a duplicate to show up, were there one
            counts = [watcher.count(channel, b.change) for b in (before, *during)]
            assert counts == [1, 1, 1, 1]
            assert gerrit.events_log_requests  # caught up through the plugin
            assert await bot.stop() == 0
        finally:
            bot.kill()
            watcher.close()


async def test_sigterm_with_a_build_pending_exits_within_five_seconds(
    tmp_path: Path, osmem_url: str, irc_server_factory: Callable[..., IrcServer]
) -> None:
    """``docker stop`` / ``podman stop`` wait 10 s before SIGKILL; the bot is out well before,
    and the pending build stays in the journal for the next start."""
    irc = irc_server_factory()
    channel = unique("#nova")
    async with GerritStandIn() as gerrit:
        run = Scenario(tmp_path, gerrit, osmem_url)
        config = irc_config(run, irc, channel, "positive")
        state = tmp_path / "state.sqlite"
        bot = BotProcess(config, tmp_path / "bot.log")
        pending = run.buildset("openstack/nova", "tempest-full-py3", "1541364")  # no logs: waits
        try:
            await bot.start()
            await gerrit.wait_for_streams(1, seconds=30)
            await publish_now(gerrit, pending)
            await until(lambda: bool(journal(state, "SELECT key FROM builds")), "the build")
            started = time.monotonic()
            assert await bot.stop() == 0
            assert time.monotonic() - started < 5.0
            assert not finished(state, pending.change)  # resumes on the next start
        finally:
            bot.kill()
