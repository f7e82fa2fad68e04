"""Announcement formatting: ER's golden text, IRC codes, Matrix HTML."""

from __future__ import annotations

from bot.bugs import jira, launchpad
from bot.events.model import FailedBuild, Job
from bot.transports.ircformat import BOLD
from bot.watch.messages import (
    format_bug_list,
    format_found,
    format_not_ready,
    format_unrecognized,
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


def test_found_keeps_ers_golden_text() -> None:
    # The exact line ER's tests expected (INVENTORY §4.2); entries sorted by job name.
    text = format_found(
        KEYSTONE,
        [JobResult("gate-keystone-python27"), JobResult("gate-keystone-python26", (LP,))],
    )
    assert text.plain == (
        "openstack/keystone change: https://review.openstack.org/64750 failed because of: "
        "gate-keystone-python26: https://bugs.launchpad.net/bugs/123456, "
        "gate-keystone-python27: unrecognized error"
    )
    assert text.irc is not None
    assert text.irc.startswith(f"{BOLD}openstack/keystone{BOLD} change:")


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
