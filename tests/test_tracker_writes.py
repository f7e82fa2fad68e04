"""Writing to the trackers (comments, their edits, new bugs) against the local stand-ins, over
real HTTP: what each API receives, what comes back, and auth and rate-limit errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import unquote

import pytest

from bot.bugs import Bug, bugzilla, github, jira, launchpad
from bot.config.trackers import TrackerSettings
from bot.trackers import NotFound, TrackerError
from bot.trackers.launchpad import oauth_header
from bot.trackers.writer import TrackerWriter, missing_credentials
from bot.trackers.writing import AuthError, NewBug, RateLimited, retry_after
from tests.support.trackers import TrackerStandIn

JIRA_BROWSE = "https://issues.redhat.com/browse/"


@pytest.fixture
async def standin() -> AsyncIterator[TrackerStandIn]:
    async with TrackerStandIn(
        jira_token="jira-pat",
        github_token="ghp_token",
        bugzilla_key="bz-key",
        launchpad_token="lp-token",
        launchpad_secret="lp-secret",
    ) as trackers:
        trackers.add_launchpad("1541364", "apt repos", [("nova", "Confirmed", None)])
        trackers.add_jira("OSPRH-12", "iSCSI target vanishes", "New", "new")
        trackers.add_github("org/repo", "12", "flaky test")
        trackers.add_bugzilla("2001234", "nova crashes", "NEW")
        yield trackers


@pytest.fixture
async def writer(standin: TrackerStandIn) -> AsyncIterator[TrackerWriter]:
    async with TrackerWriter(standin.settings()) as writing:
        yield writing


BUGS = [
    launchpad("1541364"),
    jira("OSPRH-12"),
    github("org/repo", "12"),
    bugzilla("2001234"),
]


@pytest.mark.parametrize("ref", BUGS, ids=lambda ref: ref.kind)
async def test_a_comment_reaches_the_bug_and_can_be_edited_where_the_tracker_allows(
    standin: TrackerStandIn, writer: TrackerWriter, ref: Bug
) -> None:
    posted = await writer.comment(ref, "12 hits this week")
    assert standin.writes.texts(ref.key) == ["12 hits this week"]
    if not writer.can_edit(ref.kind):
        assert ref.kind == "bugzilla"
        with pytest.raises(TrackerError, match="cannot be edited"):
            await writer.edit_comment(ref, posted.ref, "no")
        return
    edited = await writer.edit_comment(ref, posted.ref, "20 hits this week")
    assert edited.ref == posted.ref
    (comment,) = standin.writes.comments[ref.key]
    assert (comment.body, comment.earlier) == ("20 hits this week", ["12 hits this week"])


async def test_comment_links_point_at_the_comment(writer: TrackerWriter) -> None:
    lp = await writer.comment(launchpad("1541364"), "x")
    assert lp.url == "https://bugs.launchpad.net/bugs/1541364/comments/1"
    gh = await writer.comment(github("org/repo", "12"), "x")
    assert gh.url is not None
    assert gh.url.startswith("https://github.com/org/repo/issues/12#issue")
    jr = await writer.comment(jira("OSPRH-12"), "x")
    assert jr.url == f"{JIRA_BROWSE}OSPRH-12?focusedCommentId={jr.ref}"


@pytest.mark.parametrize("kind", ["launchpad", "jira", "github"])
async def test_a_filed_bug_can_be_read_back(
    standin: TrackerStandIn, writer: TrackerWriter, kind: str
) -> None:
    project = {"launchpad": "nova", "jira": "OSPRH", "github": "org/repo"}[kind]
    new = NewBug(project, "Timed out waiting for a reply", "the lines\n\nthe query", ("gate",))
    bug = await writer.file_bug(kind, new)  # type: ignore[arg-type]
    (filed,) = standin.writes.filed
    assert (filed.key, filed.project, filed.title) == (bug.key, project, new.title)
    assert filed.labels == ("gate",)
    assert filed.description == "the lines\n\nthe query"
    assert bug.kind == kind
    assert bug.tracked


def test_launchpad_signs_plaintext_with_the_token_secret() -> None:
    settings = TrackerSettings.model_validate(
        {"launchpad": {"oauth_token": "tok", "oauth_token_secret": "s&cret"}}
    )
    header = oauth_header(settings.launchpad, nonce="n1", timestamp=1700000000)["Authorization"]
    assert header.startswith('OAuth realm="https://api.launchpad.net/", ')
    fields = dict(part.split("=", 1) for part in header.split(", ")[1:])
    assert unquote(fields["oauth_signature"].strip('"')) == "&s%26cret"
    assert fields["oauth_signature_method"] == '"PLAINTEXT"'
    assert fields["oauth_token"] == '"tok"'
    assert oauth_header(TrackerSettings().launchpad, nonce="n", timestamp=1) == {}


@pytest.mark.parametrize("ref", BUGS, ids=lambda ref: ref.kind)
async def test_refused_credentials_are_an_auth_error(standin: TrackerStandIn, ref: Bug) -> None:
    wrong = standin.settings(
        launchpad={
            "api_url": standin.url("launchpad") + "/devel/",
            "oauth_token": "lp-token",
            "oauth_token_secret": "wrong",
        },
        jira={"api_url": standin.url("jira"), "token": "wrong"},
        github={"api_url": standin.url("github"), "token": "wrong"},
        bugzilla={"api_url": standin.url("bugzilla"), "api_key": "wrong"},
    )
    async with TrackerWriter(wrong) as writer:
        with pytest.raises(AuthError) as caught:
            await writer.comment(ref, "x")
    assert caught.value.status == 401
    assert standin.writes.comments == {}


@pytest.mark.parametrize("kind", ["launchpad", "jira", "github", "bugzilla"])
def test_writing_without_credentials_says_which_setting_is_missing(kind: str) -> None:
    why = missing_credentials(TrackerSettings(), kind)  # type: ignore[arg-type]
    assert why is not None
    assert why.startswith(f"writing to {kind} needs trackers.{kind}.")


async def test_no_credentials_no_request(standin: TrackerStandIn) -> None:
    async with TrackerWriter(TrackerSettings()) as writer:
        with pytest.raises(TrackerError, match=r"needs trackers\.github\.token"):
            await writer.comment(github("org/repo", "12"), "x")
    assert standin.writes.writes() == []


@pytest.mark.parametrize("ref", BUGS, ids=lambda ref: ref.kind)
async def test_the_rate_limit_says_how_long_to_wait(
    standin: TrackerStandIn, writer: TrackerWriter, ref: Bug
) -> None:
    standin.writes.rate_limit(ref.kind, 90)
    with pytest.raises(RateLimited) as caught:
        await writer.comment(ref, "x")
    assert caught.value.down
    assert caught.value.retry_after is not None
    assert 80 <= caught.value.retry_after <= 90
    assert caught.value.status == (403 if ref.kind == "github" else 429)


async def test_an_edit_of_a_deleted_comment_is_not_found(writer: TrackerWriter) -> None:
    for ref, gone in [
        (launchpad("1541364"), "http://127.0.0.1:1/elsewhere/bugs/1/comments/9"),
        (jira("OSPRH-12"), "999"),
        (github("org/repo", "12"), "999"),
    ]:
        with pytest.raises(NotFound):
            await writer.edit_comment(ref, gone, "x")


async def test_a_bug_on_another_site_gets_no_token(
    standin: TrackerStandIn, writer: TrackerWriter
) -> None:
    elsewhere = Bug("github", "org/repo#12", "https://github.example.com/org/repo/issues/12")
    assert writer.refusal(elsewhere) == f"{elsewhere.url} is not on the configured github site"
    with pytest.raises(TrackerError):
        await writer.comment(elsewhere, "x")
    assert standin.writes.writes() == []


def test_retry_after_reads_seconds_dates_and_github_resets() -> None:
    assert retry_after({"retry-after": "30"}) == 30
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470) == 10
    reset = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1000"}
    assert retry_after(reset, now=940) == 60
    assert retry_after({"X-RateLimit-Remaining": "10", "X-RateLimit-Reset": "1000"}) is None
