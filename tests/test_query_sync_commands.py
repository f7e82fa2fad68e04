"""``!queries`` and ``!sync`` with the in-process chat harness, and their pure formatting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.app.querysync import kept_back_text
from bot.chat.services import QuerySourceStatus
from commands.queries import format_sources, shorten
from commands.sync import format_synced
from tests.support.chat import OPS, ChatHarness

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
UPSTREAM = QuerySourceStatus(
    name="upstream",
    origin="https://git.example.org/ci/queries",
    git=True,
    queries=120,
    shadowed=0,
    commit="1a2b3c4d5e6f" + "0" * 28,
    committed=NOW - timedelta(hours=3, minutes=2),
    fetched=NOW - timedelta(minutes=4),
    status="unchanged",
)
LOCAL = QuerySourceStatus(name="local", origin="/etc/recheckbot/queries", queries=9, shadowed=2)
KEPT = QuerySourceStatus(
    name="tripleo-ci",
    origin="git@review.example.org:tripleo-ci-queries",
    git=True,
    queries=30,
    commit="9" * 40,
    status="kept-previous",
    problems=("1234.yaml: invalid YAML at line 3, column 1: …", "99.yaml: query: is empty"),
    kept_back="ab12cd3" + "f" * 33,
)


def test_queries_lists_each_source_with_commit_age_and_count() -> None:
    text = format_sources([UPSTREAM, LOCAL, KEPT], NOW)
    assert text.plain.splitlines() == [
        "157 queries in use from 3 source(s)",
        "1. upstream (https://git.example.org/ci/queries): commit 1a2b3c4 from 3 h 2 min ago, "
        "120 queries, fetched 4 min ago",
        "2. local (/etc/recheckbot/queries): directory, 9 queries (2 shadowed by an earlier "
        "source)",
        "3. tripleo-ci (git@review.example.org:tripleo-ci-queries): commit 9999999, 30 queries; "
        "commit ab12cd3 KEPT BACK: 1234.yaml: invalid YAML at line 3, column 1: …",
    ]


def test_a_long_origin_keeps_its_host_and_its_name() -> None:
    url = "https://git.example.org/" + "deep/" * 20 + "tripleo-ci-queries"
    shown = shorten(url)
    assert len(shown) == 79
    assert shown.startswith("https://git.example.org/")
    assert shown.endswith("/tripleo-ci-queries")


def test_sync_reply_says_what_became_of_each_git_source() -> None:
    text = format_synced([UPSTREAM, LOCAL, KEPT])
    assert text.plain.splitlines() == [
        "queries synced: 157 in use",
        "upstream: still at 1a2b3c4, 120 queries",
        "tripleo-ci: kept back a commit, still at 9999999, 30 queries; commit ab12cd3: "
        "1234.yaml: invalid YAML at line 3, column 1: … (and 1 more)",
    ]


def test_the_admin_room_hears_the_commit_and_its_first_problems() -> None:
    problems = [f"{n}.yaml: query: is empty" for n in range(4)]
    assert kept_back_text("tripleo-ci", "ab12cd3" + "0" * 33, problems[:1]) == (
        "queries from tripleo-ci: commit ab12cd3 kept back: 0.yaml: query: is empty"
    )
    assert kept_back_text("tripleo-ci", "ab12cd3", problems).endswith(
        "0.yaml: query: is empty; 1.yaml: query: is empty (and 2 more: recheckbot sync)"
    )


async def test_queries_command_answers_everyone(chat: ChatHarness) -> None:
    chat.services.sources = [UPSTREAM, LOCAL]
    (reply,) = await chat.run_command("!queries")
    assert reply.startswith("127 queries in use from 2 source(s)")
    assert "1. upstream (https://git.example.org/ci/queries): commit 1a2b3c4" in reply


async def test_sync_is_for_admins(chat: ChatHarness) -> None:
    chat.services.synced = [UPSTREAM, KEPT]
    (refused,) = await chat.run_command("!sync")
    assert "admin" in refused
    assert chat.services.syncs == 0
    (reply,) = await chat.run_command("!sync", user=OPS)
    assert chat.services.syncs == 1
    assert reply.splitlines()[0] == "queries synced: 150 in use"


async def test_sync_without_a_git_source_says_so(chat: ChatHarness) -> None:
    (reply,) = await chat.run_command("!sync", user=OPS)
    assert "no git query source to sync" in reply
