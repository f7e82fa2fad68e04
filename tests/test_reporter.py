"""The Gerrit review comment: ER's exact text, safe quoting, modes, dedupe, SSH and REST posting.

SSH posting runs against tests/support/gerrit.py (a real asyncssh server that records every
``gerrit review`` as Gerrit would parse it); REST against a small aiohttp stand-in of Gerrit's
review endpoint (tests/support/gerrit_rest.py). The journal is the real SQLite state store.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.bugs import launchpad
from bot.config import GerritServer
from bot.events.model import FailedBuild
from bot.reporters.gerrit import (
    CUT,
    GerritReporter,
    GerritReporters,
    cap,
    fill_bugs,
    format_review,
    quote_arg,
    review_command,
    verdict_fingerprint,
)
from bot.state import StateStore
from bot.watch.outcome import JobResult, Outcome
from bot.watch.routing import Messages, load_channels
from tests.support.builds import failed_build
from tests.support.gerrit import GerritStandIn
from tests.support.gerrit_rest import ReviewEndpoint
from tests.support.paths import UPSTREAM, require_upstream

BUILD = failed_build(
    "tempest-full", "grenade", "nova-tox-py311", server="gerrit", change="912345", patchset="2"
)
BUG_A = launchpad("1284371").described(title="volume boot times out")
BUG_B = launchpad("1708704")
OUTCOME = Outcome(
    jobs=(
        JobResult("tempest-full", (BUG_A,)),
        JobResult("grenade", (BUG_B,)),
        JobResult("nova-tox-py311"),
    )
)
#: ER's comment with ER's own templates (fixture recheckwatchbot.yaml) for OUTCOME.
EXPECTED = """I noticed Zuul failed, I think you hit bug(s):

- grenade: https://bugs.launchpad.net/bugs/1708704
- nova-tox-py311: unrecognized error
- tempest-full: https://bugs.launchpad.net/bugs/1284371 "volume boot times out"

Some of the tests failed in a way that we did not understand. Please help \
us classify these issues so that they can be part of Elastic Recheck \
http://status.openstack.org/elastic-recheck/
For more details on this and other bugs, please see \
http://status.openstack.org/elastic-recheck/"""


@pytest.fixture(scope="module")
def er_messages() -> Messages:
    require_upstream()
    return load_channels(UPSTREAM / "fixtures" / "recheckwatchbot.yaml").messages


@pytest.fixture
async def gerrit() -> AsyncIterator[GerritStandIn]:
    async with GerritStandIn() as standin:
        event = {
            "type": "comment-added",
            "change": {"project": BUILD.project, "branch": "master", "number": 912345},
            "patchSet": {"number": 2, "revision": "0" * 40},
            "author": {"name": "Zuul", "username": "zuul"},
            "comment": "Patch Set 2: Verified-2\n\nBuild failed (gate pipeline).",
            "eventCreatedOn": 1700000000,
        }
        await standin.publish(event)  # so `gerrit review 912345,2` finds the patch set
        yield standin


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[StateStore]:
    store = await StateStore.open(tmp_path / "state.sqlite")
    yield store
    await store.close()


# -- the text --------------------------------------------------------------------------------


def test_two_bugs_and_an_unrecognized_job_give_ers_comment(er_messages: Messages) -> None:
    assert format_review(BUILD, OUTCOME, er_messages) == EXPECTED


def test_recheck_instructions_only_when_every_job_is_explained(er_messages: Messages) -> None:
    explained = Outcome(jobs=OUTCOME.jobs[:2])
    text = format_review(BUILD, explained, er_messages)
    assert text is not None
    assert "\n\nIf you believe we've correctly identified the failure" in text
    assert "did not understand" not in text
    late = Outcome(jobs=OUTCOME.jobs[:2], not_ready=("nova-tox-py311",))
    assert "did not understand" in (format_review(BUILD, late, er_messages) or "")


