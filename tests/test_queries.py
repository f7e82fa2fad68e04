"""Loading the query repo: ER's real files, our extensions, tracker references, lookups."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.bugs import Bug, ref_from_id, ref_from_name, ref_from_url, untracked
from bot.queries import Query, QueryError, load_queries, load_query_file
from tests.support.paths import FIXTURES, UPSTREAM_QUERIES, require_upstream


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the real upstream queries ----------------------------------------------------------------


def test_all_upstream_queries_load_without_problems() -> None:
    require_upstream()
    repo = load_queries(UPSTREAM_QUERIES)
    assert [str(p) for p in repo.problems] == []
    assert len(repo.queries) == 74
    assert [q.id for q in repo.queries] == sorted(p.stem for p in UPSTREAM_QUERIES.glob("*.yaml"))
    assert all(q.bug.kind == "launchpad" and q.bug.id == q.id for q in repo.queries)


def test_upstream_query_text_is_the_yaml_text_stripped() -> None:
    require_upstream()
    repo = load_queries(UPSTREAM_QUERIES)
    for query in repo.queries:
        assert query.source is not None
        raw = yaml.safe_load(query.source.read_text())["query"]
        assert query.lucene == raw.strip()
        assert not query.lucene.endswith("\n")


@pytest.mark.parametrize("name", ["queries", "queries_with_filters", "suppressed_queries"])
def test_fixture_dirs_load(name: str) -> None:
    require_upstream()
    directory = FIXTURES / name
    repo = load_queries(directory)
    assert repo.problems == ()
    assert len(repo.queries) == len(list(directory.glob("*.yaml"))) > 0


def test_flags_of_known_files() -> None:
    require_upstream()
    suppressed = load_query_file(FIXTURES / "suppressed_queries" / "1410969.yaml")
    assert suppressed.suppress_notification
    assert suppressed.suppress_graph
    assert suppressed.lucene.endswith('AND build_queue:"gate"')

    filtered = load_query_file(FIXTURES / "queries_with_filters" / "1234567.yaml")
    assert filtered.test_ids == (
        "tempest.api.object_storage.test_account_services.test_list_containers",
    )
    assert not filtered.suppress_graph
    assert not filtered.allow_nonvoting

    repo = load_queries(UPSTREAM_QUERIES)
    assert [q.id for q in repo.queries if q.allow_nonvoting] == ["1708704"]
    assert {q.id for q in repo.queries if q.suppress_graph} == {
        "1260311",
        "1260654",
        "1269940",
        "1270309",
        "1716008",
        "1719469",
    }
    assert [q.id for q in repo.queries if q.test_ids] == ["1775947"]
    assert not any(q.suppress_notification for q in repo.queries)


def test_effective_adds_voting_unless_allow_nonvoting() -> None:
    require_upstream()
    repo = load_queries(UPSTREAM_QUERIES)
    voting = repo.get("1400905")
    nonvoting = repo.get("1708704")
    assert voting is not None
    assert nonvoting is not None
    assert voting.effective == '(message:"Hash Sum mismatch" AND tags:console) AND voting:1'
    assert nonvoting.effective == nonvoting.lucene
    assert "voting" not in nonvoting.effective


# --- extensions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "bug_id", "url", "project"),
    [
        ("1284371", "launchpad", "1284371", "https://bugs.launchpad.net/bugs/1284371", None),
        ("lp1284371", "launchpad", "1284371", "https://bugs.launchpad.net/bugs/1284371", None),
        ("OSPRH-45", "jira", "OSPRH-45", "https://issues.redhat.com/browse/OSPRH-45", "OSPRH"),
        ("JIRA-123", "jira", "JIRA-123", "https://issues.redhat.com/browse/JIRA-123", "JIRA"),
        (
            "rhbz1234567",
            "bugzilla",
            "1234567",
            "https://bugzilla.redhat.com/show_bug.cgi?id=1234567",
            None,
        ),
        (
            "gh-openstack-nova-12",
            "github",
            "openstack/nova#12",
            "https://github.com/openstack/nova/issues/12",
            "openstack/nova",
        ),
    ],
)
def test_tracker_inferred_from_file_name(
    tmp_path: Path, name: str, kind: str, bug_id: str, url: str, project: str | None
) -> None:
    query = load_query_file(write(tmp_path, f"{name}.yaml", 'query: message:"boom"\n'))
    assert query.id == name
    assert query.bug == Bug(kind, bug_id, url, project)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bug", "expected"),
    [
        (
            "https://github.com/openstack-k8s-operators/ci-framework/issues/7",
            Bug(
                "github",
                "openstack-k8s-operators/ci-framework#7",
                "https://github.com/openstack-k8s-operators/ci-framework/issues/7",
                "openstack-k8s-operators/ci-framework",
            ),
        ),
        (
            "openstack-k8s-operators/ci-framework#7",
            Bug(
                "github",
                "openstack-k8s-operators/ci-framework#7",
                "https://github.com/openstack-k8s-operators/ci-framework/issues/7",
                "openstack-k8s-operators/ci-framework",
            ),
        ),
        (
            "https://jira.example.org/browse/ABC-9",
            Bug("jira", "ABC-9", "https://jira.example.org/browse/ABC-9", "ABC"),
        ),
        (
            "https://bugzilla.suse.com/show_bug.cgi?id=42",
            Bug("bugzilla", "42", "https://bugzilla.suse.com/show_bug.cgi?id=42"),
        ),
        (
            "https://bugs.launchpad.net/tripleo/+bug/1716008",
            Bug("launchpad", "1716008", "https://bugs.launchpad.net/bugs/1716008", "tripleo"),
        ),
        ("1716008", Bug("launchpad", "1716008", "https://bugs.launchpad.net/bugs/1716008")),
    ],
)
def test_bug_key_names_the_tracker(tmp_path: Path, bug: str, expected: Bug) -> None:
    # A dashed org makes gh-<org>-<repo>-<n> ambiguous: bug: says it exactly.
    text = f'query: message:"boom"\nbug: "{bug}"\n'
    query = load_query_file(write(tmp_path, "gh-openstack-k8s-operators-ci-framework-7.yaml", text))
    assert query.bug == expected


def test_tracker_key_reads_the_name_as_that_tracker(tmp_path: Path) -> None:
    query = load_query_file(
        write(tmp_path, "2001234.yaml", 'query: message:"boom"\ntracker: bugzilla\n')
    )
    assert query.bug == Bug(
        "bugzilla", "2001234", "https://bugzilla.redhat.com/show_bug.cgi?id=2001234"
    )


def test_bug_null_is_a_bug_nobody_filed(tmp_path: Path) -> None:
    query = load_query_file(write(tmp_path, "ovb-stack.yaml", 'query: message:"x"\nbug: null\n'))
    assert query.bug == untracked("ovb-stack")
    assert not query.bug.tracked
    assert query.bug.url == ""


def test_extension_keys(tmp_path: Path) -> None:
    text = """\
