"""The demo and the example channels.yaml agree: every example channel hears something when
``recheckbot run --demo`` replays its failures, which come from both queues; and the replayed
failures' logs lie where readiness looks for a report made now."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bot.demo.data import DemoBuildset, DemoData, demo_dataset, generate, gerrit_event, known
from bot.demo.mode import REPLAYED
from bot.events.model import FailedBuild
from bot.events.parse import parse_event
from bot.events.source import RawEvent
from bot.queries import load_queries
from bot.search.builds import WINDOW_BEFORE
from bot.watch.routing import Routing, Subject, load_channels
from tests.support.paths import ROOT

EXAMPLE = load_channels(ROOT / "channels.yaml")


def demo_data(seed: int = 1) -> DemoData:
    # What `run --demo` makes: the example query repo, the default seed, the demo's extras.
    return demo_dataset(load_queries(ROOT / "queries").queries, seed=seed)


def subject(buildset: DemoBuildset) -> Subject:
    """What routing sees of a replayed failure: its event as parsed, its verdict's kind."""
    build = parse_event(RawEvent("demo", gerrit_event(buildset)), ci_accounts=["zuul"])
    assert isinstance(build, FailedBuild), build
    return Subject(
        server=build.server,
        project=build.project,
        queue=build.queue,
        kind="positive" if known(buildset) else "negative",
        branch=build.branch,
        jobs=tuple(job.name for job in build.failed_jobs),
    )


def heard(routing: Routing, buildsets: list[DemoBuildset]) -> Counter[str]:
    return Counter(
        channel.name for b in buildsets for channel in routing.channels if channel.hears(subject(b))
    )


def test_every_example_channel_hears_the_demo() -> None:
    replayed = demo_data().replayed(REPLAYED)
    counts = heard(EXAMPLE, replayed)
    silent = [channel.name for channel in EXAMPLE.channels if counts[channel.name] == 0]
    assert silent == [], counts
    assert counts["demo"] == len(replayed)  # the terminal hears every failure
    assert {channel.room.transport for channel in EXAMPLE.channels} == {"irc", "console"}


@pytest.mark.parametrize("seed", [1, 2, 3, 7])
def test_the_replay_mixes_queues_and_verdicts(seed: int) -> None:
    data = demo_data(seed)
    replayed = data.replayed(REPLAYED)
    assert len(replayed) == REPLAYED
    assert replayed == sorted(replayed, key=lambda b: b.started)  # oldest first, as replayed
    mix = Counter((b.queue, known(b)) for b in replayed)
    assert set(mix) == {("gate", True), ("gate", False), ("check", True), ("check", False)}
    # Still the recent failures: none older than the newest failure left out.
    left_out = [b for b in data.failed() if b not in replayed]
    assert replayed[-1] == data.failed()[-1]
    assert sum(b.started > max(x.started for x in left_out) for b in replayed) >= REPLAYED // 2
    assert min(heard(EXAMPLE, replayed)[c.name] for c in EXAMPLE.channels) >= 1


def test_a_short_replay_keeps_the_mix_first() -> None:
    replayed = demo_data().replayed(4)
    assert {(b.queue, known(b)) for b in replayed} == {
        ("gate", True),
        ("gate", False),
        ("check", True),
        ("check", False),
    }


def test_the_replay_is_the_same_whenever_it_runs() -> None:
    queries = load_queries(ROOT / "queries").queries
    runs = [
        [b.change for b in generate(queries, now=datetime(2026, 11, day, tzinfo=UTC)).replayed(8)]
        for day in (1, 20)
    ]
    assert runs[0] == runs[1]


def test_replayed_failures_are_moved_to_just_before_their_report() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    data = generate(load_queries(ROOT / "queries").queries, now=now)
    chosen = data.replayed(REPLAYED)
    assert chosen[0].started < now - timedelta(seconds=WINDOW_BEFORE)  # too old as generated
    moved_data, moved = data.just_reported(chosen, now)
    assert [b.change for b in moved] == [b.change for b in chosen]
    assert [(b.queue, b.project, b.jobs) for b in moved] == [
        (b.queue, b.project, b.jobs) for b in chosen
    ]
    assert all(now - timedelta(hours=2) < b.started < now for b in moved)
    assert moved == sorted(moved, key=lambda b: b.started)
    assert len(moved_data.buildsets) == len(data.buildsets)
    changes = {b.change for b in moved}
    logs = [
        datetime.fromisoformat(doc["@timestamp"])
        for doc in moved_data.documents()
        if str(doc["build_change"]) in changes
    ]
    assert logs
    assert min(logs) > now - timedelta(seconds=WINDOW_BEFORE)


def test_the_docs_say_what_each_channel_hears() -> None:
    counts = heard(EXAMPLE, demo_data().replayed(REPLAYED))
    routing_md = (ROOT / "docs" / "routing.md").read_text(encoding="utf-8")
    section = routing_md.split("## What the demo shows", 1)[1]
    documented = {
        name: int(count)
        for name, count in re.findall(r"^\| `#?([\w-]+)`[^|]*\| (?:all )?(\d+)", section, re.M)
    }
    assert documented == {channel.name: counts[channel.name] for channel in EXAMPLE.channels}
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    for name in ("openstack-nova", "openstack-neutron", "openstack-qa"):
        assert (
            f"`#{name}` hears {counts[name]} " in readme or f"`#{name}` {counts[name]} " in readme
        )
