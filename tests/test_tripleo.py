"""TripleO's unified format: loading entries as queries, and converting both ways."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.bugs import Bug
from bot.queries import Query, load_queries, load_query_file
from bot.queries.lucene import lucene_problems, plain_query
from bot.queries.tripleo import (
    filename_term,
    lost_in_tripleo,
    to_er_files,
    to_tripleo,
    tripleo_yaml,
)
from tests.support.paths import UPSTREAM_QUERIES, require_upstream

QUERIES_YML = """\
# modelled on tripleo-ci-health-queries
queries:
  - id: ovb-stack-failed
    name: OVB stack creation failed
    pattern:
      - "ERROR - Failed creating OVB stack"
      - 'stack "overcloud" \\ failed'
    category: infra
    url: https://bugs.launchpad.net/tripleo/+bug/1716008
    tags: [console, job-output.txt]
    files:
      - "*/job-output.txt*"
  - id: container-pull
    pattern: 'Error: (pulling|reading) image .*/tripleo[a-z]+/'
    regex: true
    category: code
    url:
      - https://issues.redhat.com/browse/OSPRH-45
      - https://bugs.launchpad.net/tripleo/+bug/1
    files:
      - "logs/undercloud/var/log/*/podman.log"
      - "*.log"
  - id: traceback
    pattern: |
      Traceback (most recent call last):
        File "/usr/lib/python3.9/site-packages/x.py"
    multiline: true
    suppress-graph: true
  - id: standalone-only
    logstash: 'message:"deploy failed" AND build_name:"tripleo-ci-centos-9-standalone"'
    url: https://github.com/openstack-k8s-operators/ci-framework/issues/12
    skip: [sova]
  - id: either-way
    logstash: 'message:"a" OR message:"b"'
    tags: console
  - id: not-for-us
    pattern: whatever
    skip: [elastic-recheck]
  - id: 1284371
    pattern: node went offline
"""


@pytest.fixture
def tripleo_file(tmp_path: Path) -> Path:
    path = tmp_path / "queries.yml"
    path.write_text(QUERIES_YML, encoding="utf-8")
    return path


def test_entries_become_queries(tripleo_file: Path) -> None:
    repo = load_queries(tripleo_file.parent)
    assert repo.problems == ()
    by_id = {q.id: q for q in repo.queries}
    assert list(by_id) == [
        "ovb-stack-failed",
        "container-pull",
        "traceback",
        "standalone-only",
        "either-way",
        "1284371",
    ]  # "not-for-us" skips elastic-recheck, so we skip it

    ovb = by_id["ovb-stack-failed"]
    assert ovb.lucene == (
        'message:"ERROR - Failed creating OVB stack"'
        ' AND message:"stack \\"overcloud\\" \\\\ failed"'
        ' AND (tags:"console" OR tags:"job-output.txt") AND filename:job-output.txt*'
    )
    assert ovb.title == "OVB stack creation failed"
    assert ovb.tags == ("infra",)
    assert ovb.bug == Bug(
        "launchpad", "1716008", "https://bugs.launchpad.net/bugs/1716008", "tripleo"
    )
    assert ovb.source == tripleo_file
    assert ovb.location == "queries[0]"
    assert ovb.effective == f"({ovb.lucene}) AND voting:1"


def test_regex_multiline_logstash_and_bugs(tripleo_file: Path) -> None:
    repo = load_queries(tripleo_file)
    pull = repo.get("container-pull")
    assert pull is not None
    # Slashes escaped inside the regex; "*.log" cannot be said without a leading wildcard.
    assert pull.lucene == (
        "message:/Error: (pulling|reading) image .*\\/tripleo[a-z]+\\//"
        " AND filename:logs\\/undercloud\\/var\\/log\\/*\\/podman.log"
    )
    assert pull.bug.kind == "jira"
    assert pull.bug.id == "OSPRH-45"  # the first url wins
    assert pull.tags == ("code",)

    traceback = repo.get("traceback")
    assert traceback is not None
    assert traceback.lucene == 'message:"Traceback (most recent call last):"'
    assert traceback.suppress_graph
    assert not traceback.bug.tracked  # no url and an id that is no bug number

    standalone = repo.get("standalone-only")
    assert standalone is not None
    assert standalone.lucene == (
        'message:"deploy failed" AND build_name:"tripleo-ci-centos-9-standalone"'
    )
    assert standalone.bug.id == "openstack-k8s-operators/ci-framework#12"

    either = repo.get("either-way")
    assert either is not None
    assert either.lucene == '(message:"a" OR message:"b") AND tags:"console"'

    numbered = repo.get("lp1284371")
    assert numbered is not None
    assert numbered.bug.url == "https://bugs.launchpad.net/bugs/1284371"


def test_bad_entries_name_their_key_path(tmp_path: Path) -> None:
    path = tmp_path / "queries.yml"
    path.write_text(
        """\