def test_no_bug_found_says_nothing_unless_asked(er_messages: Messages) -> None:
    nothing = Outcome(jobs=(JobResult("nova-tox-py311"),))
    assert format_review(BUILD, nothing, er_messages) is None
    assert format_review(BUILD, Outcome(jobs=()), er_messages, unrecognized_note=True) is None
    note = format_review(BUILD, nothing, Messages(), unrecognized_note=True)
    assert note == (
        "I noticed Zuul failed.\nSome of the tests failed in a way that we did not understand."
    )


def test_templates_fill_like_er_and_long_comments_are_cut() -> None:
    assert fill_bugs("100%% sure:\n%(bugs)s", "- x") == "100% sure:\n- x"
    assert fill_bugs("100% sure: %(bugs)s", "- x") == "100% sure: - x"  # ER: "100{'bugs'…"
    assert fill_bugs("%%(bugs)s is %(bugs)s", "- x") == "%(bugs)s is - x"
    assert cap("short") == "short"
    assert cap("x" * 20_000, 1000) == "x" * (1000 - len(CUT)) + CUT


def test_fingerprint_ignores_titles_and_order() -> None:
    retitled = Outcome(
        jobs=(
            JobResult("nova-tox-py311"),
            JobResult("grenade", (BUG_B.described(title="new title", status="Fix Released"),)),
            JobResult("tempest-full", (BUG_A,)),
        )
    )
    assert verdict_fingerprint(retitled) == verdict_fingerprint(OUTCOME)
    assert verdict_fingerprint(Outcome(jobs=OUTCOME.jobs[:2])) != verdict_fingerprint(OUTCOME)


# -- quoting for Gerrit's SSH command line ---------------------------------------------------


def gerrit_split(line: str) -> list[str]:
    """A port of Gerrit's ``CommandFactoryProvider.split``, which parses SSH command lines."""
    words: list[str] = []
    word, single, double, i = "", False, False, 0
    while i < len(line):
        c = line[i]
        i += 1
        if c in " \t" and not (single or double):
            if word:
                words.append(word)
            word = ""
        elif c == '"' and not single:
            double = not double
        elif c == "'" and not double:
            single = not single
        elif c == "\\" and not single and i < len(line):
            word += line[i]
            i += 1
        else:
            word += c
    return [*words, word] if word else words


