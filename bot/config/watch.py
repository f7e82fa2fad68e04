"""The ``watch:`` section: how the pipeline judges builds."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from bot.config.base import Section, WebUrl


class WatchSettings(Section):
    """How the watch pipeline judges builds."""

    wait: float = Field(1200.0, ge=0, description="seconds to wait for logs after the event")
    max_concurrent: int = Field(50, gt=0, description="builds judged at once")
    replay: Path | None = Field(None, description="JSON-lines file of Gerrit events to replay")
    replay_interval: float = Field(1.0, ge=0)
    ci_accounts: list[str] = Field(
        default_factory=lambda: ["zuul", "jenkins"],
        description="CI accounts for replayed events (Gerrit servers have their own)",
    )
    uncategorized_url: WebUrl | None = None
    max_active: int = Field(
        500, gt=0, description="builds held in memory; more wait in the state journal"
    )
    judge_retry_for: float = Field(
        3600.0, ge=0, description="seconds a build whose judging fails is retried (search down)"
    )
    give_up_after: float = Field(
        3600.0, ge=0, description="seconds a room may stay unreachable before a message is dropped"
    )
    keep_days: float = Field(30.0, gt=0, description="days finished builds stay in the journal")
    ingest: bool = Field(
        False, description="fetch and index each failed job's logs before judging (no ELK here)"
    )