queries:
  - id: fine
    pattern: ok
  - id: bad one
    patern: x
    category: network
    suppress-graph: "no"
  - id: costly
    logstash: 'mesage:"x" OR message:*foo'
  - id: nothing
    name: no pattern
  - just a string
  - id: fine
    pattern: again
extra: 1
""",
        encoding="utf-8",
    )
    repo = load_queries(tmp_path)
    assert [q.id for q in repo.queries] == ["fine"]
    assert [str(p) for p in repo.problems] == [
        f"{path}: extra: unknown key (a TripleO file holds only 'queries')",
        f"{path}: queries[1].id: must be a slug (letters, digits, '.', '_', '-'), not 'bad one'",
        f"{path}: queries[1].category: must be one of infra, code, not 'network'",
        f"{path}: queries[1].suppress-graph: must be true or false, not 'no'",
        f"{path}: queries[1].patern: unknown key (did you mean 'pattern'?)",
        f"{path}: queries[2].logstash: unknown field 'mesage' (did you mean 'message'?)",
        f"{path}: queries[2].logstash: leading wildcard in 'message:*foo' is slow"
        " (scans every term); drop it",
        f"{path}: queries[3]: required key is missing: 'pattern' (or 'logstash')",
        f"{path}: queries[4]: must be a mapping, not 'just a string'",
        f"{path}: queries[5].id: duplicate id 'fine' (also {path} queries[0])",
    ]


def test_queries_must_be_a_list(tmp_path: Path) -> None:
    path = tmp_path / "queries.yml"
    path.write_text("queries: {id: x}\n", encoding="utf-8")
    assert [p.message for p in load_queries(path).problems] == [
        "queries: must be a list, not a mapping"
    ]


def test_load_query_file_wants_one_query(tripleo_file: Path) -> None:
    from bot.queries import QueryError

    with pytest.raises(QueryError, match="holds 6 queries; give one bug id"):
        load_query_file(tripleo_file)


@pytest.mark.parametrize(
    ("glob", "term"),
    [
        ("*/job-output.txt*", "job-output.txt*"),
        ("**/logs/syslog.txt", '"logs/syslog.txt"'),
        ("job-output.txt", '"job-output.txt"'),
        ("logs/*/podman.log", "logs\\/*\\/podman.log"),
        ("/logs/screen-n-[a-z]*.txt", "logs\\/screen-n-?*.txt"),
        ("*.log", None),
        ("*/*", None),
    ],
)
def test_filename_term(glob: str, term: str | None) -> None:
    assert filename_term(glob) == term
    if term:
        assert lucene_problems(f'message:"x" AND filename:{term}') == []


# --- conversion ---------------------------------------------------------------------------------


def test_er_to_tripleo_uses_pattern_for_plain_queries_else_logstash() -> None:
    require_upstream()
    repo = load_queries(UPSTREAM_QUERIES)
    entries = {e["id"]: e for e in to_tripleo(repo.queries)["queries"]}
    assert entries["1260654"] == {
        "id": "1260654",
        "pattern": ["java.io.IOException", "Remote call on", "failed"],
        "tags": ["console.html", "job-output.txt"],
        "url": "https://bugs.launchpad.net/bugs/1260654",
        "suppress-graph": True,
    }
    assert entries["1793364"]["files"] == "job-output.txt"
    assert entries["1793364"]["pattern"] == "  connection.scalar(select([1]))'"
    # An OR of messages, a NOT, a build_name: only raw Lucene says those.
    for bug in ("1282876", "1686542", "1798472"):
        assert set(entries[bug]) == {"id", "logstash", "url"}
        assert entries[bug]["logstash"] == repo.get(bug).lucene  # type: ignore[union-attr]
    # "\n" in a phrase is Lucene's "n": not a pattern anybody meant, so it stays Lucene.
    assert "logstash" in entries["1449136"]


def test_er_tripleo_er_round_trip_keeps_meaning(tmp_path: Path) -> None:
    require_upstream()
    original = load_queries(UPSTREAM_QUERIES)
    tripleo = tmp_path / "queries.yml"
    tripleo.write_text(tripleo_yaml(original.queries), encoding="utf-8")
    via_tripleo = load_queries(tripleo)
    assert via_tripleo.problems == ()

    er_dir = tmp_path / "er"
    er_dir.mkdir()
    for name, text in to_er_files(via_tripleo.queries).items():
        (er_dir / name).write_text(text, encoding="utf-8")
    back = load_queries(er_dir)
    assert back.problems == ()
    assert [q.id for q in back.queries] == [q.id for q in original.queries]
    for before, after in zip(original.queries, back.queries, strict=True):
        assert after.bug == before.bug
        assert after.suppress_graph == before.suppress_graph
        if before.lucene != after.lucene:
            # Only the quoting of plain terms may change (tags:console → tags:"console").
            assert plain_query(before.lucene) == plain_query(after.lucene) is not None
    # TripleO cannot hold these; the converter says so.
    assert lost_in_tripleo(original.get("1708704")) == [  # type: ignore[arg-type]
        "1708704: allow-nonvoting has no TripleO key; dropped"
    ]
    assert to_tripleo(back.queries) == to_tripleo(via_tripleo.queries)


def test_tripleo_er_tripleo_round_trip(tripleo_file: Path, tmp_path: Path) -> None:
    first = load_queries(tripleo_file)
    er_dir = tmp_path / "er"
    er_dir.mkdir()
    files = to_er_files(first.queries)
    for name, text in files.items():
        (er_dir / name).write_text(text, encoding="utf-8")
    back = load_queries(er_dir)
    assert back.problems == ()
    assert sorted(q.id for q in back.queries) == sorted(q.id for q in first.queries)
    for query in back.queries:
        before = first.get(query.id)
        assert before is not None
        assert query.bug == before.bug
        assert (query.title, query.tags, query.suppress_graph) == (
            before.title,
            before.tags,
            before.suppress_graph,
        )
        assert plain_query(query.lucene) == plain_query(before.lucene)
    # A regex stays an explicit regex key (in query: it would be flagged as costly).
    assert yaml.safe_load(files["container-pull.yaml"]) == {
        "query": "filename:logs\\/undercloud\\/var\\/log\\/*\\/podman.log",
        "regex": ["Error: (pulling|reading) image .*/tripleo[a-z]+/"],
        "bug": "https://issues.redhat.com/browse/OSPRH-45",
        "tags": ["code"],
    }
    # No tracker link: written as "not filed", so the file name need not be a bug id.
    assert yaml.safe_load(files["traceback.yaml"])["bug"] is None
    # A bug the file name already says needs no bug: key.
    assert "bug" not in yaml.safe_load(files["1284371.yaml"])
    entries = to_tripleo(back.queries)["queries"]
    assert sorted(entries, key=lambda e: e["id"]) == sorted(
        to_tripleo(first.queries)["queries"], key=lambda e: e["id"]
    )


def test_er_file_text_reads_like_er(tmp_path: Path) -> None:
    query = Query(
        id="1000001",
        lucene='message:"a" AND\n  message:"b"  AND tags:"console"',
        bug=Bug("launchpad", "1000001", "https://bugs.launchpad.net/bugs/1000001"),
        allow_nonvoting=True,
        test_ids=("tempest.x",),
    )
    text = to_er_files([query])["1000001.yaml"]
    assert text.startswith("query: |2-\n")
    assert yaml.safe_load(text) == {
        "query": query.lucene,
        "allow-nonvoting": True,
        "test_ids": ["tempest.x"],
    }
    simple = Query(id="1000002", lucene='message:"a" AND tags:"b"', bug=query.bug)
    assert to_er_files([simple])["1000002.yaml"].startswith(
        'query: >-\n  message:"a" AND\n  tags:"b"\n'
    )
