"""The query repository: one YAML file per known bug (ER's format) and its extensions.

PLACEHOLDER: the loader and validation are being written; the data model below is the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

TrackerKind = Literal["launchpad", "jira", "bugzilla", "github"]


@dataclass(frozen=True)
class TrackerRef:
    """Where a bug lives: ``kind`` + ``id`` (``"1284371"``, ``"OSPRH-123"``, ``"org/repo#12"``)."""

    kind: TrackerKind
    id: str
    url: str
    project: str | None = None


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

    @property
    def effective(self) -> str:
        """The query searches run: ``voting:1`` implied unless ``allow-nonvoting``."""
        if self.allow_nonvoting:
            return self.lucene
        return f"({self.lucene}) AND voting:1"
