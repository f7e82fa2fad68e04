"""Bad query files and bad Lucene: each gives one specific, located, one-line message."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.queries import Problem, load_queries
from bot.queries.lucene import LuceneSyntaxError, lucene_problems, parse_lucene


def problems_of(tmp_path: Path, name: str, content: str | bytes) -> list[str]:
    """The problem messages of a repo holding just this one file."""
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    repo = load_queries(tmp_path)
    assert repo.queries == ()
    assert all(p.path == path for p in repo.problems)
    return [p.message for p in repo.problems]


# (file content, the exact problem messages)
BAD_FILES: dict[str, tuple[str | bytes, list[str]]] = {
    "syntax error, with its column": (
        'query: message:"foo" AND AND tags:console\n',
        [
            "query: syntax error at column 19: unexpected 'AND',"
            " near 'message:\"foo\" AND AND tags:console'"
        ],
    ),
    "unclosed parenthesis, pointed at": (
        'query: >-\n  message:"foo" AND\n  (tags:console OR tags:"job-output.txt"\n',
        [
            "query: syntax error at column 19: unclosed '(',"
            " near 'message:\"foo\" AND (tags:console OR tag…'"
        ],
    ),
    "unclosed quote": (
        'query: message:"unterminated AND tags:console\n',
        ["query: syntax error at column 9: unclosed quote, near 'message:\"unterminated AND ta…'"],
    ),
    "unknown field, with the close one": (
        'query: buildname:"tox" AND message:"x"\n',
        ["query: unknown field 'buildname' (did you mean 'build_name'?)"],
    ),
    "leading wildcard": (
        "query: message:*timeout\n",
        ["query: leading wildcard in 'message:*timeout' is slow (scans every term); drop it"],
    ),
    "unknown key, with the close one": (
        'query: message:"x"\nsupress-graph: true\n',
        ["supress-graph: unknown key (did you mean 'suppress-graph'?)"],
    ),
    "wrong types": (
        'query: message:"x"\nsuppress-graph: "yes"\ntest_ids: tempest.foo\n',
        [
            "suppress-graph: must be true or false, not 'yes'",
            "test_ids: must be a list of strings, not 'tempest.foo'",
        ],
    ),
    "empty query string": ('query: ""\n', ["query: is empty"]),
    "query key without a value": ("query:\n", ["query: is empty"]),
    "no query at all": (
        "title: forgot it\n",
        ["required key is missing: 'query' (or 'pattern' / 'regex')"],
    ),
    "bad YAML, with its line": (
        'query: >\n  message:"x"\n bad: [\n',
        [
            "invalid YAML at line 3, column 2: expected <block end>, but found"
            " '<block mapping start>' while parsing a block mapping"
        ],
    ),
    "a list, not a mapping": (
        '- query: message:"x"\n',
        ["top level is a list, not a mapping: expected 'query: ...'"],
    ),
    "an empty file": ("", ["top level is empty: expected 'query: ...'"]),
    "a key given twice": (
        'query: message:"x"\nquery: message:"y"\n',
        ["invalid YAML at line 2, column 1: duplicate key 'query'"],
    ),
    "regex on message": (
        "query: message:/time.*out/\n",
        [
            "query: regex /time.*out/ on message is slow (scans every term);"
            ' use a phrase, and quote paths like "/usr/bin"'
        ],
    ),
    "fuzzy term": (
        "query: message:timeout~\n",
        ["query: fuzzy match 'timeout~' is slow and imprecise; quote it or escape '~'"],
    ),
    "only NOT clauses": (
        'query: NOT message:"x" AND NOT tags:console\n',
        ["query: only NOT clauses: the query matches nearly every document; add what to match"],
    ),
    "AND and OR without parentheses": (
        'query: message:"a" OR message:"b" AND tags:console\n',
        ['query: AND and OR mixed without parentheses in \'message:"a" OR message:"b" AND…\''],
    ),
    "no field named": (
        "query: timeout\n",
        ['query: no clause names a field: bare terms search every field; write message:"…"'],
    ),
    "a misspelt tracker": (
        'query: message:"x"\ntracker: jra\n',
        [
            "tracker: must be one of launchpad, jira, bugzilla, github, not 'jra'"
            " (did you mean 'jira'?)"
        ],
    ),
    "not UTF-8": (b'query: message:"\xff"\n', ["not UTF-8 text (byte 16)"]),
    "regex: true without a pattern": (
        "regex: true\n",
        ["regex: 'true' makes the 'pattern' entries regexes, but there is no pattern"],
    ),
    "a bug nobody can place": (
        'query: message:"x"\nbug: somewhere-42\n',
        ["bug: cannot tell the tracker of 'somewhere-42'; give its URL or a tracker:"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_file_gives_a_specific_message(tmp_path: Path, case: str) -> None:
    content, expected = BAD_FILES[case]
    assert problems_of(tmp_path, "1000001.yaml", content) == expected


def test_file_name_that_says_no_bug(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "disk-full.yaml", 'query: message:"x"\n') == [
        "the file name 'disk-full' says no bug: name it 1234567.yaml, KEY-123.yaml,"
        " rhbz123.yaml or gh-org-repo-123.yaml, or add bug: <URL>"
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    # A dangling symlink: unreadable even for root, unlike chmod 000.
    (tmp_path / "1000001.yaml").symlink_to(tmp_path / "gone.yaml")
    repo = load_queries(tmp_path)
    assert [str(p) for p in repo.problems] == [
        f"{tmp_path / '1000001.yaml'}: cannot read: No such file or directory"
    ]


def test_duplicate_ids(tmp_path: Path) -> None:
    (tmp_path / "1000001.yaml").write_text('query: message:"a"\n')
    (tmp_path / "1000001.yml").write_text('query: message:"b"\n')
    repo = load_queries(tmp_path)
    assert [q.lucene for q in repo.queries] == ['message:"a"']  # the first by name wins
    assert repo.problems == (
        Problem(
            tmp_path / "1000001.yml",
            f"duplicate id '1000001' (also {tmp_path / '1000001.yaml'})",
        ),
    )


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "1000001.yaml").write_text('query: message:"fine"\n')
    (tmp_path / "1000002.yaml").write_text("query: [unclosed\n")
    (tmp_path / "1000003.yaml").write_text('query: message:"fine too"\n')
    repo = load_queries(tmp_path)
    assert [q.id for q in repo.queries] == ["1000001", "1000003"]
    assert len(repo.problems) == 1
    assert str(repo.problems[0]).startswith(f"{tmp_path / '1000002.yaml'}: invalid YAML at line 2")


def test_missing_repo_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    repo = load_queries(tmp_path / "nope")
    assert [p.message for p in repo.problems] == ["no such file or directory"]


# --- lucene_problems on its own (chat's !query uses it) -----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'message:"slave.log \\(No such file or directory\\)" AND filename:"console.html"',
        'message:" 503" AND filename:"logs/syslog.txt" AND syslog_program:"proxy-server"',
        'message:"a" AND NOT build_queue:"check-tripleo"',
        '(message:"a" OR (message:"b" AND message:"c")) AND tags:"console"',
        'message:"a b"~2 AND @fields.build_name:"x"',
        'message:"x" AND filename:job-output.txt* AND tags:[a TO c]',
        'message:"exec user process caused \\"no such file or directory"',
        'message:"x" AND tags:*',  # "has tags": cheap on a keyword field
    ],
)
def test_good_lucene_has_no_problems(text: str) -> None:
    assert lucene_problems(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["empty query"]),
        (
            'message:"a" AND',
            ["syntax error at column 16: nothing after 'AND', near 'message:\"a\" AND'"],
        ),
        (
            'message:"a"\nAND tags:"b"\nAND )',
            [
                "syntax error at line 3, column 5: unexpected ')' (no '(' to close),"
                ' near \'…a" AND tags:"b" AND )\''
            ],
        ),
        ("foo\\", ["syntax error at column 4: backslash escapes nothing, near 'foo\\\\'"]),
        ("*:*", ["'*:*' matches every document; name what to match"]),
        ('message:"x" AND message:*', ["'*' matches every document; name what to match"]),
        ("message:?x", ["leading wildcard in 'message:?x' is slow (scans every term); drop it"]),
        ("message:[a TO *]", ["open-ended range '[a TO *]' on message is slow"]),
        ("message:>5", ["open-ended range '>5' on message is slow"]),
        (
            "message:/usr/bin/x",
            [
                "regex /usr/ on message is slow (scans every term);"
                ' use a phrase, and quote paths like "/usr/bin"'
            ],
        ),
        ('mesage:"x" AND mesage:"y"', ["unknown field 'mesage' (did you mean 'message'?)"]),
        (
            '-message:"x"',
            ["only NOT clauses: the query matches nearly every document; add what to match"],
        ),
    ],
)
def test_bad_lucene(text: str, expected: list[str]) -> None:
    assert lucene_problems(text) == expected


def test_syntax_error_carries_the_offset() -> None:
    with pytest.raises(LuceneSyntaxError) as caught:
        parse_lucene('message:"foo" AND AND x')
    assert caught.value.offset == 18
    with pytest.raises(LuceneSyntaxError) as caught:
        parse_lucene('message:"x" AND (tags:a OR tags:b')
    assert caught.value.offset == 16  # the unclosed "(", not the end
