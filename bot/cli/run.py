"""``recheckbot run [--demo] [--port N]``: the watch-bot."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Annotated

import typer

from bot.app.process import App
from bot.cli.app import Common, UserError, command, run_async
from bot.config import Settings

if TYPE_CHECKING:
    from bot.demo.mode import DemoEnvironment

log = logging.getLogger(__name__)

#: :func:`bot.demo.mode.demo_environment`.
DemoStarter = Callable[[Settings], AbstractAsyncContextManager["DemoEnvironment"]]

#: What `run --demo` says when the embedded search server is not installed.
DEMO_MISSING = (
    "--demo needs the embedded search server, which is not installed: "
    "pip install 'recheckbot[demo]' (from a checkout: pip install -e '.[demo]'; `make run` does it)"
)


@command("run", help="Run the watch-bot; --demo runs a self-contained demo instance.")
def run_command(
    demo: Annotated[
        bool, typer.Option("--demo", help="Embedded search, demo logs, replayed events, console.")
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=0,
            max=65535,
            help="Dashboard port (dashboard.port); with --demo a free one unless set.",
        ),
    ] = None,
    *,
    common: Common,
) -> None:
    settings = with_port(common.settings(), port)
    run_async(_demo(settings, demo_starter()) if demo else App(settings).run())


def with_port(settings: Settings, port: int | None) -> Settings:
    """``settings`` with the dashboard on ``port`` when given (counted as set explicitly)."""
    if port is None:
        return settings
    dashboard = settings.dashboard.model_copy(update={"port": port})
    return settings.model_copy(update={"dashboard": dashboard})


def demo_starter() -> DemoStarter:
    """:func:`bot.demo.mode.demo_environment`, imported only for --demo: it needs the ``demo``
    extra, which a production install (the container image) leaves out."""
    try:
        from bot.demo.mode import demo_environment
    except ModuleNotFoundError as exc:
        if exc.name != "osmem_server":
            raise
        raise UserError(DEMO_MISSING) from None
    return demo_environment


def demo_banner(dashboard_url: str, search_url: str) -> str:
    """What the demo prints once it runs: where to look, how to talk to it, how to stop it."""
    port = dashboard_url.rstrip("/").rsplit(":", 1)[-1]
    return "\n".join(
        [
            "recheckbot demo: running.",
            f"  dashboard: {dashboard_url}/",
            f"    (from another machine: ssh -L {port}:127.0.0.1:{port} <this host>,"
            f" then open http://127.0.0.1:{port}/)",
            f"  search server: {search_url} (recheckbot query 1541364 --es-url {search_url})",
            "  announcements: all in [demo] below; channels.yaml's IRC channels hear them once"
            " irc: is set (README: Try it on a real IRC server).",
            "  chat: type !help and press Enter; no prompt is shown, replies appear here.",
            "  stop: Ctrl-C.",
        ]
    )


async def _demo(settings: Settings, demo_environment: DemoStarter) -> None:
    print("recheckbot demo: starting the embedded search server and seeding demo logs…")
    async with demo_environment(settings) as env:
        watch = env.settings.watch.model_copy(update={"replay": env.events, "replay_interval": 2.0})
        demo_settings = env.settings.model_copy(update={"console": True, "watch": watch})
        indexed = f"{env.documents} log documents and {env.test_results} test results indexed"
        print(f"recheckbot demo: {indexed}; replaying Gerrit events.")
        app = App(demo_settings, announce=log.info)
        running = asyncio.create_task(app.run())
        ready = asyncio.create_task(app.ready.wait())
        await asyncio.wait({running, ready}, return_when=asyncio.FIRST_COMPLETED)
        if app.parts is not None and ready.done():
            print(demo_banner(app.parts.dashboard.url, env.settings.search.url), flush=True)
        ready.cancel()
        await running
    print("recheckbot demo: stopped.")
