"""The query repository: one YAML file per known bug (ER's format) and its extensions.

ER's files are read unchanged: ``<bug>.yaml`` with ``query:`` (Lucene ``query_string``) and
optional ``suppress-graph``, ``suppress-notification``, ``allow-nonvoting``, ``test_ids``.
Extensions, all optional:

- ``bug:`` (an id or a tracker URL) / ``tracker:`` (launchpad | jira | bugzilla | github) when
  the file name does not say the bug (see :mod:`bot.bugref` for the naming schemes);
  ``bug: null`` marks a bug nobody filed yet.
- ``title:``, ``tags:`` (labels, e.g. ``infra``), ``owner:`` (the team).
- sova-style ``pattern:`` (a string, or a list meaning all of them) and ``regex:`` (a regex or a
  list of them; ``regex: true`` makes the ``pattern`` entries regexes, as in TripleO's format),
  turned into ``message`` clauses, ANDed with ``query`` when both are given.

A file with a top-level ``queries:`` list is TripleO's unified format (:mod:`bot.tripleo`).
Loading never raises for a bad file: it becomes a :class:`Problem` and its query is left out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot import lucene
from bot.bugref import (
    JIRA_BROWSE,
    TRACKER_KINDS,
    TrackerKind,
    TrackerRef,
    ref_from_id,
    ref_from_name,
    untracked,
)
from bot.yamldoc import (
    Flag,
    Strings,
    Text,
    TextList,
    YamlError,
    model_keys,
    model_problems,
    one_of,
    read_yaml,
    show,
    text_list,
)

__all__ = [
    "Problem",
    "Query",
    "QueryError",
    "QueryRepo",
    "TrackerKind",
    "TrackerRef",
    "load_queries",
    "load_query_file",
    "parse_query_yaml",
]

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Query:
    """One known bug's query, as loaded from the repo."""

    id: str
    lucene: str
    bug: TrackerRef
    suppress_graph: bool = False
    suppress_notification: bool = False
    allow_nonvoting: bool = False
    test_ids: tuple[str, ...] = ()
    title: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    source: Path | None = None
    #: Where in ``source`` the query is, for files holding many (TripleO: ``queries[3]``).
    location: str | None = None

    @property
    def effective(self) -> str:
        """The query searches run: ``voting:1`` implied unless ``allow-nonvoting``."""
        if self.allow_nonvoting:
            return self.lucene
        return f"({self.lucene}) AND voting:1"


@dataclass(frozen=True)
class Problem:
    """Something wrong with a query file, shown as ``path: message``."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class QueryError(Exception):
    """A query file is unusable; ``problems`` says why (one line each in ``str()``)."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems

    @property
    def problem(self) -> Problem:
        return self.problems[0]


@dataclass(frozen=True)
class QueryRepo:
    """The loaded repo: the usable queries, sorted by file, and the problems of the rest."""

    queries: tuple[Query, ...] = ()
    problems: tuple[Problem, ...] = ()

    def __iter__(self) -> Iterator[Query]:
        return iter(self.queries)

    def __len__(self) -> int:
        return len(self.queries)

    @cached_property
    def _by_id(self) -> dict[str, Query]:
        return {q.id.casefold(): q for q in self.queries}

    def get(self, bug_or_id: str) -> Query | None:
        """The query for ``1284371``, ``lp1284371``, ``OSPRH-45``, a tracker URL or a query id."""
        key = bug_or_id.strip()
        if found := self._by_id.get(key.casefold()):
            return found
        ref = ref_from_name(key)
        for query in self.queries:
            bug = query.bug
            if (
                ref
                and bug.tracked
                and (bug.kind, bug.id.casefold()) == (ref.kind, ref.id.casefold())
            ):
                return query
            if bug.tracked and bug.url == key:
                return query
        return None


# --- the ER file schema ---------------------------------------------------------------------


