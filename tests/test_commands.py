"""Every chat command through the dispatcher, on a real osmem server seeded with demo data.

Expected numbers come from the demo generator's own record of what it wrote, not from the
code under test.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.bugs import launchpad
from bot.chat.command import Context, Registry, Rejected, load_commands
from bot.chat.options import split_options
from bot.chat.reply import code_block, link, rich
from bot.chat.services import TransportStatus
from bot.config import SearchSettings
from bot.config.chat import ChatSettings, RateLimit
from bot.demo.data import DemoBuildset, DemoData, DemoJob
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.stats import QueryReport
from bot.transports.base import Text
from commands.bug import per_day
from commands.query import format_report
from commands.status import rooms_part
from tests.support.chat import (
    ALICE,
    CHANNEL,
    DASHBOARD,
    MATRIX_ROOM,
    OPS,
    SETTINGS,
    ChatHarness,
    FakeServices,
    UncatBuild,
    UncatReport,
    demo_uncat,
    spec,
)
from tests.support.search import Recording


def bug_jobs(data: DemoData, bug: str) -> list[tuple[DemoBuildset, DemoJob]]:
    return [(bs, job) for bs in data.buildsets for job in bs.jobs if job.bug == bug]


# --- !query ----------------------------------------------------------------------------------


async def test_query_by_bug_id(chat: ChatHarness) -> None:
    jobs = bug_jobs(chat.services.data, "1400905")
    n = len(jobs)
    top = Counter(job.name for _, job in jobs).most_common(1)[0]
    (reply,) = await chat.run_command("!query 1400905")
    first, second = reply.splitlines()
    assert n >= 3
    assert first == f"bug 1400905 over 7 d: {n} hits in {n} builds, {n} failed (100%)"
    assert second.startswith(f"top jobs: {top[0]} ({top[1]})")
    assert "https://kibana.example.org/" in second
    assert (await chat.audit())[-1][2:] == ("!query 1400905", "ok")


@pytest.mark.parametrize("ref", ["lp1400905", "https://bugs.launchpad.net/bugs/1400905"])
async def test_query_by_other_bug_spellings(chat: ChatHarness, ref: str) -> None:
    (reply,) = await chat.run_command(f"!query {ref}")
    assert reply.startswith("bug 1400905 over 7 d: ")


async def test_query_lucene(chat: ChatHarness) -> None:
    n = len(bug_jobs(chat.services.data, "1541364"))
    (reply,) = await chat.run_command(
        '!query message:"Failed to update apt repos, we\'re dead now" --days 7'
    )
    assert reply.startswith(f"your query over 7 d: {n} hits in {n} builds, {n} failed (100%)")


async def test_query_sends_a_bounded_body(chat: ChatHarness) -> None:
    recording = chat.services.search = Recording(chat.services.search)
    await chat.run_command('!query message:"Hash Sum mismatch" --days=3')
    (body,) = recording.bodies
    assert body["timeout"] == "10000ms"
    clause = body["query"]["bool"]["must"][0]["query_string"]
    assert clause["query"] == 'message:"Hash Sum mismatch"'
    assert clause["allow_leading_wildcard"] is False
    assert clause["default_field"] == "message"
    # Whole days, today included: what the per-day numbers show.
    assert body["query"]["bool"]["filter"] == [{"range": {"@timestamp": {"gte": "now-2d/d"}}}]


async def test_query_says_when_the_server_timed_out(chat: ChatHarness) -> None:
    chat.services.search = Recording(chat.services.search, timed_out=True)
    (reply,) = await chat.run_command("!query 1400905")
    assert "partial: the search timed out" in reply


async def test_query_gives_up_on_a_silent_server(services: FakeServices) -> None:
    services.search = Recording(services.search, delay=5)
    chat = ChatHarness(services, SETTINGS.model_copy(update={"search_timeout": 0.1}))
    assert await chat.run_command("!query 1400905") == [
        "sorry, !query failed: the search server did not answer within 1.1 s"
    ]


async def test_query_reports_an_unreachable_server_in_one_line(chat: ChatHarness) -> None:
    down = OpenSearchBackend(SearchSettings(url="http://127.0.0.1:9", timeout=2, retries=0))
    chat.services.search = down
    try:
        (reply,) = await chat.run_command("!query 1400905")
    finally:
        await down.close()
    assert reply.startswith("sorry, !query failed: ")
    assert "\n" not in reply
    assert (await chat.audit())[-1][3].startswith("error: ")


async def test_query_with_no_hits_and_a_phrase_holding_an_option(chat: ChatHarness) -> None:
    (reply,) = await chat.run_command('!query message:"no such line --days 3"')
    assert reply.startswith("your query over 7 d: no hits")


async def test_query_warns_about_broad_queries(chat: ChatHarness) -> None:
    (reply,) = await chat.run_command("!query tags:console")
    assert "it hits passing builds too: too broad?" in reply


async def test_query_limits_are_wider_for_admins(chat: ChatHarness) -> None:
    assert await chat.run_command("!query message:x --days 30") == [
        "--days must be between 1 and 14 for non-admins"
    ]
    (reply,) = await chat.run_command("!query message:x --days 30", user=OPS)
    assert reply.startswith("your query over 30 d: no hits")
    (denied,) = await chat.run_command("!query hostname:x")
    assert denied.startswith('not allowed from chat: field "hostname" (searchable: message,')
    (allowed,) = await chat.run_command("!query hostname:x", user=OPS)
    assert allowed.startswith("your query over 7 d: no hits")


async def test_free_form_lucene_can_be_admin_only(services: FakeServices) -> None:
    chat = ChatHarness(services, SETTINGS.model_copy(update={"lucene_acl": "admin"}))
    assert await chat.run_command("!query message:x") == [
        "free-form Lucene is for admins here; !query <bug id> works for everyone"
    ]
    assert (await chat.run_command("!query 1400905"))[0].startswith("bug 1400905")


async def test_query_unknown_bug(chat: ChatHarness) -> None:
    assert await chat.run_command("!query 9999999") == [
        'no known query for bug "9999999"; to search the logs, write Lucene: message:"…"'
    ]


# --- !bug ------------------------------------------------------------------------------------


async def test_bug(chat: ChatHarness) -> None:
    jobs = bug_jobs(chat.services.data, "1400905")
    (reply,) = await chat.run_command("!bug 1400905")
    head, query, days = reply.splitlines()
    assert head == (
        "bug 1400905: Hash Sum mismatch in apt [Confirmed] · "
        "https://bugs.launchpad.net/bugs/1400905 · https://dash.example.org/bug/1400905"
    )
    assert query == 'query: message:"Hash Sum mismatch" AND tags:console'
    counts, per = days.split("; ")
    assert counts == f"last 7 d: {len(jobs)} hits, {len(jobs)} failed builds"
    first = (datetime.now(UTC) - timedelta(days=6)).strftime("%m-%d")
    today = datetime.now(UTC).strftime("%m-%d")
    span, numbers_text = per.split(": ")
    assert span == f"per day {first}…{today} (UTC)"
    numbers = [int(n) for n in numbers_text.split()]
    assert len(numbers) == 7
    assert sum(numbers) == len(jobs)
    # The busiest day, by the generator's own record.
    busiest = Counter(bs.started.date() for bs, _ in jobs).most_common(1)[0][1]
    assert max(numbers) == busiest


async def test_bug_per_day_numbers_are_the_days_asked_and_add_up_to_the_hits(
    chat: ChatHarness,
) -> None:
    """Hits every six hours for nine days: a rolling window reached into an eighth calendar day
    ("last 7 d" with eight numbers, the oldest a part-day's)."""
    now = datetime.now(UTC)
    docs = [edge_document(now - timedelta(hours=6 * n), n) for n in range(36)]
    await bulk_index(chat.services.search.client, docs)
    for days in (1, 3, 7):
        (reply,) = await chat.run_command(f"!bug 1400905 --days {days}")
        tail = reply.splitlines()[-1]
        hits = int(re.search(r"last \d+ d: (\d+) hits", tail).group(1))  # type: ignore[union-attr]
        numbers = [int(n) for n in tail.rpartition(": ")[2].split()]
        assert len(numbers) == days, tail
        assert sum(numbers) == hits, tail
        assert hits > 0


def edge_document(when: datetime, n: int) -> dict[str, object]:
    """A log line of bug 1400905's query at ``when``."""
    return {
        "@timestamp": when.isoformat(),
        "message": "E: Hash Sum mismatch",
        "tags": ["console"],
        "build_uuid": f"edge{n:028x}",
        "build_status": "FAILURE",
        "build_name": "edge-job",
        "build_queue": "gate",
        "project": "openstack/nova",
        "voting": "1",
    }


async def test_bug_over_a_long_period_draws_a_sparkline(chat: ChatHarness) -> None:
    (reply,) = await chat.run_command("!bug 1541364 --days 30", user=OPS)
    line = reply.splitlines()[-1]
    assert "(peak " in line
    assert "▁" in line


async def test_bug_rejections(chat: ChatHarness) -> None:
    assert await chat.run_command("!bug 9999999") == ['no known query for bug "9999999"']
    assert await chat.run_command("!bug not-a-bug") == [
        'no known query for bug id or query id "not-a-bug"'
    ]
    assert await chat.run_command("!bug 1 2") == ["usage: !bug <bug id> [--days N]"]


# --- !uncat ----------------------------------------------------------------------------------


def newest_uncat(data: DemoData) -> tuple[UncatReport, list[UncatBuild]]:
    report = demo_uncat(data, 7, "gate")
    unknown = sorted(
        (b for job in report.jobs for b in job.unclassified),
        key=lambda b: b.timestamp,
        reverse=True,
    )
    return report, unknown


async def test_uncat_in_a_room_is_a_summary(chat: ChatHarness) -> None:
    report, unknown = newest_uncat(chat.services.data)
    per_job = Counter(build.job for build in unknown)
    top = sorted(per_job.items(), key=lambda item: (-item[1], item[0]))[:3]
    (reply,) = await chat.run_command("!uncat")
    assert reply.splitlines() == [
        f"{len(unknown)} of {report.total} failed gate builds in the last 7 d are uncategorized"
        f" · {DASHBOARD}uncategorized.html",
        "top jobs: "
        + ", ".join(f"{job} ({n})" for job, n in top)
        + " · the full list: !uncat --all (sent to you apart)",
    ]
    assert chat.whispered == []
    job = top[0][0]
    (one_job,) = await chat.run_command(f"!uncat {job} --days 7")
    assert one_job.splitlines()[1] == (
        f"top jobs: {job} ({top[0][1]}) · the full list: !uncat {job} --days 7 --all"
        " (sent to you apart)"
    )


async def test_uncat_all_in_a_room_is_sent_apart(chat: ChatHarness) -> None:
    _, unknown = newest_uncat(chat.services.data)
    assert await chat.run_command("!uncat --all") == []  # nothing more in the room
    ((to, text),) = chat.whispered
    assert to.room == CHANNEL
    assert to.user == ALICE
    lines = text.plain.splitlines()
    assert len(lines) == 1 + 5 + 1
    assert lines[1].startswith(f"{unknown[0].job} {unknown[0].change},{unknown[0].patchset} · ")
    assert (await chat.audit())[-1][2:] == ("!uncat --all", "ok")


async def test_uncat_all_where_nothing_can_be_sent_apart_is_a_reply(
    services: FakeServices,
) -> None:
    chat = ChatHarness(services, whispering=False)
    (reply,) = await chat.run_command("!uncat --all")
    assert len(reply.splitlines()) == 1 + 5 + 1


async def test_uncat_in_a_private_message_is_the_full_list(chat: ChatHarness) -> None:
    report, unknown = newest_uncat(chat.services.data)
    assert len(unknown) > 5
    (reply,) = await chat.run_command("uncat", private=True)
    assert chat.whispered == []
    lines = reply.splitlines()
    assert lines[0] == (
        f"{len(unknown)} of {report.total} failed gate builds in the last 7 d are uncategorized"
        f" · {DASHBOARD}uncategorized.html"
    )
    assert len(lines) == 1 + 5 + 1
    assert lines[-1] == f"… and {len(unknown) - 5} more"
    for line, build in zip(lines[1:6], unknown, strict=False):
        assert line.startswith(f"{build.job} {build.change},{build.patchset} · ")
        assert line.endswith(f" ago · {build.log_url}")


async def test_uncat_by_job_glob(chat: ChatHarness) -> None:
    report = demo_uncat(chat.services.data, 7, "gate")
    (grenade,) = [job for job in report.jobs if job.name == "grenade"]
    (reply,) = await chat.run_command("!uncat gren*", private=True)
    lines = reply.splitlines()
    assert lines[0].startswith(
        f"{len(grenade.unclassified)} of {grenade.total} failed gate builds of jobs matching gren*"
    )
    assert all(line.startswith("grenade ") for line in lines[1:6])
    (none,) = await chat.run_command("!uncat nothing-*")
    assert none == "0 of 0 failed gate builds of jobs matching nothing-* in the last 7 d" + (
        f" are uncategorized · {DASHBOARD}uncategorized.html"
    )
    assert await chat.run_command("!uncat --all=yes") == ["--all takes no value"]


# --- !refresh --------------------------------------------------------------------------------


async def test_refresh_failure_is_reported(chat: ChatHarness) -> None:
    chat.services.refresh_ok = False
    replies = await chat.run_command("!refresh", user=OPS)
    assert replies[-1] == (
        "sorry, !refresh failed: the dashboard refresh failed: search server unreachable"
    )
    assert (await chat.audit())[-1][3].startswith("error: the dashboard refresh failed")


async def test_refresh_bursts_are_coalesced_by_the_dashboard(chat: ChatHarness) -> None:
    await asyncio.gather(*(chat.run_command("!refresh", user=OPS) for _ in range(3)))
    assert chat.services.refreshes == 3  # the fake counts calls; the real one coalesces them
    finals = [t.plain for _, t, _ in chat.sent if t.plain.startswith("dashboard refreshed")]
    assert len(finals) == 3


# --- !help, !status --------------------------------------------------------------------------


async def test_help_index(chat: ChatHarness) -> None:
    (reply,) = await chat.run_command("!help")
    assert reply == (
        "commands: !adopt (admins), !bug, !flaky, !help, !queries, !query, !refresh/!graph"
        " (admins), !status, !suggest, !sync (admins), !test, !top, !uncat, !why"
        f" — !help <command> explains one · {DASHBOARD}"
    )


async def test_help_for_one_command(services: FakeServices) -> None:
    chat = ChatHarness(services, ChatSettings(admins=SETTINGS.admins))  # the default limits
    (query,) = await chat.run_command("!help query")
    assert query.splitlines() == [
        "!query <lucene | bug id> [--days N]: hits, failed builds, failure rate and top jobs of a"
        ' Lucene query (message:"…", build_name:…) or of a known bug\'s query',
        "costs 2 of your 12 tokens (refilled at 10 a minute)",
    ]
    (refresh,) = await chat.run_command("!help !refresh")
    assert refresh.splitlines()[1] == (
        "costs 5 of your 12 tokens (refilled at 10 a minute); also !graph; admins only"
    )
    # Admins skip their own bucket: the room's is what they spend.
    (admin,) = await chat.run_command("!help bug", user=OPS)
    assert admin.splitlines()[1] == "costs 2 of the room's 30 tokens (refilled at 30 a minute)"
    assert await chat.run_command("!help qeury") == ['no command "qeury"; did you mean !query?']


async def test_what_help_says_a_command_costs_is_what_it_costs(services: FakeServices) -> None:
    settings = SETTINGS.model_copy(update={"user_rate": RateLimit(burst=4, per_minute=1)})
    chat = ChatHarness(services, settings)
    (help_bug,) = await chat.run_command("!help bug")  # 1 of 4
    assert help_bug.splitlines()[1].startswith("costs 2 of your 4 tokens")
    assert (await chat.run_command("!bug 1400905"))[0].startswith("bug 1400905")  # 2: 3 of 4
    assert (await chat.run_command("!bug 1400905"))[0].startswith("please wait")


async def test_status(chat: ChatHarness) -> None:
    (reply,) = await chat.run_command("!status", room=MATRIX_ROOM)
    assert reply.splitlines() == [
        "up 3 h 12 min · search: green · queue: 2 builds waiting",
        "streams: opendev connected, last event 2 min ago; rdo DOWN, no event yet",
        "dashboard: refreshed 12 min ago",
    ]


async def test_status_lists_each_chat_transport_and_its_rooms(chat: ChatHarness) -> None:
    chat.services.transports = (
        TransportStatus(
            "irc",
            True,
            "127.0.0.1:6667 as recheckbot",
            (("#a", "joined"), ("#b", "banned (+b)")),
        ),
        TransportStatus("matrix", False, "connection refused"),
    )
    (reply,) = await chat.run_command("!status")
    assert reply.splitlines()[2:4] == [
        "irc connected (127.0.0.1:6667 as recheckbot): #b not joined (banned (+b)), #a joined",
        "matrix DOWN (connection refused): no rooms",
    ]


def test_many_rooms_are_counted_not_listed() -> None:
    rooms = [(f"#r{n}", "joined") for n in range(9)] + [("#x", "invite only")]
    assert rooms_part(rooms) == (
        "#x not joined (invite only), #r0 joined, #r1 joined, #r2 joined, #r3 joined, #r4 joined"
        " and 4 more joined"
    )
    many_missing = [(f"#m{n}", "banned") for n in range(8)]
    assert rooms_part(many_missing).endswith("#m5 not joined (banned) and 2 more")


async def test_status_names_the_queries_the_search_server_refuses(chat: ChatHarness) -> None:
    chat.services.quarantined.update({f"10000{n}": f"Failed to parse query [{n}" for n in range(5)})
    (reply,) = await chat.run_command("!status")
    assert reply.splitlines()[3] == (
        "quarantined queries (the search server refuses them): 100000 (Failed to parse query [0),"
        " 100001 (Failed to parse query [1), 100002 (Failed to parse query [2) and 2 more"
    )


async def test_html_rendering_of_a_reply(chat: ChatHarness) -> None:
    chat.services.bugs["1400905"] = launchpad("1400905").described(
        title="<img src=x onerror=alert(1)>", status="New"
    )
    (reply,) = await chat.run("!bug 1400905", room=MATRIX_ROOM)
    assert reply.html is not None
    assert reply.irc is not None
    assert "<img" not in reply.html
    assert "&lt;img src=x" in reply.html
    assert '<a href="https://bugs.launchpad.net/bugs/1400905">tracker</a>' in reply.html
    assert reply.irc.startswith("\x02bug 1400905\x02")


# --- pure helpers ----------------------------------------------------------------------------


def test_rich_escapes_and_neutralises() -> None:
    text = rich(["a\r\nPRIVMSG #x :hi <b>\u202e", link("go", "javascript:alert(1)")])
    assert text.plain == "a  PRIVMSG #x :hi <b>"  # one line: no second IRC command, no RTL trick
    assert text.html == "a  PRIVMSG #x :hi &lt;b&gt;"


@pytest.mark.parametrize(
    ("args", "rest", "options"),
    [
        ("message:x --days 3", "message:x", {"days": "3"}),
        ("--days=3 message:x", "message:x", {"days": "3"}),
        ("message:x \u2014days 3", "message:x", {"days": "3"}),  # a phone's em dash
        ('message:"a --days 3" AND x', 'message:"a --days 3" AND x', {}),
        ("message:x -- y", "message:x -- y", {}),
    ],
)
def test_split_options(args: str, rest: str, options: dict[str, str]) -> None:
    assert split_options(args, ("days",)) == (rest, options)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ("x --days", "--days needs a value"),
        ("x --days 1 --days 2", "--days is given twice"),
        ("x --from 3", "unknown option --from (options: --days)"),
    ],
)
def test_split_options_rejects(args: str, reason: str) -> None:
    with pytest.raises(Rejected, match=re.escape(reason)):
        split_options(args, ("days",))


