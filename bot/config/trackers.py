"""The ``trackers:`` settings section: where each bug tracker's API is, and how long answers keep.

Every base URL is configurable so tests (and mirrors) can stand in for the public services.
Tokens are ``SecretStr``; in the settings file they may come from files (``token_file``), which
:func:`bot.config.load_settings` resolves for every section. A tracker's *web* URL says which bug
links belong to it: a token is only ever sent for a bug whose link is on that site, never to a
host a query file happens to name.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from bot.bugs import JIRA_BROWSE
from bot.config.base import Section, WebUrl


class LaunchpadSettings(Section):
    """Launchpad, read anonymously (private bugs stay unknown, as in ER); written to (comments,
    new bugs) with an OAuth access token."""

    api_url: WebUrl = "https://api.launchpad.net/devel/"
    web_host: str = Field("launchpad.net", description="bug links on this host (or below) are ours")
    max_task_pages: int = Field(3, ge=1, le=20, description="pages of bug tasks read per bug")
    oauth_consumer_key: str = Field(
        "recheckbot", description="the application name the access token was granted to"
    )
    oauth_token: SecretStr | None = Field(None, description="OAuth access token, for writing")
    oauth_token_secret: SecretStr | None = Field(None, description="the access token's secret")


class JiraSettings(Section):
    """One Jira instance (Server/DC: bearer token; Cloud: ``username`` + API token)."""

    url: WebUrl = JIRA_BROWSE.removesuffix("/browse/")
    api_url: WebUrl | None = Field(None, description="REST base when it differs from url")
    token: SecretStr | None = Field(
        None, description="personal access token (Cloud: API token); writes need it"
    )
    username: str | None = Field(None, description="with token: basic auth (Jira Cloud)")


class BugzillaSettings(Section):
    url: WebUrl = "https://bugzilla.redhat.com"
    api_url: WebUrl | None = Field(None, description="REST base when it differs from url")
    api_key: SecretStr | None = Field(None, description="API key; comments need it")


class GithubSettings(Section):
    url: WebUrl = "https://github.com"
    api_url: WebUrl = "https://api.github.com"
    token: SecretStr | None = Field(
        None, description="token: 5000 reads an hour instead of 60; writes need it"
    )


class TrackerSettings(Section):
    """Bug tracker lookups: titles, statuses and projects of the queries' bugs."""

    enabled: bool = Field(True, description="false: never look bugs up (air-gapped bots)")
    timeout: float = Field(5.0, gt=0, le=120, description="seconds per lookup, all requests")
    cache_ttl: float = Field(6 * 3600.0, ge=0, description="seconds an answer is kept")
    negative_ttl: float = Field(300.0, ge=0, description="seconds a failed lookup is kept")
    down_for: float = Field(
        60.0, ge=0, description="seconds a tracker that timed out or failed is not asked at all"
    )
    max_concurrent: int = Field(8, ge=1, le=100, description="lookups at once")
    user_agent: str = "recheckbot/0.1 (bug status lookups)"
    launchpad: LaunchpadSettings = LaunchpadSettings()
    jira: JiraSettings = JiraSettings()
    bugzilla: BugzillaSettings = BugzillaSettings()
    github: GithubSettings = GithubSettings()
