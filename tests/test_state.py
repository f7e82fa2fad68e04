"""The SQLite journal: dedupe, resume after reopen, deliveries once, cache expiry, pruning."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.events.model import FailedBuild, Job
from bot.state import StateStore, build_from_json, build_to_json
from bot.transports.base import Room

BUILD = FailedBuild(
    server="opendev",
    project="openstack/nova",
    change="64750",
    patchset="6",
    queue="gate",
    jobs=(
        Job(
            "tempest-full",
            "FAILURE",
            url="https://logs.example.org/x/d3fd328/",
            short_uuid="d3fd328",
        ),
        Job("pep8", "SUCCESS", voting=False, duration=25.0),
    ),
    branch="master",
    created=1389384794.0,
    comment="Build failed (gate pipeline).",
)
ROOM = Room("irc", "#openstack-nova")


def test_build_round_trips_through_json() -> None:
    assert build_from_json(build_to_json(BUILD)) == BUILD


async def test_journal_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = await StateStore.open(path)
    assert await store.add_build(BUILD) is True
    assert await store.add_build(BUILD) is False  # the same report again: not new work
    await store.save_verdict(BUILD.key, {"jobs": [{"name": "tempest-full", "bugs": ["1"]}]})
    await store.mark_delivered(BUILD.key, ROOM)
    await store.close()

    store = await StateStore.open(path)
    assert await store.unfinished() == [BUILD]
    assert await store.verdict(BUILD.key) == {"jobs": [{"name": "tempest-full", "bugs": ["1"]}]}
    assert await store.delivered(BUILD.key, ROOM)
    assert not await store.delivered(BUILD.key, Room("matrix", "!r:example.org"))
    await store.finish(BUILD.key)
    assert await store.unfinished() == []
    await store.close()


async def test_cache_expires_and_prune_keeps_recent(tmp_path: Path) -> None:
    store = await StateStore.open(tmp_path / "s.sqlite")
    await store.cache_put("lp:1", {"title": "x"}, ttl=60)
    await store.cache_put("lp:2", {"title": "y"}, ttl=0.01)
    await asyncio.sleep(0.05)
    assert await store.cache_get("lp:1") == {"title": "x"}
    assert await store.cache_get("lp:2") is None
    await store.add_build(BUILD)
    await store.finish(BUILD.key)
    await store.audit("nick!u@h", "#qa", "!query foo", "ok")
    assert await store.prune(older_than=3600) == 0  # everything is recent
    assert len(await store.audit_log()) == 1
    assert await store.prune(older_than=-1) == 1
    assert await store.audit_log() == []
    await store.close()
