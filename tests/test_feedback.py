"""The weekly impact comment on each bug: counted on osmem, written to the tracker stand-ins,
journaled so that no week's comment repeats (a second run, a restart, a crash mid-request),
edited the next week, and nothing written in a dry run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.bugs import github, jira, launchpad
from bot.config.feedback import CommentSettings
from bot.lifecycle.feedback import BugWeek, Commenter, format_comment, measure
from bot.queries import Query
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.state import StateStore
from bot.trackers.writer import TrackerWriter
from tests.support.builds import log_docs
from tests.support.trackers import TrackerStandIn

NOW = datetime.now(UTC)
PAGE = "https://dash.example.org/bug/"
QUERIES = [
    Query("1541364", 'message:"apt repos are dead"', launchpad("1541364")),
    Query("gh-o-r-7", 'message:"volume never attached"', github("o/r", "7")),
    Query("OSPRH-45", 'message:"iscsi vanished"', jira("OSPRH-45")),  # jira is not opted in
    Query("1708704", 'message:"quiet for weeks"', launchpad("1708704")),  # no failure this week
]
LP, GH = "launchpad:1541364", "github:o/r#7"


def docs() -> list[dict[str, Any]]:
    """1541364: 3 failed builds (2 changes, 2 jobs), 4 lines; o/r#7: 1 build; the others old."""
    day = NOW - timedelta(days=1)
    found = []
    for n, (job, change, lines) in enumerate(
        [
            ("tempest-full", "900001", 2),
            ("tempest-full", "900002", 1),
            ("grenade", "900002", 1),
        ]
    ):
        found += log_docs(job, n, ["apt repos are dead"] * lines, change=change, when=day)
    found += log_docs("nova-ceph", 10, ["volume never attached"], change="900003", when=day)
    found += log_docs("tempest-full", 11, ["iscsi vanished"], when=day)
    found += log_docs("tempest-full", 12, ["quiet for weeks"], when=NOW - timedelta(days=20))
    return found


@pytest.fixture
async def standin() -> AsyncIterator[TrackerStandIn]:
    async with TrackerStandIn(
        github_token="ghp", jira_token="pat", launchpad_token="tok", launchpad_secret="sec"
    ) as trackers:
        trackers.add_launchpad("1541364", "apt", [("nova", "Confirmed", None)])
        trackers.add_launchpad("1708704", "quiet", [("nova", "Confirmed", None)])
        trackers.add_github("o/r", "7", "volume")
        trackers.add_jira("OSPRH-45", "iscsi", "New", "new")
        yield trackers


@pytest.fixture
async def indexed(search: OpenSearchBackend) -> OpenSearchBackend:
    await bulk_index(search.client, docs())
    return search


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    """Opens the test's journal (again: a restart); every store opened is closed at the end."""
    opened: list[StateStore] = []

    async def open_journal() -> StateStore:
        opened.append(await StateStore.open(tmp_path / "state.sqlite"))
        return opened[-1]

    yield open_journal
    for store in opened:
        await store.close()


def commenter(
    state: StateStore,
    writer: TrackerWriter,
    search: OpenSearchBackend,
    **settings: Any,
) -> Commenter:
    values: dict[str, Any] = {"trackers": ("launchpad", "github"), "dry_run": False}
    return Commenter(
        CommentSettings.model_validate(values | settings),
        state=state,
        writer=writer,
        search=search,
        queries=lambda: QUERIES,
        page_of=lambda query_id: PAGE + query_id,
    )


async def test_the_week_is_counted_by_hand(indexed: OpenSearchBackend) -> None:
    weeks = {w.query.id: w for w in await measure(indexed, QUERIES, 7)}
    apt = weeks["1541364"]
    assert (apt.hits, apt.failed_builds, apt.changes) == (4, 3, 2)
    assert apt.jobs == (("tempest-full", 2), ("grenade", 1))
    assert weeks["1708704"].failed_builds == 0


def test_the_comment_says_what_and_where() -> None:
    week = BugWeek(QUERIES[0], hits=4, failed_builds=3, changes=2, jobs=(("tempest-full", 2),))
    text = format_comment(
        week, days=7, now=datetime(2026, 3, 2, 10, tzinfo=UTC), page=PAGE + "1", label="2026-W10"
    )
    assert text.splitlines() == [
        "recheckbot: what the query for this bug (1541364) hit in CI in the 7 days to "
        "2026-03-02 10:00 UTC",
        "",
        "- 3 failed builds in 2 changes",
        "- 4 log lines matched",
        "- jobs: tempest-full (2)",
        "",
        f"Bug page (failures over time, the lines matched): {PAGE}1",
        "",
        "Updated once a week (2026-W10) while the query hits.",
    ]


async def test_each_opted_in_bug_with_failures_gets_one_comment_a_week(
    indexed: OpenSearchBackend, standin: TrackerStandIn, journal: Callable[[], Any]
) -> None:
    state = await journal()
    async with TrackerWriter(standin.settings()) as writer:
        run = await commenter(state, writer, indexed).run("2026-W10", NOW.timestamp())
        again = await commenter(state, writer, indexed).run("2026-W10", NOW.timestamp())
        restarted = await commenter(await journal(), writer, indexed).run(
            "2026-W10", NOW.timestamp()
        )

    assert run.results == {LP: "posted", GH: "posted"}
    assert again.results == restarted.results == {LP: "already", GH: "already"}
    (text,) = standin.writes.texts(LP)
    assert "- 3 failed builds in 2 changes" in text
    assert f"{PAGE}1541364" in text
    assert standin.writes.texts(GH)[0].startswith(
        "recheckbot: what the query for this bug (gh-o-r-7)"
    )
    assert standin.writes.texts("jira:OSPRH-45") == []
    assert standin.writes.texts("launchpad:1708704") == []
    assert len(standin.writes.writes()) == 2
    rows = await state.comment_rows("2026-W10")
    assert [(r.bug, r.state) for r in rows] == [(GH, "posted"), (LP, "posted")]
    assert rows[1].url == "https://bugs.launchpad.net/bugs/1541364/comments/1"


