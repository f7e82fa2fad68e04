"""Announcement formatting: ER's golden text, IRC codes, Matrix HTML."""

from __future__ import annotations

import re
from dataclasses import replace
from html import escape

import pytest

from bot.bugs import jira, launchpad
from bot.events.model import FailedBuild, Job
from bot.state.evidence import Matched
from bot.transports.ircformat import BOLD, strip_formatting
from bot.watch.messages import (
    MAX_JOBS,
    SHORT_LINE,
    bug_page_url,
    clean,
    format_bug_list,
    format_found,
    format_not_ready,
    format_unrecognized,
    page_id,
)
from bot.watch.outcome import JobResult

KEYSTONE = FailedBuild(
    server="opendev",
    project="openstack/keystone",
    change="64750",
    patchset="6",
    queue="gate",
    jobs=(Job("gate-keystone-python26", "FAILURE"), Job("gate-keystone-python27", "FAILURE")),
    change_url="https://review.openstack.org/64750",
)
LP = launchpad("123456")


def test_found_keeps_ers_golden_text_and_names_the_queue() -> None:
    # The line ER's tests expected (INVENTORY §4.2), with the queue; entries sorted by job name.
    text = format_found(
        KEYSTONE,
        [JobResult("gate-keystone-python27"), JobResult("gate-keystone-python26", (LP,))],
    )
    assert text.plain == (
        "openstack/keystone change: https://review.openstack.org/64750 failed in the gate queue "
        "because of: gate-keystone-python26: https://bugs.launchpad.net/bugs/123456, "
        "gate-keystone-python27: unrecognized error"
    )
    assert text.irc is not None
    assert text.irc.startswith(f"{BOLD}openstack/keystone{BOLD} change:")
    assert "failed in the gate queue because of:" in text.irc
    assert text.html is not None
    assert "failed in the gate queue because of:<ul>" in text.html


def test_found_names_the_check_queue_and_says_nothing_of_an_unknown_one() -> None:
    check = format_found(replace(KEYSTONE, queue="check"), [JobResult("a", (LP,))])
    assert " failed in the check queue because of: a: " in check.plain
    unknown = format_found(replace(KEYSTONE, queue=None), [JobResult("a", (LP,))])
    assert " failed because of: a: " in unknown.plain


UNCAT = "https://dash.example.org/uncategorized.html"


def test_found_links_an_unrecognized_error_to_the_uncategorized_page() -> None:
    jobs = [JobResult("b-job"), JobResult("a-job", (LP,)), JobResult("c-job")]
    text = format_found(KEYSTONE, jobs, UNCAT)
    assert text.plain.endswith(
        f"a-job: https://bugs.launchpad.net/bugs/123456, b-job: unrecognized error (see {UNCAT}), "
        "c-job: unrecognized error"
    )
    assert text.plain.count(UNCAT) == 1  # once: IRC lines stay short
    assert text.irc is not None
    assert strip_formatting(text.irc) == text.plain
    assert text.html is not None
    assert text.html.count(f'<a href="{UNCAT}"><b>unrecognized error</b></a>') == 2


def test_found_without_an_unrecognized_job_or_a_page_adds_no_link() -> None:
    known = format_found(KEYSTONE, [JobResult("a-job", (LP,))], UNCAT)
    assert UNCAT not in known.plain
    assert known.html is not None
    assert UNCAT not in known.html
    no_page = format_found(KEYSTONE, [JobResult("a-job")], None)
    assert no_page.plain.endswith("a-job: unrecognized error")
    hostile = format_found(KEYSTONE, [JobResult("a-job")], "javascript:alert(1)")
    assert hostile.html is not None
    assert "javascript:" not in hostile.html


def test_found_html_links_bugs_with_titles_and_escapes() -> None:
    bug = jira("OSPRH-7", "https://issues.example.org/browse/OSPRH-7").described(
        title="db <lock> timeout", status="New"
    )
    text = format_found(KEYSTONE, [JobResult("job-a", (bug,), url="https://logs.example.org/a/")])
    assert text.html is not None
    assert '<a href="https://issues.example.org/browse/OSPRH-7">bug OSPRH-7</a>' in text.html
    assert "db &lt;lock&gt; timeout (New)" in text.html
    assert '<a href="https://logs.example.org/a/"><code>job-a</code></a>' in text.html
    assert 'job-a: https://issues.example.org/browse/OSPRH-7 "db <lock> timeout"' in text.plain


