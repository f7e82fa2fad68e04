"""The ``recheckbot`` Typer app, the options every subcommand accepts, and error handling.

Errors reach the user as one line on stderr and a non-zero exit; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from bot.config import ConfigError, Settings, load_settings
from bot.core.errors import ReadableError
from bot.core.logs import install_secret_masking, setup_logging

app = typer.Typer(
    name="recheckbot",
    help="Tells developers which known bug failed their CI build.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

#: Exit status for errors (1 is kept for "the check found problems").
EXIT_ERROR = 2

T = TypeVar("T")


class UserError(Exception):
    """A problem the user can fix; shown as one line without a traceback."""


@dataclass(frozen=True)
class Common:
    """The options accepted after every subcommand."""

    es_url: str | None = None
    queries: Path | None = None
    index: str | None = None
    config: Path | None = None
    debug: bool = False

    def settings(self) -> Settings:
        search = {"url": self.es_url, "index": self.index}
        settings = load_settings(
            self.config,
            search={k: v for k, v in search.items() if v is not None} or None,
            queries=self.queries,
        )
        # From here on no log line (ours or a library's, even at --debug) shows a secret.
        install_secret_masking(settings.masked_values())
        return settings


def _option(name: str, kind: Any, option: Any, default: Any = None) -> inspect.Parameter:
    """A keyword-only parameter typer reads as ``option``."""
    annotation = Annotated[kind, option]
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


_COMMON_PARAMS = [
    _option(
        "es_url",
        str | None,
        typer.Option("--es-url", envvar="RECHECKBOT_ES_URL", help="Search server URL."),
    ),
    _option(
        "queries",
        Path | None,
        typer.Option("--queries", envvar="RECHECKBOT_QUERIES", help="Query repo directory."),
    ),
    _option(
        "index", str | None, typer.Option("--index", help="Index pattern [default: logstash-*].")
    ),
    _option(
        "config",
        Path | None,
        typer.Option("--config", envvar="RECHECKBOT_CONFIG", help="YAML settings file."),
    ),
    _option("debug", bool, typer.Option("--debug", help="Show tracebacks and debug logs."), False),
]


def command(*names: str, **kwargs: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Register a subcommand that receives the common options as ``common: Common``.

    Errors raised inside become one clear line on stderr (see :func:`fail`).
    """

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        sig = inspect.signature(func, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "common"]

        @functools.wraps(func)
        def wrapper(*args: Any, **kw: Any) -> T:
            common = Common(**{p.name: kw.pop(p.name) for p in _COMMON_PARAMS})
            _setup_logging(common.debug)
            try:
                return func(*args, common=common, **kw)
            except (UserError, ConfigError, ReadableError, OSError) as exc:
                if common.debug:
                    raise
                fail(str(exc) or type(exc).__name__)

        wrapper.__signature__ = sig.replace(parameters=own + _COMMON_PARAMS)  # type: ignore[attr-defined]
        for name in names:
            app.command(name, **kwargs)(wrapper)
        return wrapper

    return decorate


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``recheckbot: error: <message>`` (first line only) and exit."""
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    extra = message.strip().splitlines()[1:]
    print(f"recheckbot: error: {first}", file=sys.stderr)
    for line in extra:
        print(f"  {line}", file=sys.stderr)
    raise typer.Exit(code)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from a synchronous CLI command."""
    return asyncio.run(coro)


def _setup_logging(debug: bool) -> None:
    # The clients log every failed attempt; our error line says it once.
    setup_logging(debug, quiet=("opensearch", "elastic_transport", "elasticsearch", "aiohttp"))
