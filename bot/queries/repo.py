"""Loading a query repository: a directory of query files, or one TripleO ``queries.yml``."""

from __future__ import annotations

from pathlib import Path

from bot.bugs import (
    JIRA_BROWSE,
)
from bot.queries.erformat import parse_er, with_source
from bot.queries.files import SUFFIXES as SUFFIXES
from bot.queries.files import query_files as query_files
from bot.queries.model import Problem, Query, QueryError, QueryRepo
from bot.queries.tripleo import parse_tripleo
from bot.queries.yamldoc import YamlError, read_yaml


def load_queries(path: Path, *, jira_browse: str = JIRA_BROWSE) -> QueryRepo:
    """Every query of a repo directory (or of one file); bad files become problems."""
    if not path.exists():
        return QueryRepo(problems=(Problem(path, "no such file or directory"),))
    queries: list[Query] = []
    problems: list[Problem] = []
    seen: dict[str, Query] = {}
    root = path if path.is_dir() else None
    for file in query_files(path):
        found, file_problems = _load_file(file, jira_browse, root)
        problems += file_problems
        for query in found:
            first = seen.setdefault(query.id.casefold(), query)
            if first is query:
                queries.append(query)
            else:
                problems.append(_duplicate(query, first))
    return QueryRepo(tuple(queries), tuple(problems))


def load_query_file(path: Path, *, jira_browse: str = JIRA_BROWSE) -> Query:
    """The one query of ``path``; raises :class:`QueryError` when it has problems."""
    found, problems = _load_file(path, jira_browse)
    if problems:
        raise QueryError(*problems)
    if len(found) != 1:
        raise QueryError(Problem(path, f"holds {len(found)} queries; give one bug id"))
    return found[0]


def _load_file(
    path: Path, jira_browse: str, root: Path | None = None
) -> tuple[list[Query], list[Problem]]:
    try:
        data = read_yaml(path, root)
    except YamlError as exc:
        return [], [Problem(path, str(exc))]
    if isinstance(data, dict) and "queries" in data:
        return parse_tripleo(data, path, jira_browse=jira_browse)
    if not isinstance(data, dict):
        # Only the kind: a file that is no query (a token, a key) must not be quoted.
        what = "empty" if data is None else f"{_kind(data)}, not a mapping"
        return [], [Problem(path, f"top level is {what}: expected 'query: ...'")]
    name = path.name.removesuffix(path.suffix)
    query, problems = parse_er(data, name, jira_browse)
    if query is None:
        return [], [Problem(path, p) for p in problems]
    return [with_source(query, path)], []


def _duplicate(query: Query, first: Query) -> Problem:
    where = f"{query.location}.id: " if query.location else ""
    other = " ".join(str(part) for part in (first.source, first.location) if part)
    return Problem(query.source or Path("?"), f"{where}duplicate id {query.id!r} (also {other})")


def _kind(data: object) -> str:
    if isinstance(data, list):
        return "a list"
    if isinstance(data, str):
        return "text"
    return "a number" if isinstance(data, int | float) and not isinstance(data, bool) else "a value"
