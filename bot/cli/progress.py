"""Progress display for long CLI runs: on stderr, and only on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

_console = Console(stderr=True)


@contextmanager
def spinner(text: str) -> Iterator[None]:
    """A spinner while a single long request runs."""
    if not sys.stderr.isatty():
        yield
        return
    with _console.status(text):
        yield


@contextmanager
def progress_bar(total: int, text: str) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)``; draws a bar on a terminal, does nothing elsewhere."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    columns = (TextColumn(text), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=_console, transient=True) as progress:
        task = progress.add_task(text, total=total)
        yield lambda n: progress.advance(task, n)
