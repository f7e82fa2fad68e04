"""Proposing a change to the query repository with git: a Gerrit change or a pushed branch.

:class:`Proposer` clones the configured branch (shallow) into a temporary directory, writes or
removes the query files, commits with a ``Change-Id`` footer and pushes ``HEAD:refs/for/<branch>``
(Gerrit) or ``HEAD:refs/heads/<prefix><slug>`` (a branch). The change's link is the first URL
the push printed (Gerrit prints the change, GitHub and GitLab a "create a merge request" page),
else ``propose.link`` filled in. Every git command runs as a subprocess with a timeout and
without a terminal to prompt on; credentials go through its environment, never its arguments.

The ``Change-Id`` is derived from the repository, the branch and what the change is about
(``slug``): proposing the same thing again makes a new patchset of the same Gerrit change,
not a second change. The pure half (:func:`change_id`, :func:`commit_message`,
:func:`push_ref`, :func:`commands`, :func:`printed_url`) is what a dry run shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot.config.propose import ProposeSettings
from bot.core.errors import ReadableError
from bot.core.http import basic_token

log = logging.getLogger(__name__)

_URL = re.compile(r"https?://[^\s\"'<>]+")
#: What a change's (or a merge request's) page looks like among the URLs a push prints.
_CHANGE_PAGE = re.compile(r"/c/.+/\+/\d+$|/#/c/\d+|/\d+/?$|/pull/new/|/merge_requests/new")
#: Shown for the remote in a dry run when none is configured.
NO_REMOTE = "<propose.remote>"


class ProposeError(ReadableError):
    """A proposal could not be made: git failed (its message), or nothing would change."""


@dataclass(frozen=True)
class Change:
    """What a proposal changes: ``files`` by path inside the repository, the new text or
    None to remove the file; the commit's subject and body; ``slug`` names it (the branch,
    the Change-Id)."""

    files: Mapping[str, str | None]
    subject: str
    body: str
    slug: str


@dataclass(frozen=True)
class Proposed:
    """A pushed proposal."""

    url: str | None
    change_id: str
    ref: str
    commit: str
    output: str  # what git push printed


# --- pure: what a proposal is made of -------------------------------------------------------


def change_id(settings: ProposeSettings, change: Change) -> str:
    """Gerrit's ``I`` + 40 hex digits, the same for the same repository, branch and slug."""
    seed = f"recheckbot\n{settings.remote or ''}\n{settings.branch}\n{change.slug}"
    return "I" + hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()


def commit_message(settings: ProposeSettings, change: Change) -> str:
    """Subject, body, and the ``Change-Id`` footer Gerrit requires (kept for branches too)."""
    body = change.body.strip()
    parts = [change.subject.strip(), *([body] if body else [])]
    return "\n\n".join(parts) + f"\n\nChange-Id: {change_id(settings, change)}\n"


def branch_name(settings: ProposeSettings, change: Change) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", change.slug).strip("-.") or "change"
    return f"{settings.branch_prefix}{slug}"


def push_ref(settings: ProposeSettings, change: Change) -> str:
    """``refs/for/<branch>[%topic=…]`` (Gerrit) or ``refs/heads/<prefix><slug>``."""
    if settings.method == "branch":
        return f"refs/heads/{branch_name(settings, change)}"
    topic = f"%topic={settings.topic}" if settings.topic else ""
    return f"refs/for/{settings.branch}{topic}"


def commands(settings: ProposeSettings, change: Change) -> list[str]:
    """The git commands a proposal runs, as a dry run shows them."""
    remote = settings.remote or NO_REMOTE
    written = [path for path, text in change.files.items() if text is not None]
    removed = [path for path, text in change.files.items() if text is None]
    lines = [
        f"git clone --depth 1 --branch {settings.branch} {shlex.quote(remote)} repo && cd repo"
    ]
    lines += [f"git rm {shlex.quote(path)}" for path in removed]
    lines += [f"git add {shlex.quote(path)}  # written as shown" for path in written]
    lines.append(
        f"git commit -m {shlex.quote(change.subject)}  # Change-Id: {change_id(settings, change)}"
    )
    lines.append(f"git push {shlex.quote(remote)} HEAD:{push_ref(settings, change)}")
    return lines


def printed_url(output: str) -> str | None:
    """The change's page among the URLs git push printed from the remote (``remote:``
    lines; a hint may come first), else the first of them."""
    urls = [
        found.group().rstrip(".,")
        for line in output.splitlines()
        if line.startswith("remote:")
        for found in _URL.finditer(line)
    ]
    return next((url for url in urls if _CHANGE_PAGE.search(url)), urls[0] if urls else None)


def filled_link(settings: ProposeSettings, *, change: str, branch: str, commit: str) -> str | None:
    if settings.link is None:
        return None
    return settings.link.format(change_id=change, branch=branch, commit=commit)


