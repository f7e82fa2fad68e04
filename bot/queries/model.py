"""A known bug's query and what loading a repo of them found (value types, no I/O)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from bot.bugs import (
    Bug,
    ref_from_name,
)


@dataclass(frozen=True)
class Query:
    """One known bug's query, as loaded from the repo."""

    id: str
    lucene: str
    bug: Bug
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
