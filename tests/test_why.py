"""``!why`` and the evidence views: pure formatting, then through the dispatcher on demo builds
classified for real (osmem) and journaled, then a bug's sightings and uncategorized builds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.bugs import launchpad
from bot.demo.data import DemoBuildset, gerrit_event
from bot.events.model import FailedBuild
from bot.events.parse import parse_event
from bot.events.source import RawEvent
from bot.intel.uncategorized import UncatBuild
from bot.search.lines import LogLine
from bot.search.opensearch import OpenSearchBackend
from bot.state.evidence import Judged, Matched
from bot.watch.classify import Classifier
from bot.watch.evidence import (
    BuildWhy,
    JobWhy,
    bug_evidence,
    latest,
    sighting_json,
    uncategorized_evidence,
)
from bot.watch.outcome import JobResult, Outcome, outcome_of
from commands.why import CHANNEL_LINES, format_why, parse_change
from tests.support.builds import NOW, WriteLogs, failed_build, job_url, log_docs, uuid_of
from tests.support.chat import ALICE, ChatHarness, FakeServices

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LINE = LogLine("ERROR: rbd pool <b>images</b> not found", "logs/job-output.txt", None, "")
BUG = launchpad("1716008")
MATCHED = Matched("1716008", "1716008", (LINE,))


def job(name: str, *bugs: str, line: LogLine | None = LINE) -> JobWhy:
    if not bugs:
        return JobWhy(name, "unrecognized")
    found = tuple(launchpad(bug) for bug in bugs)
    lines = (line,) if line else ()
    return JobWhy(name, "classified", found, (Matched(bugs[0], bugs[0], lines),))


def build_why(*jobs: JobWhy, queue: str = "gate", patchset: str = "3") -> BuildWhy:
    build = failed_build(*(j.name for j in jobs), change="912345", patchset=patchset, queue=queue)
    return BuildWhy(build, (WHEN - timedelta(hours=2)).timestamp(), jobs)


# --- pure ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("912345", ("912345", None)),
        ("912345,3", ("912345", "3")),
        (" 912345/3 ", ("912345", "3")),
        ("https://review.opendev.org/c/openstack/nova/+/912345/3", ("912345", "3")),
        ("https://review.opendev.org/c/openstack/nova/+/912345/", ("912345", None)),
        ("https://review.openstack.org/#/c/64750/6/", ("64750", "6")),
        ("https://review.openstack.org/64750", ("64750", None)),
        ("", None),
        ("nova", None),
        ("912345,three", None),
        ("1,2,3", None),
        ("912345 3", None),
        ("٩١٢٣٤٥", None),  # digits, but no change number Gerrit gives
    ],
)
def test_a_change_as_people_write_it(text: str, expected: tuple[str, str | None] | None) -> None:
    assert parse_change(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.from_regex(r"https?://[a-z./#+]{0,20}/\d{1,6}[,/]?\d{0,3}/?"))
def test_any_argument_is_a_change_or_refused(text: str) -> None:
    found = parse_change(text)
    if found is not None:
        change, patchset = found
        assert re.fullmatch("[0-9]+", change)
        assert patchset is None or re.fullmatch("[0-9]+", patchset)


def test_each_failed_job_with_its_bug_and_line() -> None:
    why = build_why(job("nova-ceph-multistore", "1716008"), job("tempest-full"))
    reply = format_why("912345", None, [why], limit=CHANNEL_LINES, now=WHEN)
    assert reply.plain.splitlines() == [
        "912345,3 openstack/nova (gate, 2 h 0 min ago): 1 of 2 failed jobs explained",
        "nova-ceph-multistore matched bug 1716008 on: `ERROR: rbd pool <b>images</b> not found`"
        " in job-output.txt",
        "tempest-full: no known bug (unrecognized)",
    ]
    # The line is the logs' text: escaped in HTML, never markup.
    assert "&lt;b&gt;images&lt;/b&gt;" in reply.html
    assert "<b>images" not in reply.html
    assert reply.html.startswith("<b>912345,3</b>")


def test_several_bugs_late_logs_and_no_line_kept() -> None:
    why = build_why(
        job("grenade", "1716008", "1822605"),
        job("tox", "1000001", line=None),
        JobWhy("tempest-slow", "not-ready"),
    )
    lines = format_why("912345", "3", [why], limit=CHANNEL_LINES, now=WHEN).plain.splitlines()
    assert lines[1:] == [
        "grenade matched bugs 1716008, 1822605 on: `ERROR: rbd pool <b>images</b> not found`"
        " in job-output.txt",
        "tox matched bug 1000001 (no log line kept)",
        "tempest-slow: its logs were not searchable in time",
    ]


def test_a_channel_gets_a_few_lines_and_a_private_query_more() -> None:
    gate = build_why(*(job(f"job-{n}", "1716008") for n in range(5)))
    check = build_why(job("pep8"), queue="check")
    said = format_why("912345", None, [gate, check], limit=CHANNEL_LINES, now=WHEN, more="!x").plain
    assert said.splitlines()[1:] == [
        "job-0 matched bug 1716008 on: `ERROR: rbd pool <b>images</b> not found` in job-output.txt",
        "job-1 matched bug 1716008 on: `ERROR: rbd pool <b>images</b> not found` in job-output.txt",
        "… and 4 more failed job(s): !x",
    ]
    private = format_why("912345", None, [gate, check], limit=12, now=WHEN).plain.splitlines()
    assert len(private) == 8  # two builds, six jobs
    assert private[6].startswith("912345,3 openstack/nova (check, ")


def test_long_lines_are_cut_for_chat() -> None:
    long = LogLine("x" * 300, "job-output.txt")
    said = format_why("1", None, [build_why(job("j", "1", line=long))], limit=4, now=WHEN).plain
    assert "`" + "x" * 199 + "…`" in said


def test_nothing_journaled() -> None:
    said = format_why("912345", "3", [], limit=CHANNEL_LINES, now=WHEN).plain
    assert said == "no judged build of change 912345,3 in my journal"


def test_the_latest_patchset_of_each_server_newest_per_queue() -> None:
    def judged(patchset: str, queue: str, server: str = "opendev") -> Judged:
        build = failed_build("j", patchset=patchset, queue=queue, server=server)
        return Judged(build.key, build, {}, 0.0)

    # Newest first, as the journal gives them.
    items = [
        judged("3", "gate"),
        judged("3", "check"),
        judged("3", "gate"),  # an older gate run of the same patchset
        judged("2", "check"),
        judged("10", "check", server="rdo"),
    ]
    chosen = latest(items)
    assert chosen == [items[0], items[1], items[4]]
    assert latest(items, limit=1) == [items[0]]


# --- through the dispatcher, on demo builds classified and journaled ----------------------------


async def judge(services: FakeServices, buildset: DemoBuildset) -> FailedBuild:
    """Classify a demo buildset for real and journal the verdict with its lines, as the
    pipeline does."""
    build = parse_event(RawEvent("opendev", gerrit_event(buildset)), ci_accounts=["zuul"])
    assert isinstance(build, FailedBuild)
    classifier = Classifier(list(services.repo.queries))
    verdict = await classifier.classify(build, services.search)
    outcome = outcome_of(verdict, classifier.queries.by_id)
    await services.state.add_build(build)
    await services.state.save_verdict(build.key, outcome.to_json(), outcome.evidence)
    return build


def failed_with_a_bug(services: FakeServices, max_failed: int) -> DemoBuildset:
    return next(
        bs
        for bs in services.data.buildsets
        if any(j.bug for j in bs.jobs)
        and any(j.status == "FAILURE" and not j.bug and j.voting for j in bs.jobs)
        and sum(j.status == "FAILURE" for j in bs.jobs) <= max_failed
    )


async def test_why_through_the_dispatcher(chat: ChatHarness) -> None:
    services = chat.services
    buildset = failed_with_a_bug(services, max_failed=CHANNEL_LINES - 1)
    await judge(services, buildset)
    (reply,) = await chat.run_command(f"!why {buildset.change}")
    head, *jobs = reply.splitlines()
    failed = [j for j in buildset.jobs if j.status == "FAILURE" and (j.voting or j.bug)]
    assert head.startswith(f"{buildset.change},{buildset.patchset} {buildset.project} (")
    assert head.endswith(
        f"{sum(1 for j in failed if j.bug)} of {len(failed)} failed jobs explained"
    )
    for demo in failed:
        (said,) = [line for line in jobs if line.split(" ")[0].rstrip(":") == demo.name]
        if demo.bug:
            query = services.repo.get(demo.bug)
            assert query is not None
            # The line the generator wrote for the bug, in the file it wrote it to.
            message = str(demo.extra["message"])
            shown = message if len(message) <= 200 else message[:199].rstrip() + "…"
            file = str(demo.extra.get("filename", "job-output.txt")).rsplit("/", 1)[-1]
            page = f"https://dash.example.org/bug/{query.id}"
            assert said == (
                f"{demo.name} matched bug {query.bug.id} on: `{shown}` in {file} · {page}"
            )
        else:
            assert said == f"{demo.name}: no known bug (unrecognized)"
    assert (await chat.audit())[-1][2:] == (f"!why {buildset.change}", "ok")


async def test_why_of_a_patchset_and_of_nothing_known(chat: ChatHarness) -> None:
    services = chat.services
    buildset = failed_with_a_bug(services, max_failed=10)
    await judge(services, buildset)
    asked = f"{buildset.change},{buildset.patchset}"
    (reply,) = await chat.run_command(f"!why {asked}")
    assert reply.startswith(f"{asked} {buildset.project} (")
    other = str(int(buildset.patchset) + 1)
    (none,) = await chat.run_command(f"!why {buildset.change},{other}")
    assert none == f"no judged build of change {buildset.change},{other} in my journal"
    (usage,) = await chat.run_command("!why nova")
    assert usage.endswith("usage: !why <change>[,<patchset>] [--all]")


async def test_every_job_in_private_or_apart_from_the_room(chat: ChatHarness) -> None:
    names = [f"job-{n}" for n in range(6)]
    build = failed_build(*names, change="912345", patchset="3")
    outcome = Outcome(tuple(JobResult(name, (BUG,), evidence=(MATCHED,)) for name in names))
    await chat.services.state.add_build(build)
    await chat.services.state.save_verdict(build.key, outcome.to_json(), outcome.evidence)
    page = "https://dash.example.org/bug/1716008"
    every = [
        f"{name} matched bug 1716008 on: `{LINE.message}` in job-output.txt · {page}"
        for name in names
    ]

    (private,) = await chat.run_command("!why 912345", private=True)
    assert private.splitlines()[1:] == every
    (public,) = await chat.run_command("!why 912345")
    assert len(public.splitlines()) == CHANNEL_LINES
    assert public.splitlines()[-1] == (
        "… and 4 more failed job(s): !why 912345 --all (sent to you apart)"
    )
    assert chat.whispered == []
    assert await chat.run_command("!why 912345 --all") == []  # nothing in the room
    ((to, text),) = chat.whispered
    assert to.user == ALICE
    assert text.plain.splitlines()[1:] == every


async def test_a_bugs_sightings_for_its_page(chat: ChatHarness, tmp_path: Path) -> None:
    services = chat.services
    buildset = failed_with_a_bug(services, max_failed=10)
    build = await judge(services, buildset)
    demo = next(j for j in buildset.jobs if j.bug)
    assert demo.bug is not None
    (seen,) = [s for s in await bug_evidence(services.state, demo.bug) if s.job == demo.name]
    page = sighting_json(seen)
    assert page["change"] == buildset.change
    assert page["project"] == buildset.project
    assert page["job_url"] == buildset.log_url(demo)
    assert page["queue"] == buildset.queue
    assert page["lines"][0]["message"] == str(demo.extra["message"])
    assert page["lines"][0]["url"].startswith(buildset.log_url(demo))
    assert seen.key == build.key
    assert await bug_evidence(services.state, "no-such-query") == []


# --- uncategorized builds: their error lines from the search server ------------------------------


async def test_uncategorized_builds_get_their_newest_error_lines(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    errors = [f"ERROR: step {n} failed" for n in range(5)]
    await write_logs(
        log_docs("grenade", 2, ["starting", *errors, "cleaning up"])
        + log_docs("tox-py3", 3, ["collected 12 items", "summary: 3 of 12", "bye"])
        + log_docs("quiet", 4, ["all good"], end=None, filename="syslog.txt", fields={"tags": []})
    )

    def uncat(name: str, n: int) -> UncatBuild:
        return UncatBuild(uuid_of(n), name, "openstack/nova", job_url(name, n), NOW)

    builds = [uncat("grenade", 2), uncat("tox-py3", 3), uncat("quiet", 4), uncat("gone", 9)]
    found = await uncategorized_evidence(search, builds, days=2)
    assert [line.message for line in found[uuid_of(2)]] == errors[-3:]
    assert found[uuid_of(2)][0].url == job_url("grenade", 2) + "job-output.txt"
    # No error line: the console's last lines before the end marker say how it ended.
    assert [line.message for line in found[uuid_of(3)]] == [
        "collected 12 items",
        "summary: 3 of 12",
        "bye",
    ]
    assert set(found) == {uuid_of(2), uuid_of(3)}  # none from quiet logs, none from no logs
    assert await uncategorized_evidence(search, [], days=2) == {}
