"""Where the queries come from: ``query_sources`` (an ordered list) and ``query_sync``.

Without ``query_sources`` the ``queries`` directory is the one source, as it always was. With
it, every source is read and merged in the order given: a bug in two sources is taken from the
first one listed (``recheckbot check`` names the one shadowed). A git source is fetched by the
bot itself (``recheckbot sync``, and every ``query_sync.interval_minutes`` while it runs) into
``query_sync.cache``; a commit whose query files do not pass ``recheckbot check`` is kept back.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from bot.config.base import Section

#: Source names become directory names in the cache: nothing that could climb out of it.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
#: The URL forms git is allowed to fetch (and nothing else: no ext::, no plain http).
_SCP_LIKE = re.compile(r"^(?!-)[\w.-]+@[\w.-]+:(?!//)\S+$")
_SCHEMES = ("https://", "ssh://", "file://")


def git_url(value: str) -> str:
    """``value`` when it is an https, ssh (``ssh://`` or ``user@host:path``) or file URL without
    a password in it; else ValueError (which never shows the password)."""
    url = value.strip()
    if _SCP_LIKE.match(url):
        return url
    if not url.lower().startswith(_SCHEMES) or any(char.isspace() for char in url):
        raise ValueError("must be an https://, ssh://, user@host:path or file:// URL")
    authority = url.split("://", 1)[1].split("/", 1)[0]
    if ":" in authority.rpartition("@")[0]:
        raise ValueError("holds a password; give it as password (or password_file)")
    return url


class PushSettings(Section):
    """How changes to a writable source are proposed (``!adopt``, ``recheckbot cleanup``)."""

    to: Literal["gerrit", "branch"] = Field(
        "gerrit",
        description="gerrit: push HEAD:refs/for/<branch> with a Change-Id; branch: push a new "
        "branch to the remote",
    )
    url: str | None = Field(None, description="where to push, when not the source's git URL")

    @field_validator("url")
    @classmethod
    def _push_url(cls, value: str | None) -> str | None:
        return None if value is None else git_url(value)


class QuerySource(Section):
    """One place queries come from: a git repository (``git``) or a directory (``dir``)."""

    name: str = Field(
        pattern=NAME_PATTERN, description="the source's name in logs, !queries and the cache"
    )
    git: str | None = Field(
        None, description="repository URL: https://, ssh://, user@host:path or file://"
    )
    branch: str | None = Field(None, description="branch to follow (default: the remote's HEAD)")
    path: str = Field(
        "queries", description="the query folder (or TripleO file) inside the repository"
    )
    dir: Path | None = Field(None, description="a local query directory (or TripleO file)")
    username: str | None = Field(None, description="https user, with password")
    password: SecretStr | None = Field(None, description="https password or token")
    ssh_key: SecretStr | None = Field(None, description="private key for ssh URLs")
    known_hosts: Path | None = Field(
        None, description="known_hosts for ssh URLs (default: ~/.ssh/known_hosts)"
    )
    writable: bool = Field(
        False, description="new and removed queries are proposed here (one source at most)"
    )
    push: PushSettings = Field(default_factory=lambda: PushSettings())

    @field_validator("git")
    @classmethod
    def _git_url(cls, value: str | None) -> str | None:
        return None if value is None else git_url(value)

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"[\w./-]+", value) or ".." in value or value.startswith("-"):
            raise ValueError(f"{value!r} is no branch name")
        return value

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        path = PurePosixPath(value.strip() or ".")
        if path.is_absolute() or ".." in path.parts:
            raise ValueError("must be a relative path inside the repository")
        return str(path)

    @model_validator(mode="after")
    def _one_origin(self) -> QuerySource:
        if (self.git is None) == (self.dir is None):
            raise ValueError("give either git (a repository URL) or dir (a directory)")
        if self.dir is not None and self.writable:
            raise ValueError("writable needs a git source")
        return self

    @property
    def origin(self) -> str:
        """The URL or the directory, for people."""
        return self.git or str(self.dir)


class QuerySyncSettings(Section):
    """How the git sources are synced (``recheckbot sync``; the bot on a schedule)."""

    cache: Path | None = Field(
        None,
        description="where fetched commits are kept (default: query-cache beside the state file)",
    )
    interval_minutes: float = Field(
        10.0, gt=0, description="minutes between syncs while the bot runs"
    )
    timeout: float = Field(120.0, gt=0, description="seconds one git command may take")


def check_sources(sources: list[QuerySource]) -> list[QuerySource]:
    """Names used once; one writable source at most."""
    names = [source.name for source in sources]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"source names must differ: {', '.join(twice)} given twice")
    writable = [source.name for source in sources if source.writable]
    if len(writable) > 1:
        raise ValueError(f"one writable source at most, not {', '.join(writable)}")
    return sources
