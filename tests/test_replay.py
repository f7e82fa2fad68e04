"""ReplaySource on upstream's fixtures and the modern samples (its lines go through the decoder
every source shares: tests/test_decode.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.events import replay
from bot.events.model import FailedBuild
from bot.events.parse import parse_event
from bot.events.replay import ReplaySource, read_events
from bot.events.source import EventSource, RawEvent
from tests.support.events import SAMPLES
from tests.support.paths import FIXTURES, require_upstream


async def collect(source: ReplaySource, limit: int = 10_000) -> list[RawEvent]:
    events: list[RawEvent] = []
    stream = source.events()
    async for event in stream:
        events.append(event)
        if len(events) >= limit:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    return events


async def test_upstream_gerrit_fixture_replays_as_a_list() -> None:
    require_upstream()
    events = await collect(ReplaySource(FIXTURES / "gerrit" / "events.json", server="upstream"))
    assert len(events) == 11
    assert {event.server for event in events} == {"upstream"}
    builds = [parse_event(e, ci_accounts={"jenkins"}) for e in events]
    keys = [b.key.partition("@")[0] for b in builds if isinstance(b, FailedBuild)]
    assert keys == [
        "upstream/65361,2/check",
        "upstream/63078,19/check",
        "upstream/64749,6/check",
        "upstream/64750,6/gate",
    ]


async def test_upstream_jenkins_fixture_replays_its_events_key() -> None:
    require_upstream()
    events = await collect(ReplaySource(FIXTURES / "jenkins" / "events.json", server="s"))
    assert [event.data.get("type") for event in events] == [
        "comment-added",
        "blah",
        "comment-added",
    ]


async def test_json_lines_skip_bad_lines_with_their_numbers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.events.replay")
    events = await collect(ReplaySource(SAMPLES / "stream.jsonl", server="opendev"))
    assert [(e.data["type"], e.data["change"]["number"]) for e in events if "change" in e.data] == [
        ("patchset-created", 904321),
        ("comment-added", 904900),
        ("comment-added", 904321),
        ("comment-added", 904321),
        ("comment-added", 903210),
    ]
    assert len(events) == 6  # plus the ref-updated event
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert warnings[0].endswith("stream.jsonl:6: line skipped: "
                                "not JSON (Expecting ',' delimiter at column 56)")  # fmt: skip
    assert warnings[1].endswith("stream.jsonl:8: line skipped: not a JSON object but list")


async def test_pretty_printed_single_event() -> None:
    events = await collect(ReplaySource(SAMPLES / "zuul_gate_failed.json", server="opendev"))
    assert len(events) == 1
    assert isinstance(parse_event(events[0], ci_accounts={"zuul"}), FailedBuild)


@pytest.mark.parametrize(
    "text",
    [
        '[{"type": "a"}, {"type": "b"}]',
        '{"events": [{"type": "a"}, {"type": "b"}]}\n',
        '[\n  {"type": "a"},\n  {"type": "b"}\n]\n',
        '{"type": "a"}\r\n\r\n{"type": "b"}\r\n',
        '{"type": \n{"type": "a"}\n{"type": "b"}\n',  # truncated first line: the rest still plays
        '[{"type": "a"}, 7, null, {"type": "b"}]',
    ],
)
async def test_file_layouts(tmp_path: Path, text: str) -> None:
    path = tmp_path / "events.json"
    path.write_text(text)
    assert [event["type"] async for event in read_events(path)] == ["a", "b"]


async def test_interval_spaces_events(tmp_path: Path) -> None:
    path = tmp_path / "three.jsonl"
    path.write_text('{"type": "a"}\n{"type": "b"}\n{"type": "c"}\n')
    loop = asyncio.get_running_loop()
    start = loop.time()
    events = await collect(ReplaySource(path, server="s", interval=0.05))
    assert len(events) == 3
    assert loop.time() - start >= 0.1  # two gaps, none before the first event


async def test_loop_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    path.write_text('{"type": "a"}\n{"type": "b"}\n')
    events = await collect(ReplaySource(path, server="s", loop=True), limit=5)
    assert [event.data["type"] for event in events] == ["a", "b", "a", "b", "a"]


async def test_loop_over_an_empty_file_ends(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    assert await asyncio.wait_for(collect(ReplaySource(path, server="s", loop=True)), 5) == []


async def test_missing_file_raises(tmp_path: Path) -> None:
    source = ReplaySource(tmp_path / "nope.json", server="s")
    with pytest.raises(FileNotFoundError):
        await collect(source)
    assert not source.status.connected
    assert source.status.failures == 1
    assert source.status.last_error is not None
    assert "nope.json" in source.status.last_error


async def test_file_reads_run_in_worker_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_to_thread = asyncio.to_thread

    async def spy(func: Callable[..., Any], /, *args: Any) -> Any:
        calls.append(getattr(func, "__name__", repr(func)))
        return await real_to_thread(func, *args)

    monkeypatch.setattr(replay.asyncio, "to_thread", spy)
    path = tmp_path / "many.jsonl"
    path.write_text(
        "".join(json.dumps({"type": "x", "n": n, "pad": "p" * 200}) + "\n" for n in range(3000))
    )
    events = await collect(ReplaySource(path, server="s"))
    assert [event.data["n"] for event in events] == list(range(3000))
    assert calls.count("readlines") >= 3  # ~650 KB in batches of 256 KiB
    assert "_looks_like_document" in calls


async def test_replay_source_is_an_event_source_up_once_it_plays(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"type": "a", "eventCreatedOn": 20}\n{"type": "b", "eventCreatedOn": 10}\n')
    source: EventSource = ReplaySource(path, server="s")
    assert source.name == "replay:x.jsonl"
    assert not source.status.connected
    stream = source.events()
    first = await anext(stream)
    assert first.data["type"] == "a"
    assert source.status.connected
    assert [event.data["type"] async for event in stream] == ["b"]
    status = source.status
    # Played whole: done, not down (``!status`` must not say DOWN for a finished demo).
    assert (status.connected, status.events, status.last_created) == (True, 2, 20.0)
    assert (status.failures, status.last_error) == (0, None)