def _bug_value(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError(f"must be a bug id or a tracker URL, not {show(value)}")


def _regex_value(value: object) -> bool | tuple[str, ...]:
    return value if isinstance(value, bool) else text_list(value)


class ErQueryFile(BaseModel):
    """The keys of a one-query file (ER's four plus our extensions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    query: Text | None = None
    pattern: TextList = ()
    regex: Annotated[bool | tuple[str, ...], BeforeValidator(_regex_value)] = False
    suppress_graph: Flag = Field(False, alias="suppress-graph")
    suppress_notification: Flag = Field(False, alias="suppress-notification")
    allow_nonvoting: Flag = Field(False, alias="allow-nonvoting")
    test_ids: Strings = ()
    bug: Annotated[str, BeforeValidator(_bug_value)] | None = None
    tracker: Annotated[str, BeforeValidator(one_of(*TRACKER_KINDS))] | None = None
    title: Text | None = None
    tags: TextList = ()
    owner: Text | None = None


#: Keys whose explicit ``null`` means something (``bug: null``: not filed yet).
_NULLABLE = frozenset({"bug"})


def parse_query_yaml(
    data: Mapping[str, Any], bug_id: str, path: Path, *, jira_browse: str = JIRA_BROWSE
) -> Query:
    """The query of one ER-style document; raises :class:`QueryError` listing all problems."""
    query, problems = _parse_er(data, bug_id, jira_browse)
    if query is None:
        raise QueryError(*(Problem(path, p) for p in problems))
    return _with_source(query, path)


def _parse_er(
    data: Mapping[str, Any], name: str, jira_browse: str
) -> tuple[Query | None, list[str]]:
    problems = [f"{key}: is empty" for key, v in data.items() if v is None and key not in _NULLABLE]
    try:
        doc = ErQueryFile.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        return None, problems + model_problems(exc, model_keys(ErQueryFile))
    text, text_problems = _er_lucene(doc)
    if problems:  # an empty query: "missing" would say the same thing again
        text_problems = [p for p in text_problems if not p.startswith("required key")]
    bug, bug_problem = _er_bug(doc, name, "bug" in data, jira_browse)
    problems += text_problems + ([bug_problem] if bug_problem else [])
    if problems or bug is None:
        return None, problems
    query = Query(
        id=name,
        lucene=text,
        bug=bug,
        suppress_graph=doc.suppress_graph,
        suppress_notification=doc.suppress_notification,
        allow_nonvoting=doc.allow_nonvoting,
        test_ids=doc.test_ids,
        title=doc.title,
        tags=doc.tags,
        owner=doc.owner,
    )
    return query, []


def _er_lucene(doc: ErQueryFile) -> tuple[str, list[str]]:
    """The query text and its problems: ``query`` checked in full, generated parts for syntax.

    Regexes asked for with ``regex:`` are the author's explicit choice, so their cost is not
    flagged; in ``query:`` a regex is often an accident (an unquoted path).
    """
    if doc.regex is True and not doc.pattern:
        return "", ["regex: 'true' makes the 'pattern' entries regexes, but there is no pattern"]
    as_regex = doc.regex is True
    regexes = doc.regex if isinstance(doc.regex, tuple) else ()
    generated = [
        "message:" + (lucene.regex(p) if as_regex else lucene.quote(p)) for p in doc.pattern
    ] + ["message:" + lucene.regex(r) for r in regexes]
    written = doc.query.strip() if doc.query is not None else None
    if written is None:
        if not generated:
            return "", ["required key is missing: 'query' (or 'pattern' / 'regex')"]
        text = lucene.all_of(generated)
        bad = lucene.syntax_problem(text)
        return text, [f"pattern: {bad}"] if bad else []
    problems = [f"query: {p}" for p in lucene.lucene_problems(written)]
    text = lucene.all_of([lucene.group(written), *generated]) if generated else written
    return text, problems


def _er_bug(
    doc: ErQueryFile, name: str, bug_given: bool, jira_browse: str
) -> tuple[TrackerRef | None, str | None]:
    kind = cast(TrackerKind | None, doc.tracker)
    if bug_given and doc.bug is None:
        return untracked(name), None
    if doc.bug is not None:
        ref = ref_from_id(doc.bug, kind, jira_browse=jira_browse)
        if ref is None and kind and doc.bug.startswith(("http://", "https://")):
            ref = TrackerRef(kind, name, doc.bug)  # a tracker we know, hosted where we don't
        if ref is None:
            return None, f"bug: cannot tell the tracker of {doc.bug!r}; give its URL or a tracker:"
        return ref, None
    if kind:
        ref = ref_from_id(name, kind, jira_browse=jira_browse)
        return ref, None if ref else f"tracker: the file name {name!r} is no {kind} id; add bug:"
    ref = ref_from_name(name, jira_browse=jira_browse)
    if ref is None:
        return None, (
            f"the file name {name!r} says no bug: name it 1234567.yaml, KEY-123.yaml,"
            " rhbz123.yaml or gh-org-repo-123.yaml, or add bug: <URL>"
        )
    return ref, None


def _with_source(query: Query, path: Path) -> Query:
    return replace(query, source=path)


# --- loading --------------------------------------------------------------------------------


def query_files(path: Path) -> list[Path]:
    """The query files of a repo directory, sorted by name (or ``[path]`` for a file)."""
    if not path.is_dir():
        return [path]
    return sorted(
        p
        for p in path.iterdir()
        if p.suffix in SUFFIXES and not p.name.startswith(".") and not p.is_dir()
    )


def load_queries(path: Path, *, jira_browse: str = JIRA_BROWSE) -> QueryRepo:
    """Every query of a repo directory (or of one file); bad files become problems."""
    if not path.exists():
        return QueryRepo(problems=(Problem(path, "no such file or directory"),))
    queries: list[Query] = []
    problems: list[Problem] = []
    seen: dict[str, Query] = {}
    for file in query_files(path):
        found, file_problems = _load_file(file, jira_browse)
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


def _load_file(path: Path, jira_browse: str) -> tuple[list[Query], list[Problem]]:
    try:
        data = read_yaml(path)
    except YamlError as exc:
        return [], [Problem(path, str(exc))]
    if isinstance(data, dict) and "queries" in data:
        from bot import tripleo  # imported here: it builds on this module's types

        return tripleo.parse_tripleo(data, path, jira_browse=jira_browse)
    if not isinstance(data, dict):
        what = "empty" if data is None else f"{show(data)}, not a mapping"
        return [], [Problem(path, f"top level is {what}: expected 'query: ...'")]
    name = path.name.removesuffix(path.suffix)
    query, problems = _parse_er(data, name, jira_browse)
    if query is None:
        return [], [Problem(path, p) for p in problems]
    return [_with_source(query, path)], []


def _duplicate(query: Query, first: Query) -> Problem:
    where = f"{query.location}.id: " if query.location else ""
    other = " ".join(str(part) for part in (first.source, first.location) if part)
    return Problem(query.source or Path("?"), f"{where}duplicate id {query.id!r} (also {other})")
