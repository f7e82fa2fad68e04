"""The journal keeps each verdict's log lines with it: saved in one commit, read back per change
and per query, pruned with the build, and journals older than the table still work."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from bot.events.model import FailedBuild
from bot.search.lines import LogLine
from bot.state import StateStore
from bot.state.evidence import Matched
from tests.support.builds import failed_build

BUILD = failed_build("tempest-full", "grenade", change="64750", patchset="6", created=1.0e9)
CHECK = replace(BUILD, queue="check")
OLDER_PS = replace(BUILD, patchset="5")
OTHER = replace(BUILD, change="64751")
VERDICT = {"jobs": [{"name": "tempest-full", "bugs": [], "url": None}], "not_ready": []}


def line(n: int, file: str = "job-output.txt") -> LogLine:
    url = f"https://logs.example.org/x/{file}"
    return LogLine(f"ERROR: line {n}", file, url, f"2024-05-01T10:00:0{n}Z")


def matched(query: str, *numbers: int) -> Matched:
    return Matched(query, f"bug-{query}", tuple(line(n) for n in numbers))


async def journal(path: Path, *builds: FailedBuild) -> StateStore:
    store = await StateStore.open(path)
    for build in builds:
        await store.add_build(build)
    return store


async def test_lines_are_saved_with_the_verdict_and_read_per_change(tmp_path: Path) -> None:
    store = await journal(tmp_path / "s.sqlite", OLDER_PS, BUILD, OTHER)
    evidence = {"tempest-full": [matched("1716008", 1, 2), matched("1822605", 3)]}
    await store.save_verdict(BUILD.key, VERDICT, evidence)
    await store.save_verdict(OLDER_PS.key, VERDICT)
    await store.save_verdict(OTHER.key, VERDICT, {"grenade": [matched("1", 1)]})

    (only,) = await store.judged("64750", "6")
    assert only.build == BUILD
    assert only.verdict == VERDICT
    assert only.evidence == {"tempest-full": (matched("1716008", 1, 2), matched("1822605", 3))}
    both = await store.judged("64750")
    assert {j.build.patchset for j in both} == {"5", "6"}
    assert [j.evidence for j in both if j.build.patchset == "5"] == [{}]
    assert await store.judged("99") == []
    await store.close()


async def test_builds_not_judged_yet_are_not_shown(tmp_path: Path) -> None:
    store = await journal(tmp_path / "s.sqlite", BUILD)
    assert await store.judged("64750") == []
    await store.close()


async def test_saving_again_replaces_the_lines(tmp_path: Path) -> None:
    store = await journal(tmp_path / "s.sqlite", BUILD)
    await store.save_verdict(BUILD.key, VERDICT, {"tempest-full": [matched("1", 1, 2, 3)]})
    await store.save_verdict(BUILD.key, VERDICT, {"grenade": [matched("2", 4)]})
    (judged,) = await store.judged("64750")
    assert judged.evidence == {"grenade": (matched("2", 4),)}
    await store.close()


async def test_sightings_of_a_query_newest_first(tmp_path: Path) -> None:
    store = await journal(tmp_path / "s.sqlite", BUILD, CHECK, OTHER)
    await store.save_verdict(BUILD.key, VERDICT, {"tempest-full": [matched("7", 1, 2)]})
    await store.save_verdict(CHECK.key, VERDICT, {"grenade": [matched("7", 3), matched("8", 4)]})
    await store.save_verdict(OTHER.key, VERDICT, {"tempest-full": [matched("8", 5)]})
    seen = await store.sightings("7")
    assert [(s.build, s.job) for s in seen] == [(CHECK, "grenade"), (BUILD, "tempest-full")]
    assert seen[1].matched == matched("7", 1, 2)
    assert seen[0].saved >= seen[1].saved
    (newest,) = await store.sightings("7", limit=1)
    assert newest.matched == matched("7", 3)
    assert [s.build for s in await store.sightings("8")] == [OTHER, CHECK]
    assert await store.sightings("9") == []
    await store.close()


async def test_prune_drops_the_lines_of_pruned_builds(tmp_path: Path) -> None:
    store = await journal(tmp_path / "s.sqlite", BUILD, OTHER)
    await store.save_verdict(BUILD.key, VERDICT, {"tempest-full": [matched("7", 1)]})
    await store.save_verdict(OTHER.key, VERDICT, {"tempest-full": [matched("7", 2)]})
    await store.finish(OTHER.key)
    assert await store.prune(older_than=-1) == 1
    assert [s.build for s in await store.sightings("7")] == [BUILD]
    await store.close()
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        keys = {row[0] for row in conn.execute("SELECT build_key FROM evidence")}
    assert keys == {BUILD.key}


async def test_a_journal_older_than_the_evidence_table_still_works(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    store = await journal(path, BUILD, OTHER)
    await store.save_verdict(BUILD.key, VERDICT)
    await store.close()
    with sqlite3.connect(path) as conn:  # as the release before evidence left it
        conn.execute("DROP INDEX builds_change")
        conn.execute("DROP TABLE evidence")

    store = await StateStore.open(path)
    (judged,) = await store.judged("64750")
    assert (judged.build, judged.verdict, judged.evidence) == (BUILD, VERDICT, {})
    await store.save_verdict(OTHER.key, VERDICT, {"grenade": [matched("3", 1)]})
    assert [s.build for s in await store.sightings("3")] == [OTHER]
    await store.close()
    with sqlite3.connect(path) as conn:
        plan = " ".join(
            str(row)
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT key FROM builds"
                " WHERE json_extract(build, '$.change') = '64750'"
            )
        )
    assert "builds_change" in plan  # a change's builds are found by index, not by a scan