title: Mirror flaps
tags: [infra, mirrors]
owner: infra-team
pattern:
  - "Hash Sum mismatch"
  - 'say "hi"'
regex: 'E: Failed to fetch .*'
suppress-notification: true
"""
    query = load_query_file(write(tmp_path, "OSPRH-45.yaml", text))
    assert query.title == "Mirror flaps"
    assert query.tags == ("infra", "mirrors")
    assert query.owner == "infra-team"
    assert query.suppress_notification
    assert query.lucene == (
        'message:"Hash Sum mismatch" AND message:"say \\"hi\\"" AND message:/E: Failed to fetch .*/'
    )


def test_pattern_with_regex_true_and_a_query(tmp_path: Path) -> None:
    text = "query: tags:console OR tags:job-output.txt\npattern: 'a/b[0-9]+'\nregex: true\n"
    query = load_query_file(write(tmp_path, "1000001.yaml", text))
    assert query.lucene == "(tags:console OR tags:job-output.txt) AND message:/a\\/b[0-9]+/"


def test_yml_files_load_too_and_other_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "1000001.yml", 'query: message:"a"\n')
    write(tmp_path, "1000002.yaml", 'query: message:"b"\n')
    write(tmp_path, "README.md", "not a query\n")
    write(tmp_path, ".1000003.yaml", "editor backup: [")
    repo = load_queries(tmp_path)
    assert [q.id for q in repo.queries] == ["1000001", "1000002"]
    assert repo.problems == ()


# --- lookups ----------------------------------------------------------------------------------


def test_get_accepts_ids_bug_numbers_and_urls(tmp_path: Path) -> None:
    write(tmp_path, "1284371.yaml", 'query: message:"a"\n')
    write(tmp_path, "OSPRH-45.yaml", 'query: message:"b"\n')
    write(
        tmp_path,
        "gh-openstack-k8s-operators-ci-framework-7.yaml",
        'query: message:"c"\nbug: openstack-k8s-operators/ci-framework#7\n',
    )
    repo = load_queries(tmp_path)

    def found(key: str) -> str | None:
        query: Query | None = repo.get(key)
        return query.id if query else None

    assert found("1284371") == "1284371"
    assert found("lp1284371") == "1284371"
    assert found("LP#1284371") == "1284371"
    assert found("https://bugs.launchpad.net/nova/+bug/1284371") == "1284371"
    assert found("osprh-45") == "OSPRH-45"
    assert found("https://issues.redhat.com/browse/OSPRH-45") == "OSPRH-45"
    assert found("openstack-k8s-operators/ci-framework#7") == (
        "gh-openstack-k8s-operators-ci-framework-7"
    )
    assert found("https://github.com/openstack-k8s-operators/ci-framework/issues/7") == (
        "gh-openstack-k8s-operators-ci-framework-7"
    )
    assert found("1284372") is None
    assert found("https://example.org/nothing") is None


def test_load_query_file_raises_with_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "1000001.yaml", "query: mesage:x\nsupress-graph: true\n")
    with pytest.raises(QueryError) as caught:
        load_query_file(path)
    assert [p.message for p in caught.value.problems] == [
        "supress-graph: unknown key (did you mean 'suppress-graph'?)"
    ]
    path.write_text("query: mesage:x\n")
    with pytest.raises(QueryError, match=r"1000001.yaml: query: unknown field 'mesage'"):
        load_query_file(path)


# --- bugref on its own ------------------------------------------------------------------------


def test_ref_parsers_reject_what_they_do_not_know() -> None:
    assert ref_from_name("not-a-bug") is None
    assert ref_from_id("rhbz") is None
    assert ref_from_url("https://example.org/issues/1") is None
    assert ref_from_url("https://github.com/org/repo/pull/3") == Bug(
        "github", "org/repo#3", "https://github.com/org/repo/pull/3", "org/repo"
    )
    assert ref_from_id("123", "bugzilla") == Bug(
        "bugzilla", "123", "https://bugzilla.redhat.com/show_bug.cgi?id=123"
    )
    assert ref_from_id("OSPRH-1", "launchpad") is None