def test_unrecognized_and_not_ready() -> None:
    text = format_unrecognized(KEYSTONE, ["b-job", "a-job"], "https://dash.example.org/uncat")
    assert text.plain == (
        "openstack/keystone change: https://review.openstack.org/64750 failed a-job, b-job "
        "in the gate queue with an unrecognized error (see https://dash.example.org/uncat)"
    )
    late = format_not_ready(KEYSTONE, ["gate-keystone-python26"], 1200.4)
    assert late.plain.startswith("Logs not ready after 1200s for gate-keystone-python26")
    assert "(64750,6)" in late.plain


def test_review_bug_list() -> None:
    jobs = [JobResult("z-job"), JobResult("a-job", (LP,))]
    assert format_bug_list(jobs) == (
        "- a-job: https://bugs.launchpad.net/bugs/123456\n- z-job: unrecognized error"
    )


# --- a cap on the jobs listed -------------------------------------------------------------

BUILDSET = "https://zuul.example.org/t/openstack/buildset/0a1b2c"
HUGE = replace(KEYSTONE, buildset_url=BUILDSET)


def test_a_buildset_of_thousands_of_failed_jobs_is_one_short_message() -> None:
    jobs = [JobResult(f"job-{n:05d}") for n in range(11_344)]
    jobs += [JobResult("zz-known", (LP,)), JobResult("zz-known-too", (LP,))]
    text = format_found(HUGE, jobs)
    tail = f"… and 11,326 more: {BUILDSET}"
    assert text.plain.endswith(f", {tail}")
    assert text.irc is not None
    assert text.irc.endswith(f", {tail}")
    assert text.plain.count(": unrecognized error") == MAX_JOBS - 2
    assert "zz-known: https://bugs.launchpad.net/bugs/123456" in text.plain  # bugs go first
    assert len(text.plain) < 2000
    assert text.html is not None
    assert text.html.count("<li>") == MAX_JOBS + 1
    assert f'<li>… and 11,326 more: <a href="{BUILDSET}">{BUILDSET}</a></li>' in text.html


def test_a_short_list_is_not_cut() -> None:
    jobs = [JobResult(f"job-{n:02d}") for n in range(MAX_JOBS)]
    text = format_found(HUGE, jobs)
    assert "more" not in text.plain
    assert text.plain.count(": unrecognized error") == MAX_JOBS


def test_unrecognized_and_not_ready_lists_are_cut_too() -> None:
    names = [f"job-{n:05d}" for n in range(11_346)]
    text = format_unrecognized(KEYSTONE, names)  # no buildset link: the change's
    assert text.plain == (
        "openstack/keystone change: https://review.openstack.org/64750 failed "
        + ", ".join(names[:MAX_JOBS])
        + " … and 11,326 more: https://review.openstack.org/64750"
        " in the gate queue with an unrecognized error"
    )
    assert text.html is not None
    assert "… and 11,326 more: <a " in text.html
    late = format_not_ready(HUGE, names, 60)
    assert f"{names[MAX_JOBS - 1]} … and 11,326 more: {BUILDSET} of openstack/keystone" in (
        late.plain
    )
    assert late.html is not None
    assert late.html.count("job-") == MAX_JOBS


# --- only http(s) links, and external text cleaned -----------------------------------------

HOSTILE_URLS = ("javascript:alert(1)", "JavaScript:alert(1)", " javascript:x", "data:text/html,x")


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_only_http_urls_become_links(url: str) -> None:
    build = replace(KEYSTONE, change_url=url, buildset_url=url)
    bug = jira("OSPRH-7", url).described(title="t")
    jobs = [JobResult("job-a", (bug,), url=url), *(JobResult(f"j{n}") for n in range(MAX_JOBS))]
    texts = [
        format_found(build, jobs),
        format_unrecognized(build, ["a"] * 30, uncategorized_url=url),
        format_not_ready(build, ["a"] * 30, 5),
    ]
    for text in texts:
        assert text.html is not None
        assert re.findall(r'href="([^"]*)"', text.html) == []
        assert "javascript:" not in text.html.lower().replace(escape(url.lower()), "")


def test_http_links_are_kept() -> None:
    text = format_found(KEYSTONE, [JobResult("a", (LP,), url="https://logs.example.org/a?x=1&y=2")])
    assert text.html is not None
    assert re.findall(r'href="([^"]*)"', text.html) == [
        "https://review.openstack.org/64750",
        "https://logs.example.org/a?x=1&amp;y=2",
        "https://bugs.launchpad.net/bugs/123456",
    ]


#: What must never reach a room from outside: controls (ESC, CR, LF…), bidi controls, LS.
UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028]")
SPOOF = "openstack/nova\r\nNOTICE #openstack-qa :all clear"