def test_per_day() -> None:
    assert per_day([0, 3, 1]) == "0 3 1"
    assert per_day([0] * 14 + [8]) == "▁" * 14 + "█ (peak 8)"


def test_code_blocks_keep_their_indentation_in_html() -> None:
    yaml = 'query: >-\n  message:"a <b>" AND\n  tags:"console"\n'
    text = rich(["queries/c-1.yaml:"], code_block(yaml), ["done"])
    assert text.plain == (
        'queries/c-1.yaml:\n  query: >-\n    message:"a <b>" AND\n    tags:"console"\ndone'
    )
    assert text.irc == text.plain
    assert text.html == (
        "queries/c-1.yaml:<pre><code>query: &gt;-\n  message:&quot;a &lt;b&gt;&quot; AND\n"
        "  tags:&quot;console&quot;</code></pre>done"
    )


def test_format_report_pure() -> None:
    report = QueryReport(
        hits=0, builds=0, failed_builds=0, per_day=(), breakdown={"build_name": ()}
    )
    text = format_report("<x>", report, 3, kibana=None, partial=False)
    assert text == Text(
        "<x> over 3 d: no hits",
        "\x02<x>\x02 over 3 d: no hits",
        "<b>&lt;x&gt;</b> over 3 d: no hits",
    )


