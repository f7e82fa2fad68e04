"""The cache of a git query source: its fetched commits, and which one is in use.

``<cache>/<source>/`` holds a bare repository (``git``), one checked-out tree per commit kept
(``trees/<sha>``: the commit in use and the one before it, which a reader may still be loading),
``record.json`` (the commit in use, the last one kept back and why, the last fetch error) and
``lock``, held while a sync changes anything, so the bot and ``recheckbot sync`` can share one
cache. ``record.json`` is replaced whole, never written in place: a reader sees the old or the
new record, never half of one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RECORD = "record.json"


@dataclass(frozen=True)
class Commit:
    """A commit whose queries passed the check."""

    sha: str
    path: str  # the query folder (or file) inside its tree
    committed: float  # the commit's time (epoch seconds)
    taken: float  # when this cache took it


@dataclass(frozen=True)
class Rejected:
    """A commit kept back, and why (``path: problem`` lines)."""

    sha: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Record:
    """What the cache knows of one source."""

    good: Commit | None = None
    rejected: Rejected | None = None
    fetched: float | None = None  # the last time the remote answered
    error: str | None = None  # why the last sync failed, if it did

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Record:
        """The record ``data`` holds; an empty one for anything else (a damaged file)."""
        try:
            good = Commit(**data["good"]) if data.get("good") else None
            bad = data.get("rejected")
            rejected = Rejected(bad["sha"], tuple(bad["problems"])) if bad else None
            return cls(good, rejected, data.get("fetched"), data.get("error"))
        except (AttributeError, KeyError, TypeError):
            return cls()


class SourceCache:
    """The files of one source in the cache (no I/O until a method is called)."""

    def __init__(self, root: Path, name: str) -> None:
        self.home = root / name
        self.git_dir = self.home / "git"
        self.trees = self.home / "trees"
        self.lock = self.home / "lock"

    def tree(self, sha: str) -> Path:
        return self.trees / sha

    def read(self) -> Record:
        """The record; an empty one when there is none yet (or it cannot be read)."""
        try:
            text = (self.home / RECORD).read_text(encoding="utf-8")
            return Record.from_json(json.loads(text))
        except (OSError, ValueError):
            return Record()

    def write(self, record: Record) -> None:
        """Replace the record in one rename."""
        self.home.mkdir(parents=True, exist_ok=True)
        spare = self.home / f".{RECORD}.{os.getpid()}"
        spare.write_text(json.dumps(record.to_json(), indent=2), encoding="utf-8")
        os.replace(spare, self.home / RECORD)

    def in_use(self, record: Record | None = None) -> Path | None:
        """Where the queries of the commit in use are; None before any commit was taken."""
        good = (record or self.read()).good
        return self.tree(good.sha) / good.path if good else None
