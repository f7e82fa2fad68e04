"""The ``propose:`` section: the query repository the bot proposes changes to.

``recheckbot adopt``, ``!adopt`` and ``recheckbot cleanup --propose`` write query files into a
fresh clone of ``remote`` and push the commit for review: to Gerrit as a change
(``HEAD:refs/for/<branch>``, with a ``Change-Id`` footer) or as a branch of its own. Without a
``remote`` nothing can be proposed: every run is a dry run that shows the file and the command.

Credentials never sit in ``remote``: an SSH key (``ssh_key_file``) and its ``known_hosts``, or
an HTTP user and password, both handed to git through its environment, never its arguments.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from bot.config.base import Section, split_credentials, web_url

_BRANCH = re.compile(r"[A-Za-z0-9._/-]{1,100}")
_SCHEMES = ("https://", "http://", "ssh://", "file://", "git://")
_SCP = re.compile(r"[\w.-]+@[\w.-]+:[^\s]+")


def git_remote(value: str) -> str:
    """``value`` if git can fetch it and it holds no password; else ValueError."""
    url = value.strip()
    if not url or any(char.isspace() for char in url) or url.startswith("-"):
        raise ValueError(f"{url[:80]!r} is no git URL")
    if url.startswith(("https://", "http://")) and split_credentials(url)[2] is not None:
        raise ValueError("holds a password: give http_username and http_password instead")
    if not (url.startswith(_SCHEMES) or _SCP.fullmatch(url) or url.startswith("/")):
        raise ValueError(
            f"{url[:80]!r}: give an https://, ssh://, file:// URL, user@host:path or a path"
        )
    return url


class ProposeSettings(Section):
    """Where adopted and removed queries are proposed: a Gerrit change or a branch pushed to
    the query repository (none: dry runs only)."""

    method: Literal["gerrit", "branch"] = Field(
        "gerrit", description="gerrit: push HEAD:refs/for/<branch>; branch: push a new branch"
    )
    remote: str | None = Field(
        None, description="git URL of the query repository (none: nothing is ever pushed)"
    )
    branch: str = Field("master", description="the branch changes are proposed against")
    path: str = Field("queries", description="the folder of query files inside the repository")
    topic: str | None = Field("recheckbot", description="Gerrit topic of the changes")
    branch_prefix: str = Field(
        "recheckbot/", description="method branch: pushed branches are named <prefix><what>"
    )
    link: str | None = Field(
        None,
        description="the change's web link when the push prints none: {change_id}, {branch} "
        "and {commit} are filled in (Gerrit: https://review.example.org/q/{change_id})",
    )
    author_name: str = Field("recheckbot", description="author and committer of the commits")
    author_email: str = Field("recheckbot@localhost", description="their e-mail address")
    ssh_key: SecretStr | None = Field(
        None, description="private SSH key for ssh:// remotes (ssh_key_file usually)"
    )
    known_hosts: Path | None = Field(None, description="known_hosts trusted for an SSH remote")
    http_username: str | None = Field(None, description="HTTP user for an https:// remote")
    http_password: SecretStr | None = Field(None, description="password or token of http_username")
    timeout: float = Field(120.0, gt=0, le=3600, description="seconds per git command")

    @field_validator("remote")
    @classmethod
    def _remote(cls, value: str | None) -> str | None:
        return None if value is None else git_remote(value)

    @field_validator("branch", "branch_prefix")
    @classmethod
    def _branch(cls, value: str) -> str:
        if not _BRANCH.fullmatch(value) or ".." in value or value.startswith(("/", "-")):
            raise ValueError(f"{value!r} is no branch name (letters, digits, . _ / -)")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        path = PurePosixPath(value.strip("/") or ".")
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(f"{value!r}: a folder inside the repository, like queries")
        return str(path)

    @field_validator("link")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            filled = value.format(change_id="I0", branch="b", commit="c")
        except (KeyError, IndexError, ValueError):
            raise ValueError("only {change_id}, {branch} and {commit} are filled in") from None
        web_url(filled)
        return value

    @property
    def enabled(self) -> bool:
        """Whether a proposal can be pushed at all."""
        return self.remote is not None
