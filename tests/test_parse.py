"""bot.events.parse on upstream's recorded events, hand-written modern samples and fuzz."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.events.model import FailedBuild, Job
from bot.events.parse import (
    MAX_COMMENT_CHARS,
    CommentKind,
    Skip,
    parse_comment,
    parse_elapsed,
    parse_event,
    parse_log_url,
)
from bot.events.source import RawEvent
from tests.support.events import gerrit_fixture, jenkins_fixture, sample


def parse(data: Any, accounts: tuple[str, ...] = ("zuul", "jenkins")) -> FailedBuild | Skip:
    return parse_event(RawEvent(server="review", data=data), ci_accounts=accounts)


def failed(data: Any, accounts: tuple[str, ...] = ("zuul", "jenkins")) -> FailedBuild:
    result = parse(data, accounts)
    assert isinstance(result, FailedBuild), result
    return result


# --- upstream's recorded events (INVENTORY §5) -------------------------------------------------

#: array index → (change,patchset, project, queue, failed jobs as "name short-uuid[ nv]")
KEYSTONE = ["gate-keystone-python26 d3fd328", "gate-keystone-python27 5dd41fe"]
ER_FAILURES = {
    1: ("65361,2", "openstack/requirements", "check",
        ["check-requirements-integration-dsvm 8209fb4", "check-grenade-dsvm-neutron 59354b6 nv"]),
    2: ("63078,19", "openstack/horizon", "check", ["check-tempest-dsvm-full ab07162"]),
    5: ("64749,6", "openstack/keystone", "check", KEYSTONE),
    6: ("64750,6", "openstack/keystone", "gate", KEYSTONE),
}  # fmt: skip


def summary(build: FailedBuild) -> list[str]:
    return [f"{j.name} {j.short_uuid}" + ("" if j.voting else " nv") for j in build.failed_jobs]


def test_gerrit_fixture_failures_are_exactly_ers_four() -> None:
    results = [parse(event) for event in gerrit_fixture()]
    assert len(results) == 11
    assert [i for i, r in enumerate(results) if isinstance(r, FailedBuild)] == [1, 2, 5, 6]
    assert {r.reason for r in results if isinstance(r, Skip)} == {"build succeeded"}


@pytest.mark.parametrize("index", sorted(ER_FAILURES))
def test_gerrit_fixture_failure(index: int) -> None:
    build = failed(gerrit_fixture()[index])
    change_ps = f"{build.change},{build.patchset}"
    assert (change_ps, build.project, build.queue, summary(build)) == ER_FAILURES[index]
    assert build.server == "review"
    assert build.branch == "master"
    assert build.author == "jenkins"
    assert build.change_url == f"https://review.openstack.org/{build.change}"
    assert build.key == f"review/{change_ps}/{build.queue}@{int(build.created)}"


def test_gerrit_fixture_details_of_65361() -> None:
    event = gerrit_fixture()[1]
    build = failed(event)
    assert build.created == 1389384794.0
    assert build.comment == event["comment"]
    assert len(build.jobs) == 12
    assert all(job.result in {"SUCCESS", "FAILURE"} for job in build.jobs)
    first_failed = build.failed_jobs[0]
    assert first_failed.duration == 9 * 60 + 44
    assert first_failed.url == (
        "http://logs.openstack.org/61/65361/2/check/check-requirements-integration-dsvm/8209fb4"
    )
    assert first_failed.uuid is None


def test_docs_draft_urls_give_the_uuid_not_the_last_segment() -> None:
    # ER took the last path segment, i.e. "html" for `…/60c7b1b/doc/build/html/`.
    docs = next(j for j in failed(gerrit_fixture()[5]).jobs if j.name == "gate-keystone-docs")
    assert docs.short_uuid == "77c8f7a"


def test_gerrit_fixture_success_with_non_voting_failures_is_skipped() -> None:
    comment = parse_comment(gerrit_fixture()[3]["comment"])
    assert comment.kind is CommentKind.BUILD_SUCCEEDED
    assert sum(1 for job in comment.jobs if job.failed and not job.voting) == 7
    assert comment.jobs[2].duration == 3600 + 4 * 60 + 35


def test_jenkins_fixture_failure_takes_change_from_log_urls() -> None:
    build = failed(jenkins_fixture()[0])
    assert (build.change, build.patchset, build.queue, build.project) == ("64831", "1", "check", "")
    assert [(j.name, j.short_uuid) for j in build.failed_jobs] == [
        ("check-requirements-integration-dsvm", "135d0b4"),
        ("check-tempest-dsvm-full", "287c655"),
        ("check-tempest-dsvm-postgres-full", "91f3b16"),
        ("check-tempest-dsvm-neutron", "117634b"),
    ]
    assert build.failed_jobs[2].duration == 3600 + 60 + 15
    assert build.created == 0.0


def test_jenkins_fixture_other_events_are_skipped() -> None:
    _, blah, sdague = jenkins_fixture()
    assert parse(blah) == Skip("not comment-added (type 'blah')")
    assert parse(sdague) == Skip("author 'sdague' is not a CI account")
    assert parse(sdague, ("sdague",)) == Skip("no comment text")


# --- hand-written modern samples (tests/data/events/README.md) --------------------------------


def test_zuul_v3_check_sample() -> None:
    build = failed(sample("zuul_v3_check_failed.json"))
    assert (build.change, build.patchset, build.queue) == ("612321", "2", "check")
    assert build.created == 1540212345.0
    assert build.buildset_url is None
    got = [(j.name, j.result, j.voting, j.duration, j.short_uuid) for j in build.failed_jobs]
    assert got == [
        ("tempest-full", "FAILURE", True, 3723.0, "9c1d2e3"),
        ("nova-live-migration", "POST_FAILURE", False, 3490.0, "b4e5f60"),
        ("grenade-py3", "TIMED_OUT", True, 10812.0, "5a6b7c8"),
        ("neutron-grenade", "RETRY_LIMIT", True, 45.0, "d0e1f2a"),
        ("legacy-tempest-dsvm-cells", "FAILURE", False, 2700.0, "0a1b2c3"),
        ("nova-tox-functional", "NODE_FAILURE", True, None, None),
    ]
    assert build.failed_jobs[0].url is not None
    assert build.failed_jobs[0].url.startswith("https://logs.openstack.org/")
    assert build.failed_jobs[-1].url is None  # Zuul v2-style name repeated: no URL


def test_newer_zuul_sample_with_buildset_and_build_pages() -> None:
    data = sample("zuul_buildset_check_failed.json")
    build = failed(data)
    assert (build.change, build.patchset, build.queue) == ("904321", "4", "check")
    assert build.buildset_url == (
        "https://zuul.opendev.org/t/openstack/buildset/3c5e0f7a9b1d4e2f8a6c0b4d2e8f1a3c"
    )
    by_name = {job.name: job for job in build.jobs}
    assert by_name["openstack-tox-py311"].uuid == "6a1f0e2d3c4b5a69788796a5b4c3d2e1"
    assert by_name["openstack-tox-py311"].short_uuid is None
    assert by_name["nova-next"].url is None
    assert by_name["nova-next"].result == "NODE_FAILURE"
    assert by_name["nova-multi-cell"].result == "SKIPPED"
    assert not by_name["nova-multi-cell"].failed
    docs = by_name["openstack-tox-docs"]
    assert (docs.result, docs.duration) == ("ERROR", 12.0)
    assert docs.detail == "Project openstack/nova-specs does not have the default branch master"
    comment = parse_comment(data["comment"])
    assert (comment.tenant, comment.skipped_jobs) == ("openstack", 3)
    assert comment.successes_omitted


def test_gate_sample_with_swift_log_urls() -> None:
    build = failed(sample("zuul_gate_failed.json"))
    assert (build.change, build.patchset, build.queue) == ("903210", "3", "gate")
    assert [(j.name, j.short_uuid) for j in build.failed_jobs] == [
        ("neutron-tempest-plugin-ovn", "9f2a3b4")
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("zuul_dependency_failed.json", "dependency failed to merge"),
        ("zuul_dependency_cycle.json", "dependency cycle failed"),
        ("zuul_merge_conflict.json", "merge conflict"),
        ("zuul_config_error.json", "config error"),
        ("zuul_build_succeeded.json", "build succeeded"),
    ],
)
def test_samples_that_are_not_failures(name: str, reason: str) -> None:
    assert parse(sample(name)) == Skip(reason)


def test_numbers_as_ints_or_strings_parse_alike() -> None:
    as_ints = sample("zuul_gate_failed.json")
    as_strings = json.loads(json.dumps(as_ints))
    as_strings["change"]["number"] = "903210"
    as_strings["patchSet"]["number"] = "3"
    as_strings["eventCreatedOn"] = "1702137600"
    assert isinstance(as_ints["change"]["number"], int)
    assert failed(as_ints) == failed(as_strings)


# --- comment parsing --------------------------------------------------------------------------


UUID = "0123456789abcdef" * 2
LOGS = "https://logs.example.org/12/3412/5/check"
HTTP_LOGS = "http://logs.example.org/12/3412/5/check"  # ER matched only these


def describe(job: Job) -> str:
    voting = "voting" if job.voting else "non-voting"
    ids = f"{job.short_uuid} {job.uuid}"
    return f"{job.name} {job.result} {voting} {job.duration} {ids} {job.detail}"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"- tempest-full {LOGS}/tempest-full/abc1234 : FAILURE in 1h 02m 03s",
         "tempest-full FAILURE voting 3723.0 abc1234 None None"),
        (f"- job-a {HTTP_LOGS}/job-a/abc1234/ : SUCCESS in 3m 05s (non-voting)",
         "job-a SUCCESS non-voting 185.0 abc1234 None None"),
        ("- job-x : NODE_FAILURE", "job-x NODE_FAILURE voting None None None None"),
        ("- job-w : CANCELED", "job-w CANCELED voting None None None None"),
        (f"- job-y https://zuul.example.org/t/t1/build/{UUID.upper()} : ABORTED in 45s",
         f"job-y ABORTED voting 45.0 None {UUID} None"),
        (f"- job-z https://zuul.example.org/t/t1/build/{UUID} : RETRY_LIMIT Host unreachable "
         "in 2m 00s (non-voting)",
         f"job-z RETRY_LIMIT non-voting 120.0 None {UUID} Host unreachable"),
        ("- job-v job-v : POST_FAILURE Upload failed",
         "job-v POST_FAILURE voting None None None Upload failed"),
    ],
)  # fmt: skip
def test_job_lines(line: str, expected: str) -> None:
    (job,) = parse_comment(f"Build failed.\n\n{line}\n").jobs
    assert describe(job) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45s", 45.0), ("3m 05s", 185.0), ("1h 02m 03s", 3723.0), ("0s", 0.0), ("2h", 7200.0)],
)
def test_elapsed(text: str, seconds: float) -> None:
    assert parse_elapsed(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "3 minutes", "1h 02m 03", "99999999s"])
def test_elapsed_rejects(text: str) -> None:
    assert parse_elapsed(text) is None


@pytest.mark.parametrize(
    ("text", "kind", "pipeline"),
    [
        ("Build failed.", "build failed", None),
        ("Build failed (check pipeline).  For information …", "build failed", "check"),
        ("Patch Set 3: Verified-2\n\nBuild failed (gate pipeline).", "build failed", "gate"),
        ("Patch Set 1:\n\n(2 comments)\n\nBuild succeeded.", "build succeeded", None),
        ("Build succeeded (post pipeline).", "build succeeded", "post"),
        ("This change depends on a change that failed to merge.", "dependency failed to merge",
         None),
        ("This change is part of a dependency cycle that failed.", "dependency cycle failed", None),
        ("Zuul encountered a syntax error while parsing its configuration", "config error", None),
        ("Merge Failed.\n\nThis change or one of…", "merge conflict", None),
        ("Starting check jobs.", "unknown", None),
        ("", "unknown", None),
    ],
)  # fmt: skip
def test_headers(text: str, kind: CommentKind, pipeline: str | None) -> None:
    comment = parse_comment(text)
    assert (comment.kind, comment.pipeline) == (kind, pipeline)


def test_queue_falls_back_to_the_first_failed_jobs_log_url() -> None:
    text = (
        "Build failed.\n\n"
        "- a https://logs.example.org/11/411/1/periodic/a/1111111/ : SUCCESS in 1s\n"
        "- b https://logs.example.org/11/411/1/experimental/b/2222222/ : FAILURE in 1s\n"
    )
    assert parse_comment(text).pipeline == "experimental"
    assert parse_comment(text.replace("FAILURE", "SUCCESS")).pipeline == "periodic"


def test_log_url_without_change_still_gives_the_short_uuid() -> None:
    url = "https://logs.example.org/periodic/opendev.org/openstack/nova/master/nova-x/0a1b2c3/"
    parsed = parse_log_url(url, "nova-x")
    assert parsed is not None
    assert (parsed.short_uuid, parsed.change, parsed.pipeline) == ("0a1b2c3", None, None)
    assert parse_log_url("https://example.org/no/uuid/here/", "nova-x") is None


def test_unknown_header_counts_only_with_a_failed_voting_job() -> None:
    line = "- job-a https://logs.example.org/11/411/1/check/job-a/1111111/ : FAILURE in 1s"
    comment = f"Patch Set 1:\n\nCI says no.\n\n{line}\n"
    event = {"type": "comment-added", "author": {"username": "zuul"}, "comment": comment}
    assert failed(event).queue == "check"
    event["comment"] = comment.replace("1s", "1s (non-voting)")
    assert parse(event) == Skip("unknown header and no failed voting job")


def test_build_failed_without_failed_jobs_is_skipped() -> None:
    event = {
        "type": "comment-added",
        "author": {"username": "zuul"},
        "change": {"number": 5},
        "patchSet": {"number": 1},
        "comment": "Build failed (check pipeline).\n\n- job-a : ABORTED\n",
    }
    assert parse(event) == Skip("no failed job")


# --- malformed events -------------------------------------------------------------------------


def good_event() -> dict[str, Any]:
    return sample("zuul_gate_failed.json")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e.update(type="ref-updated"), "not comment-added (type 'ref-updated')"),
        (lambda e: e.pop("type"), "not comment-added (type None)"),
        (lambda e: e.update(author="zuul"), "comment author has no username"),
        (lambda e: e["author"].update(username=7), "comment author has no username"),
        (lambda e: e["author"].update(username="jdev"), "author 'jdev' is not a CI account"),
        (lambda e: e.update(comment=None), "no comment text"),
        (lambda e: e.update(comment=["Build failed."]), "no comment text"),
        (lambda e: e.update(comment="   \n"), "no comment text"),
        (lambda e: e["change"].update(number="12a"), "change number '12a' is not a number"),
        (lambda e: e["change"].update(number=True), "change number True is not a number"),
        (lambda e: e["change"].update(number=-3), "change number -3 is not a number"),
        (lambda e: e["patchSet"].update(number=[]), "patchset number of type list is not a number"),
    ],
)  # fmt: skip
def test_malformed_events_are_skipped_with_a_reason(mutate: Any, reason: str) -> None:
    event = good_event()
    mutate(event)
    assert parse(event) == Skip(reason)


def test_missing_numbers_without_log_urls_are_skipped() -> None:
    event = sample("zuul_buildset_check_failed.json")  # build-page URLs carry no change
    del event["patchSet"]
    assert parse(event) == Skip("no patchset number")
    event["change"] = "not an object"
    assert parse(event) == Skip("no change number")


@pytest.mark.parametrize("data", [None, [], "comment-added", 42, ["type", "comment-added"]])
def test_non_object_events(data: Any) -> None:
    result = parse(data)
    assert isinstance(result, Skip)
    assert "not a JSON object" in result.reason


def test_huge_comment_is_skipped() -> None:
    event = good_event()
    event["comment"] += "x" * MAX_COMMENT_CHARS
    result = parse(event)
    assert isinstance(result, Skip)
    too_long = f"comment of {len(event['comment'])} characters is too long for a CI report"
    assert result.reason == too_long


CREATED_ON = [
    (1702137600, 1702137600.0),
    ("1702137600", 1702137600.0),
    (1.5, 1.5),
    # Milliseconds (Zuul's REST API and Java clients count in them) are plainly not seconds.
    (1702137600123, 1702137600.123),
    ("1702137600000", 1702137600.0),
    (10**12, 10**9),
]
NO_CREATED_ON = [
    *("soon", None, True, float("nan"), 10**400, "1e999", -5, 0),
    # Out of range for a search's dates ("year 33658 is out of range"), and no milliseconds.
    *(1e15, 10**12 * 1000, float("inf"), "inf", "-inf", 5e9, 4102444801),
]


@pytest.mark.parametrize(
    ("value", "created"), [*CREATED_ON, *((value, 0.0) for value in NO_CREATED_ON)]
)
def test_event_created_on(value: Any, created: float) -> None:
    event = good_event()
    event["eventCreatedOn"] = value
    assert failed(event).created == created


def test_project_falls_back_to_the_top_level_field() -> None:
    event = good_event()
    del event["change"]["project"]
    assert failed(event).project == "openstack/neutron"


# --- fuzz: nothing raises ---------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
LINE_PARTS = st.sampled_from([
    "- ", "job", " ", " : ", "FAILURE", "SUCCESS", " in ", "1h 02m 03s", "3m", "45s", "\n", "/",
    "(non-voting)", "Patch Set 1:", "Build failed", "Skipped 2 jobs", "é",
    "https://logs.x/1/2/3/check/job/abc1234/", f"http://z/t/a/build/{UUID}",
    f"https://z/t/a/buildset/{UUID}",
])  # fmt: skip
COMMENTS = st.text(max_size=300) | st.lists(LINE_PARTS, max_size=60).map("".join)


def event_with(comment: Any, number: Any, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "comment-added",
        "author": {"username": "zuul"},
        "comment": comment,
        "change": {"number": number, "project": extra.get("p")},
        "patchSet": {"number": extra.get("n", number)},
        "eventCreatedOn": extra.get("t"),
        **extra,
    }


@settings(max_examples=300, deadline=None)
@given(data=JSON)
def test_fuzz_arbitrary_json_never_raises(data: Any) -> None:
    result = parse(data)
    assert isinstance(result, Skip)
    assert not result.reason.startswith("internal error")


@settings(max_examples=500, deadline=None)
@given(comment=COMMENTS, number=JSON, extra=st.dictionaries(st.text(max_size=4), JSON, max_size=3))
def test_fuzz_comment_events_never_raise(comment: str, number: Any, extra: dict[str, Any]) -> None:
    result = parse(event_with(comment, number, extra))
    if isinstance(result, Skip):
        assert not result.reason.startswith("internal error")
    else:
        assert result.failed_jobs
        assert result.change.isdigit()


@settings(max_examples=300, deadline=None)
@given(comment=COMMENTS)
def test_fuzz_parse_comment_jobs_come_from_job_lines(comment: str) -> None:
    parsed = parse_comment(comment)
    assert len(parsed.jobs) <= sum(1 for line in comment.splitlines() if line.startswith("- "))
