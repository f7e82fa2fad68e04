"""Several query sources read as one repo: the first source listed wins a bug found twice.

A source is a directory or a git repository synced into the cache (:mod:`bot.queries.sync`).
:func:`locate` says where each source's queries are now (a git source: the tree of the commit
in use, nothing before its first good sync); :func:`merge` puts the loaded sources together
and names every query that a source listed earlier shadows, for ``recheckbot check``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.config.queries import QuerySource
from bot.queries.cache import SourceCache
from bot.queries.files import query_files
from bot.queries.model import Problem, Query, QueryRepo
from bot.queries.repo import load_queries

#: The name of the one source when the settings list none: the ``queries`` directory.
DEFAULT_SOURCE = "queries"

Loader = Callable[[Path], QueryRepo]


@dataclass(frozen=True)
class Location:
    """Where one source's queries are read from now."""

    name: str
    path: Path | None  # None: a git source with no good commit yet
    commit: str | None = None  # a git source's commit in use


@dataclass(frozen=True)
class Shadowed:
    """A query left out because a source listed before its own has the same bug."""

    query: Query
    source: str
    by: Query
    by_source: str

    def problem(self) -> Problem:
        where = f"{self.query.location} ({self.query.id}): " if self.query.location else ""
        message = (
            f"{where}bug {self.query.bug.id} is shadowed by source {self.by_source!r} "
            f"({_named(self.by)}); this one from {self.source!r} is not used"
        )
        return Problem(self.query.source or Path(self.query.id), message)


@dataclass(frozen=True)
class Merged:
    """Every source loaded: the queries in use (``repo``), each source's own, the shadowed."""

    repo: QueryRepo
    sources: tuple[tuple[Location, QueryRepo], ...]
    shadowed: tuple[Shadowed, ...] = ()

    def shadowed_in(self, name: str) -> int:
        return sum(s.source == name for s in self.shadowed)


def configured(settings: Settings) -> tuple[QuerySource, ...]:
    """The sources in the order given; the ``queries`` directory when none is listed."""
    if settings.query_sources:
        return tuple(settings.query_sources)
    return (QuerySource(name=DEFAULT_SOURCE, dir=settings.queries),)


def writable(settings: Settings) -> QuerySource | None:
    """The source new and removed queries are proposed to (``writable: true``), if any."""
    return next((source for source in settings.query_sources if source.writable), None)


def locate(sources: Sequence[QuerySource], cache: Path) -> list[Location]:
    """Where each source's queries are now (reads the git sources' cache records)."""
    found = []
    for source in sources:
        if source.dir is not None:
            found.append(Location(source.name, source.dir))
            continue
        files = SourceCache(cache, source.name)
        record = files.read()
        found.append(
            Location(source.name, files.in_use(record), record.good.sha if record.good else None)
        )
    return found


def load_sources(locations: Sequence[Location], loader: Loader = load_queries) -> Merged:
    """Load every source (one never synced is empty) and merge them."""
    return merge([(where, load_location(where, loader)) for where in locations])


def load_location(where: Location, loader: Loader = load_queries) -> QueryRepo:
    return loader(where.path) if where.path is not None else QueryRepo()


def merge(loaded: Sequence[tuple[Location, QueryRepo]]) -> Merged:
    """The sources' queries, first source first; a later query with an id or a tracked bug an
    earlier source has is shadowed (two queries for one bug within a source both stay)."""
    owners: dict[str, tuple[Query, str]] = {}
    used: list[Query] = []
    problems: list[Problem] = []
    shadowed: list[Shadowed] = []
    for where, repo in loaded:
        problems += repo.problems
        mine: dict[str, tuple[Query, str]] = {}
        for query in repo.queries:
            first = next((owners[k] for k in _keys(query) if k in owners), None)
            if first is not None:
                shadowed.append(Shadowed(query, where.name, first[0], first[1]))
                continue
            used.append(query)
            mine.update((key, (query, where.name)) for key in _keys(query))
        owners.update({k: v for k, v in mine.items() if k not in owners})
    return Merged(QueryRepo(tuple(used), tuple(problems)), tuple(loaded), tuple(shadowed))


def check_problems(path: Path, repo: QueryRepo) -> list[Problem]:
    """What ``recheckbot check`` refuses in a loaded repo: its problems, or no query files."""
    problems = list(repo.problems)
    if path.is_dir() and not query_files(path):
        problems.append(Problem(path, "no query files (*.yaml)"))
    return problems


def source_problems(merged: Merged) -> list[Problem]:
    """``recheckbot check``'s verdict on every source: each one's problems, and the git
    sources not synced yet (the bot has none of their queries)."""
    problems: list[Problem] = []
    for where, repo in merged.sources:
        if where.path is None:
            problems.append(Problem(Path(where.name), "not synced yet (run recheckbot sync)"))
        else:
            problems += check_problems(where.path, repo)
    return problems


def _keys(query: Query) -> tuple[str, ...]:
    bug = query.bug
    return (f"id:{query.id.casefold()}", *((f"bug:{bug.key.casefold()}",) if bug.tracked else ()))


def _named(query: Query) -> str:
    return str(query.source.name) if query.source else query.id
