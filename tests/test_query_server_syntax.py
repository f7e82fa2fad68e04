"""What luqum reads but the search server's parser refuses never enters the repo: regexes in
Lucene's RegExp syntax, boosts without a number, bad unicode escapes, a leading ``!``.

One such query in the repo would make the server refuse every classification request (they
carry all queries at once), so ``recheckbot check`` and the loader report it as ``path: problem``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import bot.cli.check  # noqa: F401  (importing registers the subcommand)
from bot.cli.app import app
from bot.queries import load_queries
from bot.queries.lucene import syntax_problem
from bot.queries.syntax import MAX_REGEX_CHARS, regex_problem

GOOD_REGEXES = [
    ".*ERROR.*",
    "[0-9]{3,4}",
    "\\d+\\.\\w*",
    "(a|b)+c?",
    "a||b",  # the second | is a literal
    "[]a]",  # a class holding ] and a
    "~(foo)",
    "<1-100>",
    "\\/usr\\/bin",
    '"literal (string"',
    "a{2,1}",  # empty, but not an error
    "",
]

BAD_REGEXES = [
    ("(unclosed[", "unclosed '[' at position 9"),
    ("(a", "unclosed '(' at position 0"),
    ("a)", "unexpected ')' (no '(' to close) at position 1"),
    ("(a|)", "unclosed '(' at position 0"),
    ("[]", "unclosed '[' at position 0"),
    ("[z-a]", "range z-a is out of order at position 1"),
    ("[a-]", "range a-] is out of order at position 1"),
    ("a|", "unexpected end at position 2"),
    ("a{", "a number must follow '{' at position 2"),
    ("a{3", "unclosed '{' at position 1"),
    ("a{1,x}", "unclosed '{' at position 1"),
    ("a{99999}", "repeat count over 1000 at position 2"),
    ('"open', "unclosed '\"' at position 0"),
    ("<foo>", "<foo> names an automaton the server does not have at position 0"),
    ("<1-x>", "<1-x> is no interval of whole numbers <n-m> at position 0"),
    ("a\\nb", "'\\n' is no escape Lucene knows at position 1"),
    ("ab\\", "'\\' at the end escapes nothing at position 2"),
    ("(" * 60 + ")" * 60, "groups nested more than 50 deep at position 50"),
    ("a" * (MAX_REGEX_CHARS + 1), "longer than 1000 characters (the server's limit)"),
]


@pytest.mark.parametrize("pattern", GOOD_REGEXES)
def test_lucene_regexes_that_the_server_takes(pattern: str) -> None:
    assert regex_problem(pattern) is None


@pytest.mark.parametrize(("pattern", "problem"), BAD_REGEXES)
def test_lucene_regexes_that_the_server_refuses(pattern: str, problem: str) -> None:
    assert regex_problem(pattern) == problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("message:/(unclosed[/", "at column 9: bad regex /(unclosed[/: unclosed '['"),
        ("build_name:/(/", "at column 12: bad regex /(/: unclosed '(' at position 0"),
        ("message:hello^x", "at column 14: '^' needs a number after it (a boost, as in ^2)"),
        ('message:"a"^', "at column 12: '^' needs a number after it"),
        ("message:\\u00", "'\\u' needs four hex digits after it in \\u00"),
        ("message:!a", "!a: '!' means NOT here; escape it (\\!) or quote it"),
        # luqum itself trips on this one (a decimal error): still one line, never a crash.
        ("message:a^1.2.3", "syntax error: unreadable (InvalidOperation)"),
        ("message:a~0.5.1", "syntax error: unreadable (InvalidOperation)"),
    ],
)
def test_what_the_server_refuses_is_a_syntax_error(text: str, problem: str) -> None:
    found = syntax_problem(text)
    assert found is not None
    assert problem in found


@pytest.mark.parametrize(
    "text", ["message:hello^2", "message:\\u0041", "message:\\!a", 'message:"!a"', "message:/a/"]
)
def test_what_the_server_takes_stays_fine(text: str) -> None:
    assert syntax_problem(text) is None


REGEX_FILES = {
    "1000001.yaml": 'query: message:"x" AND message:/(unclosed[/\n',
    "1000002.yaml": 'regex: "(unclosed["\n',
    "1000003.yaml": 'pattern: "(unclosed["\nregex: true\n',
    "1000004.yaml": 'pattern: ["fine", "[z-a]"]\nregex: true\n',
    "1000005.yaml": 'query: message:"fine" AND tags:"console"\n',
}


def test_the_loader_keeps_bad_regexes_out_with_the_file_named(tmp_path: Path) -> None:
    for name, text in REGEX_FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    repo = load_queries(tmp_path)
    assert [q.id for q in repo.queries] == ["1000005"]
    problems = {p.path.name: p.message for p in repo.problems}
    assert sorted(problems) == ["1000001.yaml", "1000002.yaml", "1000003.yaml", "1000004.yaml"]
    assert problems["1000001.yaml"].startswith("query: syntax error at column 25: bad regex")
    assert "unclosed '['" in problems["1000002.yaml"]
    assert problems["1000003.yaml"].startswith("pattern: syntax error")
    assert "range z-a is out of order" in problems["1000004.yaml"]


def test_tripleo_regex_patterns_are_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "queries.yml"
    path.write_text(
        "queries:\n"
        "  - id: good\n    pattern: 'Traceback .*'\n    regex: true\n"
        "  - id: bad\n    pattern: '(unclosed['\n    regex: true\n",
        encoding="utf-8",
    )
    repo = load_queries(path)
    assert [q.id for q in repo.queries] == ["good"]
    [problem] = repo.problems
    assert str(problem).startswith(f"{path}: queries[1].pattern: syntax error")
    assert "unclosed '['" in problem.message


def test_check_reports_path_and_problem(tmp_path: Path) -> None:
    (tmp_path / "1000002.yaml").write_text(REGEX_FILES["1000002.yaml"], encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    assert line.startswith(f"{tmp_path / '1000002.yaml'}: pattern: syntax error at column 9:")
    assert line.endswith("bad regex /(unclosed[/: unclosed '[' at position 9")


REGEX_CHARS = st.text(alphabet='ab()[]{}|&~^-.*+?#@<>"\\0123456789,dn', max_size=40)


@given(REGEX_CHARS)
def test_any_regex_is_taken_or_refused_with_a_reason(pattern: str) -> None:
    problem = regex_problem(pattern)
    assert problem is None or (problem and "\n" not in problem)


@given(st.text(max_size=60))
def test_any_query_text_is_taken_or_refused_with_a_reason(text: str) -> None:
    problem = syntax_problem(text)
    assert problem is None or isinstance(problem, str)