def _ago(minutes: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def _lines(replies: Sequence[str]) -> list[str]:
    return [line for reply in replies for line in reply.splitlines()]


async def test_every_reply_fits_irc(chat: ChatHarness) -> None:
    """Aim: at most 3 lines in a room (!status: one more per chat transport; the full !uncat
    goes apart)."""
    commands = ("!help", "!status", "!bug 1400905", "!query 1400905", "!help query", "!uncat")
    for command in commands:
        lines = _lines(await chat.run_command(command, user=ALICE))
        assert len(lines) <= 3, command


# --- the registry ----------------------------------------------------------------------------


def test_load_commands_collects_every_module() -> None:
    registry = load_commands()
    assert [s.name for s in registry.specs()] == [
        "adopt",
        "bug",
        "flaky",
        "help",
        "queries",
        "query",
        "refresh",
        "status",
        "suggest",
        "sync",
        "test",
        "top",
        "uncat",
        "why",
    ]
    assert registry.get("GRAPH") is registry.get("refresh")
    assert registry.closest("stauts") == "status"
    # Importing a handler into another module does not register it twice.
    assert [s.name for s in load_commands(["commands.bug"]).specs()] == ["bug"]


def test_registry_refuses_duplicates_and_uncallable_names() -> None:
    async def handler(ctx: Context) -> Text:
        return Text.of("")

    registry = Registry([spec("one", handler, aliases=("uno",))])
    with pytest.raises(ValueError, match="defined twice"):
        registry.add(spec("two", handler, aliases=("uno",)))
    assert registry.get("two") is None  # nothing half-added
    with pytest.raises(ValueError, match="use a-z"):
        registry.add(spec("two words", handler))


def test_the_decorator_only_tags() -> None:
    from bot.chat.command import TAG, command

    async def handler(ctx: Context) -> Text:
        return Text.of("")

    tagged = command("x", help="h", acl="admin", rate=4)(handler)
    assert tagged is handler
    found = getattr(handler, TAG)
    assert (found.name, found.acl, found.rate, found.help) == ("x", "admin", 4, "h")
    assert load_commands().get("x") is None
