"""Gerrit over SSH: the client key, the trusted host keys, one connection, one command.

The host key is always checked: against ``known_hosts``, else the user's ``~/.ssh/known_hosts``
(missing: nothing is trusted, like ssh). Nothing comes from ``~/.ssh/config`` or an agent when a
key is configured, so what the settings say is all that is used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import asyncssh

from bot.config import ConfigError, GerritServer
from bot.core.errors import ReadableError

USER_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
#: Longest piece of Gerrit's stderr quoted in an error.
SNIPPET = 200


class CommandFailed(ReadableError):
    """A Gerrit SSH command exited with an error; the message is Gerrit's ``fatal: …`` line."""


class BadKey(ConfigError, ValueError):
    """A configured client key that cannot be used; names the server, never shows the key."""


def import_key(settings: GerritServer) -> asyncssh.SSHKey | None:
    """The configured client key (decrypted with ``ssh_key_passphrase``); raises
    :class:`BadKey` for one that cannot be read or decrypted."""
    if settings.ssh_key is None:
        return None
    passphrase = settings.ssh_key_passphrase
    try:
        return asyncssh.import_private_key(
            settings.ssh_key.get_secret_value(),
            passphrase.get_secret_value() if passphrase else None,
        )
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
        raise BadKey(f"gerrit {settings.name}: ssh_key: {_key_problem(exc, passphrase)}") from None


def check_keys(servers: Iterable[GerritServer]) -> None:
    """Read every configured Gerrit key now (before anything connects): :class:`BadKey` with
    a line per server whose key cannot be read or decrypted."""
    problems = []
    for server in servers:
        try:
            import_key(server)
        except BadKey as exc:
            problems.append(str(exc))
    if problems:
        raise BadKey("\n".join(problems))


_CONVERT = "install bcrypt, or convert the key: ssh-keygen -p -m PKCS8"


def _key_problem(exc: Exception, passphrase: object) -> str:
    text = str(exc)
    if "Passphrase must be specified" in text:
        return "the key is encrypted: set ssh_key_passphrase (or ssh_key_passphrase_file)"
    if "requires bcrypt" in text:
        return f"cannot be decrypted: {text} ({_CONVERT})"
    if passphrase is not None and isinstance(exc, asyncssh.KeyEncryptionError | ValueError):
        return f"cannot be decrypted with ssh_key_passphrase: {text}"
    return text


async def known_hosts(settings: GerritServer) -> asyncssh.SSHKnownHosts:
    """The trusted host keys, read in a thread rather than by asyncssh on the event loop."""
    configured = settings.known_hosts
    path = (configured or USER_KNOWN_HOSTS).expanduser()
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except FileNotFoundError:
        if configured:
            raise
        text = ""  # like ssh: no file, no trusted host, so the check fails closed
    try:
        return asyncssh.import_known_hosts(text)
    except ValueError as exc:  # a broken file: name it, and retry until it is fixed
        raise OSError(f"{path}: {exc}") from None


def trusted_hosts_file(settings: GerritServer) -> str:
    """The known_hosts file that decides, for messages."""
    return str(settings.known_hosts or "~/.ssh/known_hosts")


async def connect(
    settings: GerritServer, key: asyncssh.SSHKey | None = None
) -> asyncssh.SSHClientConnection:
    """An SSH connection to a Gerrit server: host key checked, explicit key, timeouts set."""
    trusted = await known_hosts(settings)
    opening = asyncio.ensure_future(
        asyncssh.connect(
            settings.host,
            settings.port,
            username=settings.user,
            known_hosts=trusted,
            client_keys=[key] if key else (),
            agent_path=None if key else (),  # with a configured key, no agent keys on the side
            config=None,  # settings are explicit: no ~/.ssh/config surprises
            connect_timeout=settings.connect_timeout,
            keepalive_interval=settings.keepalive_interval,
            keepalive_count_max=settings.keepalive_count_max,
        )
    )
    try:
        # shield: cancelled in the middle of a handshake (as a login is refused), asyncssh may
        # wait forever for the connection it aborts to close; whoever cancels must not wait too.
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.cancel()
        opening.add_done_callback(_close_if_open)
        raise


def _close_if_open(opening: asyncio.Future[asyncssh.SSHClientConnection]) -> None:
    """A connection that opened after all, for nobody: closed. A failure: nobody to tell."""
    if not opening.cancelled() and opening.exception() is None:
        opening.result().abort()


async def run_command(settings: GerritServer, key: asyncssh.SSHKey | None, command: str) -> None:
    """Run one Gerrit command on a connection of its own; :class:`CommandFailed` if it fails."""
    async with await connect(settings, key) as conn:
        result = await conn.run(command, check=False)
    if result.exit_status != 0:
        raise CommandFailed(last_line(result.stderr) or f"exit {result.exit_status}")


def last_line(stderr: object) -> str:
    """Gerrit's last stderr line (its ``fatal: …``), cut to :data:`SNIPPET`; "" if none."""
    lines = str(stderr or "").strip().splitlines()
    return lines[-1].strip()[:SNIPPET] if lines else ""
