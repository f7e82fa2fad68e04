"""The SQLite journal: dedupe, resume after reopen, deliveries once, cache expiry, pruning."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bot.events.model import Job
from bot.state import JournalError, StateStore, build_from_json, build_to_json
from bot.transports.base import Room
from tests.support.builds import failed_build
from tests.support.cli import recheckbot

BUILD = failed_build(
    Job("tempest-full", "FAILURE", url="https://logs.example.org/x/d3fd328/", short_uuid="d3fd328"),
    Job("pep8", "SUCCESS", voting=False, duration=25.0),
    change="64750",
    patchset="6",
    branch="master",
    created=1389384794.0,
    comment="Build failed (gate pipeline).",
)
ROOM = Room("irc", "#openstack-nova").key


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
    assert not await store.delivered(BUILD.key, Room("matrix", "!r:example.org").key)
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


async def test_delivery_states(tmp_path: Path) -> None:
    store = await StateStore.open(tmp_path / "s.sqlite")
    assert await store.delivery_status(BUILD.key, ROOM) is None
    await store.mark_sending(BUILD.key, ROOM)
    assert await store.delivery_status(BUILD.key, ROOM) == "sending"
    await store.forget_sending(BUILD.key, ROOM)  # refused before anything went out
    assert await store.delivery_status(BUILD.key, ROOM) is None
    await store.mark_sending(BUILD.key, ROOM)
    await store.mark_delivered(BUILD.key, ROOM)
    await store.forget_sending(BUILD.key, ROOM)  # only ever undoes "sending"
    assert await store.deliveries(BUILD.key) == {"irc:#openstack-nova": ("sent", None)}
    other = Room("matrix", "!r:example.org").key
    await store.give_up(BUILD.key, other, "matrix not connected")
    assert await store.delivered(BUILD.key, other)
    assert (await store.deliveries(BUILD.key))["matrix:!r:example.org"] == (
        "given-up",
        "matrix not connected",
    )
    await store.close()


async def test_prune_keeps_what_an_unfinished_build_needs(tmp_path: Path) -> None:
    store = await StateStore.open(tmp_path / "s.sqlite")
    done = replace(BUILD, change="1")
    await store.add_build(BUILD)
    await store.add_build(done)
    await store.mark_delivered(BUILD.key, ROOM)
    await store.mark_delivered(f"{BUILD.key}#2", ROOM)  # the second line of a long message
    await store.mark_delivered(f"{BUILD.key}#not-ready", ROOM)
    await store.mark_delivered(done.key, ROOM)
    await store.mark_delivered(f"{done.key}#2", ROOM)
    await store.finish(done.key)
    assert await store.prune(older_than=-1) == 1
    assert await store.unfinished() == [BUILD]
    # Else its resumption would say them again.
    assert await store.delivered(BUILD.key, ROOM)
    assert await store.delivered(f"{BUILD.key}#2", ROOM)
    assert await store.delivered(f"{BUILD.key}#not-ready", ROOM)
    assert not await store.delivered(done.key, ROOM)
    assert not await store.delivered(f"{done.key}#2", ROOM)
    await store.close()


async def test_a_journal_of_the_first_release_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE builds (key TEXT PRIMARY KEY, build TEXT NOT NULL, received REAL NOT NULL,"
        " verdict TEXT, done REAL);"
        "CREATE TABLE deliveries (build_key TEXT NOT NULL, room TEXT NOT NULL, sent REAL NOT NULL,"
        " PRIMARY KEY (build_key, room));"
    )
    old.execute("INSERT INTO deliveries VALUES ('k', 'irc:#openstack-nova', 1.0)")
    old.commit()
    old.close()
    store = await StateStore.open(path)
    assert await store.delivery_status("k", ROOM) == "sent"
    await store.finish("k", gave_up="x")
    await store.close()


async def test_positions_are_kept_and_never_move_back(tmp_path: Path) -> None:
    store = await StateStore.open(tmp_path / "state.sqlite")
    assert await store.positions() == {}
    await store.save_positions({"review": 100.0, "rdo": 50.0})
    await store.save_positions({"review": 90.0})  # an older event seen late: kept at 100
    await store.save_positions({"rdo": 60.0})
    await store.close()
    reopened = await StateStore.open(tmp_path / "state.sqlite")
    assert await reopened.positions() == {"review": 100.0, "rdo": 60.0}
    await reopened.close()


@pytest.mark.parametrize("make", ["directory", "garbage"])
async def test_an_unusable_journal_is_one_clear_error(tmp_path: Path, make: str) -> None:
    path = tmp_path / "state.sqlite"
    if make == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"this is not a SQLite database, it only has its name" * 100)
    with pytest.raises(JournalError, match=r"state\.sqlite: cannot use the state journal: "):
        await StateStore.open(path)


def test_the_cli_reports_an_unusable_journal_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    state.write_bytes(b"garbage" * 1000)
    env = {**os.environ, "RECHECKBOT_STATE": str(state)}
    result = subprocess.run(
        [*recheckbot(), "run", "--queries", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.startswith("recheckbot: error: ")
    assert "cannot use the state journal" in result.stderr
    assert "Traceback" not in result.stderr