def checked_path(settings: ProposeSettings, name: str) -> str:
    """``<propose.path>/<name>``; ProposeError for a name that would leave the folder."""
    path = PurePosixPath(settings.path) / name
    if "/" in name or name.startswith(".") or ".." in path.parts:
        raise ProposeError(f"{name!r} is no query file name")
    return str(path)


# --- the git runs ---------------------------------------------------------------------------


class Proposer:
    """Pushes :class:`Change`\\ s to ``propose.remote`` (see the module doc), one at a time:
    two pushes to ``refs/for/<branch>`` at once would race for the same ref."""

    def __init__(self, settings: ProposeSettings) -> None:
        self.settings = settings
        self._lock = asyncio.Lock()

    async def propose(self, change: Change) -> Proposed:
        async with self._lock:
            return await self._propose(change)

    async def _propose(self, change: Change) -> Proposed:
        s = self.settings
        if s.remote is None:
            raise ProposeError("no propose.remote is configured: nothing can be pushed")
        work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="recheckbot-propose-"))
        try:
            env = await asyncio.to_thread(self._environment, work)
            repo = work / "repo"
            git = _Git(repo, env, s.timeout)
            await git.run(
                work,
                "clone",
                "--depth",
                "1",
                "--branch",
                s.branch,
                "--single-branch",
                "--",
                s.remote,
                str(repo),
            )
            await self._apply(git, repo, change)
            message = work / "message"
            await asyncio.to_thread(message.write_text, commit_message(s, change), "utf-8")
            await git.run(
                repo,
                "-c",
                f"user.name={s.author_name}",
                "-c",
                f"user.email={s.author_email}",
                "commit",
                "-q",
                "-F",
                str(message),
            )
            commit = (await git.run(repo, "rev-parse", "HEAD")).strip()
            ref = push_ref(s, change)
            output = await git.run(repo, "push", "--porcelain", s.remote, f"HEAD:{ref}")
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        cid = change_id(s, change)
        branch = branch_name(s, change) if s.method == "branch" else s.branch
        url = printed_url(output) or filled_link(s, change=cid, branch=branch, commit=commit)
        log.info("proposed %s: %s (%s)", change.subject, url or ref, commit[:12])
        return Proposed(url, cid, ref, commit, output)

    async def _apply(self, git: _Git, repo: Path, change: Change) -> None:
        for path, text in change.files.items():
            target = repo / path
            if text is None:
                if not await asyncio.to_thread(target.exists):
                    raise ProposeError(f"{path}: not in {self.settings.branch} any more")
                await git.run(repo, "rm", "-q", "--", path)
            else:
                await asyncio.to_thread(_write, target, text)
                await git.run(repo, "add", "--", path)
        staged = await git.run(repo, "diff", "--cached", "--name-only")
        if not staged.strip():
            raise ProposeError(f"{self.settings.branch} has these files as proposed already")

    def _environment(self, work: Path) -> dict[str, str]:
        """git's environment: no prompts, and the configured credentials."""
        s = self.settings
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        if s.ssh_key is not None:
            key = work / "ssh_key"
            key.touch(mode=0o600)
            key.write_text(s.ssh_key.get_secret_value().rstrip("\n") + "\n", encoding="utf-8")
            ssh = ["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
            if s.known_hosts is not None:
                ssh += [
                    "-o",
                    f"UserKnownHostsFile={s.known_hosts}",
                    "-o",
                    "StrictHostKeyChecking=yes",
                ]
            env["GIT_SSH_COMMAND"] = shlex.join(ssh)
        if s.http_username and s.http_password is not None:
            token = basic_token(s.http_username, s.http_password.get_secret_value())
            env |= {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {token}",
            }
        return env


def _write(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


class _Git:
    """``git`` subprocesses: each bounded in time, killed when it runs over."""

    def __init__(self, repo: Path, env: Mapping[str, str], timeout: float) -> None:
        self.repo = repo
        self.env = dict(env)
        self.timeout = timeout

    async def run(self, cwd: Path, *args: str) -> str:
        """stdout (and, for push, stderr: the remote speaks there); ProposeError on failure."""
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise ProposeError(f"git {_shown(args)}: no answer in {self.timeout:.0f} s") from None
        stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
        if proc.returncode != 0:
            raise ProposeError(f"git {_shown(args)} failed: {_last_lines(stderr or stdout)}")
        return stdout + stderr if args[0] == "push" else stdout


def _shown(args: Sequence[str]) -> str:
    """The subcommand as an error names it (``-c user.name=…`` options left out)."""
    rest = list(args)
    while rest[:1] == ["-c"]:
        rest = rest[2:]
    return rest[0] if rest else "?"


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "no message"