async def test_next_week_edits_last_weeks_comment(
    indexed: OpenSearchBackend, standin: TrackerStandIn, journal: Callable[[], Any]
) -> None:
    state = await journal()
    async with TrackerWriter(standin.settings()) as writer:
        await commenter(state, writer, indexed).run("2026-W10", NOW.timestamp())
        run = await commenter(state, writer, indexed).run("2026-W11", NOW.timestamp())
        fresh = await commenter(state, writer, indexed, edit=False).run("2026-W12", NOW.timestamp())

    assert run.results == {LP: "edited", GH: "edited"}
    assert fresh.results == {LP: "posted", GH: "posted"}
    first, second = standin.writes.comments[LP]
    assert first.earlier == [first.body.replace("2026-W11", "2026-W10")]
    assert "(2026-W11)" in first.body
    assert "(2026-W12)" in second.body


async def test_a_deleted_comment_is_posted_again_rather_than_lost(
    indexed: OpenSearchBackend, standin: TrackerStandIn, journal: Callable[[], Any]
) -> None:
    state = await journal()
    async with TrackerWriter(standin.settings()) as writer:
        await commenter(state, writer, indexed).run("2026-W10", NOW.timestamp())
        standin.writes.comments.clear()  # someone deleted the bot's comments
        run = await commenter(state, writer, indexed).run("2026-W11", NOW.timestamp())
    assert run.results == {LP: "posted", GH: "posted"}
    assert len(standin.writes.texts(LP)) == 1


async def test_a_dry_run_writes_nothing_anywhere(
    indexed: OpenSearchBackend, standin: TrackerStandIn, journal: Callable[[], Any]
) -> None:
    state = await journal()
    async with TrackerWriter(standin.settings()) as writer:
        run = await commenter(state, writer, indexed, dry_run=True).run("2026-W10", NOW.timestamp())
    assert run.results == {LP: "dry-run", GH: "dry-run"}
    assert "- 3 failed builds in 2 changes" in run.texts[LP]
    assert standin.writes.writes() == []
    assert await state.comment_rows("2026-W10") == []


async def test_a_rate_limit_defers_that_trackers_bugs_and_the_retry_writes_them_once(
    indexed: OpenSearchBackend, standin: TrackerStandIn, journal: Callable[[], Any]
) -> None:
    state = await journal()
    standin.writes.rate_limit("github", 120)
    async with TrackerWriter(standin.settings()) as writer:
        run = await commenter(state, writer, indexed).run("2026-W10", NOW.timestamp())
        assert run.results[LP] == "posted"
        assert run.results[GH].startswith("deferred: HTTP 403")
        assert run.retry_after is not None
        assert 110 <= run.retry_after <= 120
        assert await state.comment_row(GH, "2026-W10") is None
        standin.writes.limited.clear()
        retry = await commenter(state, writer, indexed).run("2026-W10", NOW.timestamp())
    assert retry.results == {LP: "already", GH: "posted"}
    assert len(standin.writes.texts(GH)) == 1


async def test_refused_credentials_give_the_week_up_and_say_why(
    indexed: OpenSearchBackend, standin: TrackerStandIn, journal: Callable[[], Any]
) -> None:
    state = await journal()
    wrong = standin.settings(github={"api_url": standin.url("github"), "token": "wrong"})
    async with TrackerWriter(wrong) as writer:
        run = await commenter(state, writer, indexed).run("2026-W10", NOW.timestamp())
        again = await commenter(state, writer, indexed).run("2026-W10", NOW.timestamp())
    assert run.results[GH].startswith("given-up: HTTP 401 Unauthorized: ")
    assert "Bad credentials" in run.results[GH]
    assert again.results[GH] == "already"
    row = await state.comment_row(GH, "2026-W10")
    assert row is not None
    assert row.state == "given-up"
    assert row.reason is not None
    assert "Bad credentials" in row.reason


async def test_a_crash_mid_request_never_writes_that_weeks_comment_again(
    indexed: OpenSearchBackend, standin: TrackerStandIn, journal: Callable[[], Any]
) -> None:
    # The claim was journaled, then the process died before the tracker answered: the comment
    # may be on the bug already.
    state = await journal()
    assert await state.claim_comment(LP, "2026-W10", NOW.timestamp())
    async with TrackerWriter(standin.settings()) as writer:
        run = await commenter(await journal(), writer, indexed).run("2026-W10", NOW.timestamp())
    assert run.results[LP] == "already"
    assert standin.writes.texts(LP) == []


async def test_bugs_without_credentials_are_skipped_with_the_setting_named(
    indexed: OpenSearchBackend, standin: TrackerStandIn, journal: Callable[[], Any]
) -> None:
    state = await journal()
    settings = standin.settings(github={"api_url": standin.url("github")})
    async with TrackerWriter(settings) as writer:
        run = await commenter(state, writer, indexed).run("2026-W10", NOW.timestamp())
    assert run.results[GH] == "skipped: writing to github needs trackers.github.token"
    assert await state.comment_row(GH, "2026-W10") is None