HOSTILE = [
    'it\'s "broken"',
    "line one\nline two\n\n- job: url",
    "ünïcödé ✓ 失败 🙂",
    "back\\slash \\' and $(rm -rf /) `id` ; --project evil",
    "'",
    "''\"\"'",
    " leading and trailing \t ",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_quoted_arguments_survive_gerrits_parser_and_a_shell(text: str) -> None:
    assert gerrit_split(f"x {quote_arg(text)} y") == ["x", text, "y"]
    assert shlex.split(f"x {quote_arg(text)} y") == ["x", text, "y"]


@given(st.text(alphabet=st.characters(blacklist_characters="\0"), min_size=1))
def test_any_text_is_one_argument(text: str) -> None:
    assert gerrit_split(quote_arg(text)) == [text]


def test_review_command_shape() -> None:
    command = review_command(BUILD, "hi", "autogenerated:recheckbot")
    assert gerrit_split(command) == [
        *("gerrit", "review", "912345,2", "--message", "hi"),
        *("--project", "openstack/nova", "--tag", "autogenerated:recheckbot"),
    ]
    assert "--tag" not in review_command(BUILD, "hi", None)


# -- posting over SSH ------------------------------------------------------------------------


async def test_posts_ers_comment_over_ssh(
    gerrit: GerritStandIn, state: StateStore, er_messages: Messages
) -> None:
    reporter = GerritReporter(gerrit.settings(comment="on"), er_messages, state=state)
    result = await reporter.report(BUILD, OUTCOME)
    assert (result.status, result.message) == ("posted", EXPECTED)
    [review] = gerrit.reviews
    assert (review.change, review.patchset) == ("912345", "2")
    assert (review.project, review.tag) == ("openstack/nova", "autogenerated:recheckbot")
    assert review.message == EXPECTED
    assert review.labels == {}  # a comment, never a vote


async def test_hostile_titles_arrive_verbatim(gerrit: GerritStandIn) -> None:
    jobs = tuple(
        JobResult(f"job-{n}", (launchpad(str(n)).described(title=title),))
        for n, title in enumerate(HOSTILE)
    )
    outcome = Outcome(jobs=jobs)
    reporter = GerritReporter(gerrit.settings(comment="on"), Messages())
    result = await reporter.report(BUILD, outcome)
    assert result.status == "posted", result.detail
    assert [review.message for review in gerrit.reviews] == [result.message]
    for title in HOSTILE:
        assert title in (gerrit.reviews[0].message or "")


async def test_dry_run_posts_nothing_and_logs_the_comment(
    gerrit: GerritStandIn,
    state: StateStore,
    er_messages: Messages,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.reporters.gerrit")
    reporter = GerritReporter(gerrit.settings(), er_messages, state=state)  # default: dry-run
    result = await reporter.report(BUILD, OUTCOME)
    assert (result.status, result.message) == ("dry-run", EXPECTED)
    assert gerrit.reviews == []
    assert gerrit.logins == 0  # not even a connection
    assert EXPECTED in caplog.text
    assert "would comment on 912345,2" in caplog.text
    assert (await reporter.report(BUILD, OUTCOME)).status == "duplicate"
    # The rehearsal did not spend the real journal: switched on, it posts.
    live = GerritReporter(gerrit.settings(comment="on"), er_messages, state=state)
    assert (await live.report(BUILD, OUTCOME)).status == "posted"


async def test_a_verdict_is_said_once_per_patchset(
    gerrit: GerritStandIn, tmp_path: Path, er_messages: Messages
) -> None:
    path = tmp_path / "journal.sqlite"
    settings = gerrit.settings(comment="on")
    state = await StateStore.open(path)
    reporter = GerritReporter(settings, er_messages, state=state)
    assert (await reporter.report(BUILD, OUTCOME)).status == "posted"
    assert (await reporter.report(BUILD, OUTCOME)).status == "duplicate"
    check = replace(BUILD, queue="check")
    assert (await reporter.report(check, OUTCOME)).status == "duplicate"
    await state.close()

    reopened = await StateStore.open(path)  # a restart: a new store on the same file
    again = GerritReporter(settings, er_messages, state=reopened)
    assert (await again.report(BUILD, OUTCOME)).status == "duplicate"
    changed = Outcome(jobs=(*OUTCOME.jobs[:2], JobResult("nova-tox-py311", (BUG_A,))))
    assert (await again.report(BUILD, changed)).status == "posted"  # a new verdict is news
    next_patchset = replace(BUILD, patchset="3")
    gerrit.strict_reviews = False
    assert (await again.report(next_patchset, OUTCOME)).status == "posted"
    await reopened.close()
    assert len(gerrit.reviews) == 3


async def test_racing_reports_of_one_verdict_post_once(gerrit: GerritStandIn) -> None:
    reporter = GerritReporter(gerrit.settings(comment="on"), Messages())
    check = replace(BUILD, queue="check")
    results = await asyncio.gather(reporter.report(BUILD, OUTCOME), reporter.report(check, OUTCOME))
    assert sorted(r.status for r in results) == ["duplicate", "posted"]
    assert len(gerrit.reviews) == 1


@pytest.mark.parametrize(
    ("overrides", "build", "reason"),
    [
        ({"comment": "off"}, BUILD, "comments are off"),
        ({"comment": "on", "comment_queues": ["check"]}, BUILD, "queue gate not in"),
        ({"comment": "on", "comment_projects": ["openstack/neutron*"]}, BUILD, "project"),
        ({"comment": "on", "name": "other"}, BUILD, "build from gerrit, not other"),
    ],
)
async def test_filters_skip_without_posting(
    gerrit: GerritStandIn, overrides: dict[str, Any], build: FailedBuild, reason: str
) -> None:
    reporter = GerritReporter(gerrit.settings(**overrides), Messages())
    result = await reporter.report(build, OUTCOME)
    assert result.status == "skipped"
    assert reason in result.detail
    assert gerrit.reviews == []


async def test_project_globs_and_no_bug_verdicts(gerrit: GerritStandIn) -> None:
    settings = gerrit.settings(comment="on", comment_projects=["openstack/*"])
    nothing = Outcome(jobs=(JobResult("nova-tox-py311"),))
    reporter = GerritReporter(settings, Messages())
    assert (await reporter.report(BUILD, nothing)).detail == "nothing to say"
    noting = GerritReporter(settings.model_copy(update={"comment_unrecognized": True}), Messages())
    assert (await noting.report(BUILD, nothing)).status == "posted"
    assert gerrit.reviews[0].message is not None
    assert gerrit.reviews[0].message.startswith("I noticed Zuul failed.")


async def test_gerrit_refusing_is_a_failed_result(gerrit: GerritStandIn) -> None:
    reporter = GerritReporter(gerrit.settings(comment="on"), Messages())
    unknown = replace(BUILD, change="999999")
    result = await reporter.report(unknown, OUTCOME)
    assert (result.status, result.detail) == ("failed", 'fatal: "999999,2" no such patch set')


async def test_ssh_down_fails_quietly_and_logs_once(
    er_messages: Messages, caplog: pytest.LogCaptureFixture, state: StateStore
) -> None:
    async with GerritStandIn() as standin:
        settings = standin.settings(comment="on", connect_timeout=2.0)
    reporter = GerritReporter(settings, er_messages, state=state)  # the server is gone now
    first = await reporter.report(BUILD, OUTCOME)
    second = await reporter.report(BUILD, OUTCOME)
    assert (first.status, second.status) == ("failed", "failed")
    assert first.message == EXPECTED  # what could not be said, for whoever retries
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "cannot comment on 912345,2" in warnings[0].getMessage()


async def test_reporters_pick_the_build_s_server(gerrit: GerritStandIn) -> None:
    reporters = GerritReporters([gerrit.settings(comment="on")], Messages())
    demo = replace(BUILD, server="demo")
    assert (await reporters.report(demo, OUTCOME)).status == "skipped"
    assert (await reporters.report(BUILD, OUTCOME)).status == "posted"


# -- posting over REST -----------------------------------------------------------------------


async def test_rest_posts_with_auth_tag_and_body(er_messages: Messages, state: StateStore) -> None:
    async with ReviewEndpoint() as endpoint:
        reporter = GerritReporter(endpoint.settings(), er_messages, state=state)
        result = await reporter.report(BUILD, OUTCOME)
        assert (await reporter.report(BUILD, OUTCOME)).status == "duplicate"
    assert result.status == "posted", result.detail
    assert endpoint.calls == [
        (
            "/a/changes/openstack%2Fnova~912345/revisions/2/review",
            {"message": EXPECTED, "tag": "autogenerated:recheckbot"},
        )
    ]


async def test_rest_errors_are_failed_results_without_secrets(
    er_messages: Messages, caplog: pytest.LogCaptureFixture
) -> None:
    async with ReviewEndpoint() as endpoint:
        wrong = GerritReporter(endpoint.settings(http_password="wrong-s3cret"), er_messages)
        refused = await wrong.report(BUILD, OUTCOME)
        endpoint.status = 500
        broken = await GerritReporter(endpoint.settings(), er_messages).report(BUILD, OUTCOME)
    assert refused.status == "failed"
    assert refused.detail == "HTTP 401 Unauthorized (check user and http_password)"
    assert broken.detail == "HTTP 500 Internal Server Error: Internal server error"
    assert "s3cret" not in caplog.text
    with pytest.raises(ValueError, match="comment_via: rest needs http_url and http_password"):
        GerritServer(name="g", host="h", user="u", comment_via="rest", http_url="https://g")
