"""The ``recheckbot`` command line: one app, a module per subcommand, plus ER's names."""

from __future__ import annotations

import sys

from bot.cli import (  # noqa: F401  (importing registers the subcommands)
    adopt,
    check,
    classify,
    cleanup,
    convert,
    docs,
    graph,
    ingest,
    intel,
    query,
    run,
    sync,
    tests,
    uncat,
)
from bot.cli.app import app


def main() -> None:
    app()


def _alias(subcommand: str) -> None:
    # ER's console scripts map onto our subcommands with the same arguments.
    sys.argv = [sys.argv[0], subcommand, *sys.argv[1:]]
    app()


def er_query() -> None:
    """``elastic-recheck-query``."""
    _alias("query")


def er_graph() -> None:
    """``elastic-recheck-graph``."""
    _alias("graph")


def er_uncategorized() -> None:
    """``elastic-recheck-uncategorized``."""
    _alias("uncat")


def er_bot() -> None:
    """``elastic-recheck``: the bot."""
    _alias("run")