def test_external_text_loses_line_breaks_formatting_and_bidi_controls() -> None:
    build = replace(KEYSTONE, project=SPOOF, queue="gate\x00", change_url="https://r.example/1\n2")
    bug = launchpad("9").described(title="\x1b[2J\x0304red\x0f title \u202eexe.txt\u2066")
    jobs = [JobResult("\x02job\x02\u2028-a", (bug,)), JobResult("job-b\x1f")]
    texts = [
        format_found(build, jobs),
        format_unrecognized(build, ["job\n-b\x7f"], "https://u.example/\r"),
        format_not_ready(build, ["\u200fjob-c"], 5),
    ]
    for text in texts:
        for rendering in (text.plain, text.irc or "", text.html or ""):
            ours = strip_formatting(rendering)  # our own bold and colours go too
            assert not UNSAFE.search(ours), repr(rendering)
    found = texts[0]
    assert found.plain.startswith(
        "openstack/nova  NOTICE #openstack-qa :all clear change: https://r.example/1 2 failed"
    )
    assert 'job -a: https://bugs.launchpad.net/bugs/9 "red title exe.txt"' in found.plain
    assert "job-b: unrecognized error" in found.plain
    assert found.irc is not None
    assert "\x0304red" not in found.irc


def test_clean_keeps_ordinary_text() -> None:
    assert clean("tempest-full-py3 (ünïcode, 日本語, emoji 🙂)") == (
        "tempest-full-py3 (ünïcode, 日本語, emoji 🙂)"
    )
    assert clean("a\tb\r\nc") == "a b  c"


# --- the bugs' dashboard pages -----------------------------------------------------------

DASH = "https://dash.example.org"


def test_each_bug_links_its_page_in_html_and_once_at_the_end_of_a_short_line() -> None:
    text = format_found(KEYSTONE, [JobResult("a-job", (LP,))], dashboard_url=DASH + "/")
    page = f"{DASH}/bug/123456"
    assert text.plain.endswith(f"a-job: https://bugs.launchpad.net/bugs/123456 (bug page: {page})")
    assert text.irc is not None
    assert strip_formatting(text.irc) == text.plain
    assert text.html is not None
    assert (
        '<a href="https://bugs.launchpad.net/bugs/123456">bug 123456</a>'
        f' · <a href="{page}">bug page</a>'
    ) in text.html


def test_the_page_is_the_matching_querys_and_each_bug_has_one() -> None:
    ticket = jira("OSPRH-7", "https://issues.example.org/browse/OSPRH-7")
    matched = (Matched("osprh-7-timeouts", "OSPRH-7"),)
    jobs = [JobResult("a", (ticket,), evidence=matched), JobResult("b", (ticket, LP))]
    text = format_found(KEYSTONE, jobs, dashboard_url=DASH)
    pages = f"{DASH}/bug/osprh-7-timeouts {DASH}/bug/123456"
    assert text.plain.endswith(f" (bug pages: {pages})")  # each bug once, in their order
    assert text.html is not None
    assert text.html.count(f'<a href="{DASH}/bug/osprh-7-timeouts">bug page</a>') == 2
    # Without evidence (a verdict read back from the journal), a bug's page is its own id.
    alone = format_found(KEYSTONE, [JobResult("b", (ticket,))], dashboard_url=DASH)
    assert alone.plain.endswith(f" (bug page: {DASH}/bug/OSPRH-7)")


def test_a_long_line_leaves_the_pages_to_matrix() -> None:
    bugs = [JobResult(f"job-{n:02d}-with-a-long-name", (launchpad(str(n)),)) for n in range(9)]
    text = format_found(KEYSTONE, bugs, dashboard_url=DASH)
    assert len(text.plain) > SHORT_LINE - 60
    assert "bug page" not in text.plain
    assert text.html is not None
    assert text.html.count(">bug page</a>") == 9


def test_no_page_without_an_http_dashboard_nor_for_an_id_with_no_page() -> None:
    for dashboard in (None, "", "javascript:alert(1)", "ftp://dash.example.org"):
        text = format_found(KEYSTONE, [JobResult("a", (LP,))], dashboard_url=dashboard)
        assert "bug page" not in text.plain
        assert "bug page" not in (text.html or "")
    assert bug_page_url(DASH, "a b/c?") is None  # the dashboard writes no page for it
    assert bug_page_url(DASH, "OSPRH-77") == f"{DASH}/bug/OSPRH-77"
    assert bug_page_url(DASH, "") is None
    assert page_id((Matched("q", "other"),), LP) == "123456"
