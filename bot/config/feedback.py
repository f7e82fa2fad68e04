"""The ``feedback:`` section: what the bot writes back to the bug trackers. Off by default.

``comments``: once a week, a comment on each bug whose query hit, with what it hit (opt-in per
tracker, dry run until ``dry_run: false``). ``filing``: a new bug for an uncategorized cluster
that grew past a threshold, with its evidence and suggested query (opt-in: ``tracker``; dry run
until ``dry_run: false``). Writing needs the tracker's credentials in ``trackers:``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bot.bugs import TrackerKind
from bot.config.base import Section
from bot.config.digest import parse_weekly

FilingTracker = Literal["launchpad", "jira", "github"]
_JIRA_PROJECT = re.compile(r"[A-Z][A-Z0-9_]*")
_GITHUB_REPO = re.compile(r"[\w.-]+/[\w.-]+")
_LAUNCHPAD_PROJECT = re.compile(r"[a-z0-9][a-z0-9+.-]*")


class CommentSettings(Section):
    """A weekly comment on each bug whose query hit: hits, failed builds, changes and jobs of
    the last days, and a link to its bug page (the previous comment edited where the tracker
    allows)."""

    trackers: tuple[TrackerKind, ...] = Field(
        (), description="trackers whose bugs get the comment (none: no comment anywhere)"
    )
    dry_run: bool = Field(True, description="log the comments instead of posting them")
    schedule: str = Field("mon 10:00", description="when each week, UTC: 'mon 10:00'")
    days: int = Field(7, ge=1, le=31, description="days each comment counts")
    edit: bool = Field(
        True, description="edit last week's comment where the tracker allows, not add one"
    )
    min_failed_builds: int = Field(
        1, ge=1, description="fewest failed builds in those days that make a bug worth a comment"
    )

    @field_validator("schedule")
    @classmethod
    def _weekly(cls, value: str) -> str:
        return str(parse_weekly(value))


class FilingSettings(Section):
    """A new bug for an uncategorized cluster that crossed the threshold, with its evidence
    lines, the suggested query and links; then the query adopted for it (``propose:``).
    Never twice for one cluster."""

    tracker: FilingTracker | None = Field(
        None, description="where bugs are filed (none: never file one)"
    )
    project: str | None = Field(
        None,
        description="Launchpad project, Jira project key or GitHub org/repo the bugs go to",
    )
    dry_run: bool = Field(True, description="log the bugs instead of filing them")
    min_builds: int = Field(10, ge=2, description="failed builds of a cluster that file a bug")
    days: int = Field(2, ge=1, le=30, description="days those builds are counted in")
    queue: str | None = Field("gate", description="build queue looked at (none: every queue)")
    interval_minutes: float = Field(60.0, ge=5, description="minutes between looks")
    labels: tuple[str, ...] = Field(
        ("gate-failure",), description="tags (Launchpad) or labels (Jira, GitHub) of the bug"
    )
    issue_type: str = Field("Bug", description="Jira issue type")
    adopt: bool = Field(
        True,
        description="propose the cluster's verified query for the new bug (a dry run unless "
        "the filing is real and propose.remote is set)",
    )

    @model_validator(mode="after")
    def _project_fits(self) -> FilingSettings:
        if self.tracker is None:
            return self
        shapes = {
            "launchpad": (_LAUNCHPAD_PROJECT, "a Launchpad project name, like nova"),
            "jira": (_JIRA_PROJECT, "a Jira project key, like OSPRH"),
            "github": (_GITHUB_REPO, "a GitHub org/repo"),
        }
        shape, what = shapes[self.tracker]
        if self.project is None or not shape.fullmatch(self.project):
            raise ValueError(f"project: filing on {self.tracker} needs {what}")
        return self


class FeedbackSettings(Section):
    """What the bot writes back to the bug trackers (both parts off by default)."""

    comments: CommentSettings = CommentSettings()
    filing: FilingSettings = FilingSettings()
