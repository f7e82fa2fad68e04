"""``recheckbot run [--demo]``: the watch-bot."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.app.process import App
from bot.cli.app import Common, command, run_async
from bot.config import Settings
from bot.demo.mode import demo_environment


@command("run", help="Run the watch-bot; --demo runs a self-contained demo instance.")
def run_command(
    demo: Annotated[
        bool, typer.Option("--demo", help="Embedded search, demo logs, replayed events, console.")
    ] = False,
    *,
    common: Common,
) -> None:
    settings = common.settings()
    run_async(_demo(settings) if demo else App(settings).run())


async def _demo(settings: Settings) -> None:
    print("recheckbot demo: starting the embedded search server and seeding demo logs…")
    async with demo_environment(settings) as env:
        watch = env.settings.watch.model_copy(update={"replay": env.events, "replay_interval": 2.0})
        dashboard = env.settings.dashboard.model_copy(update={"port": 0})
        demo_settings = env.settings.model_copy(
            update={"console": True, "watch": watch, "dashboard": dashboard}
        )
        print(f"recheckbot demo: {env.documents} log documents indexed; replaying Gerrit events.")
        print("recheckbot demo: type !help for chat commands, Ctrl-C to stop.")
        await App(demo_settings).run()
    print("recheckbot demo: stopped.")
