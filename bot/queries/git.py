"""The ``git`` command, run without blocking the event loop and never for longer than allowed.

Each call is an asyncio subprocess in a session of its own, so a timeout ends git and what it
started (``ssh``, ``git-remote-https``) together. git never prompts (no terminal, no askpass),
speaks only https, ssh and file (``protocol.allow``: a repository cannot make it run ``ext::``
commands), and its messages are in English, so errors read the same everywhere.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shlex
import signal
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.config.queries import QuerySource
from bot.core.errors import ReadableError, first_line

#: ``-c`` settings of every call: the URL forms settings allow, and nothing else.
SAFE_CONFIG = (
    "protocol.allow=never",
    "protocol.https.allow=always",
    "protocol.ssh.allow=always",
    "protocol.file.allow=always",
    "core.hooksPath=/dev/null",
    "gc.auto=0",
)
#: Characters of git's error shown (its last line says what went wrong).
ERROR_LIMIT = 300


class GitError(ReadableError):
    """git failed or took too long; ``str()`` is git's own last line of complaint."""


@dataclass(frozen=True)
class Git:
    """git on one repository (``git_dir``), with a time limit per call and extra environment
    (credentials: see :func:`credentials`)."""

    git_dir: Path
    timeout: float = 120.0
    env: Mapping[str, str] = field(default_factory=dict)

    async def run(
        self, *args: str, work_tree: Path | None = None, index: Path | None = None
    ) -> str:
        """git's output; :class:`GitError` when it fails or outlives ``timeout``."""
        env = {**os.environ, **_QUIET, **self.env}
        if index is not None:
            env["GIT_INDEX_FILE"] = str(index)
        command = ["git", *_config_args(), f"--git-dir={self.git_dir}"]
        if work_tree is not None:
            command.append(f"--work-tree={work_tree}")
        return await run_git([*command, *args], env, self.timeout)


async def run_git(command: list[str], env: Mapping[str, str], seconds: float) -> str:
    """Run one git command line; its output, or :class:`GitError`."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        start_new_session=True,  # its own process group: a timeout ends its helpers too
    )
    try:
        async with asyncio.timeout(seconds):
            out, err = await process.communicate()
    except TimeoutError:
        await _end(process)
        raise GitError(f"git {_verb(command)} took longer than {seconds:g} s") from None
    except BaseException:  # cancelled: git must not outlive its caller
        await _end(process)
        raise
    if process.returncode != 0:
        reason = _complaint(err.decode("utf-8", "replace")) or f"exit status {process.returncode}"
        raise GitError(f"git {_verb(command)}: {reason}"[:ERROR_LIMIT])
    return out.decode("utf-8", "replace")


@contextlib.contextmanager
def credentials(source: QuerySource) -> Iterator[dict[str, str]]:
    """The environment that gives git the source's credentials, for as long as it is open: an
    https password as a header in git's environment (never on a command line other users can
    read), an ssh key in a private file removed afterwards."""
    env: dict[str, str] = {}
    if source.password is not None:
        pair = f"{source.username or ''}:{source.password.get_secret_value()}"
        token = base64.b64encode(pair.encode()).decode()
        env |= {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {token}",
        }
    if source.ssh_key is None:
        env["GIT_SSH_COMMAND"] = ssh_command(None, source.known_hosts)
        yield env
        return
    with tempfile.TemporaryDirectory(prefix="recheckbot-ssh-") as private:
        key = Path(private) / "key"
        descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(source.ssh_key.get_secret_value().rstrip("\n") + "\n")
        env["GIT_SSH_COMMAND"] = ssh_command(key, source.known_hosts)
        yield env


def ssh_command(key: Path | None, known_hosts: Path | None) -> str:
    """The ssh git runs: never asks anything, checks host keys strictly."""
    parts = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    if key is not None:
        parts += ["-i", str(key), "-o", "IdentitiesOnly=yes"]
    if known_hosts is not None:
        parts += ["-o", f"UserKnownHostsFile={known_hosts}"]
    return shlex.join(parts)


_QUIET = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "true",  # any password prompt gets an empty answer and fails
    "SSH_ASKPASS": "true",
    "LC_ALL": "C",
    "LANGUAGE": "C",
}


def _config_args() -> list[str]:
    return [arg for setting in SAFE_CONFIG for arg in ("-c", setting)]


def _verb(command: list[str]) -> str:
    """The subcommand of a git command line (after the global options)."""
    return next((arg for arg in command[1:] if not arg.startswith("-") and "=" not in arg), "")


def _complaint(stderr: str) -> str:
    """git's last ``fatal:``/``error:`` line, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    marked = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return first_line((marked or lines or [""])[-1])


async def _end(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the group this call started, by its id
    await process.wait()
