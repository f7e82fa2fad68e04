"""The ``dashboard:`` section: where the pages are written and served."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from bot.config.base import Section, WebUrl


class DashboardSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, lt=65536)
    output: Path = Path("dashboard")
    refresh_minutes: int = Field(30, gt=0)
    settle_margin_minutes: int = Field(
        120,
        ge=0,
        description="hours older than this are final (logs arrive late): kept, not asked again",
    )
    full_refresh_hours: int = Field(
        24, gt=0, description="hours between two refreshes that ask for every hour again"
    )
    url: WebUrl | None = Field(None, description="public URL of the dashboard, for links")
