"""The files of a query repo, read as a hostile checkout may lay them out.

A repo is merged from many hands, so a query file may be anything: a symlink to ``/dev/zero``
(unbounded memory) or to a token file (its text would appear in an error), a FIFO (a blocking
read that nothing cancels: the load hangs, and shutdown waits for it), a huge file. So a query
file is read only if it is a regular file, inside the repo directory (a symlink may point
within it, as Kubernetes ConfigMap volumes do, never out of it), and at most
:data:`MAX_FILE_BYTES`; it is opened non-blocking and checked on the open descriptor. The
reloader's change detection looks at the same files the same way, without opening any.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SUFFIXES = (".yaml", ".yml")
#: Largest query file read (a TripleO file of hundreds of entries is a few hundred KiB).
MAX_FILE_BYTES = 1 << 20

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


class FileError(Exception):
    """A query file that is not read; ``str()`` says why (never what it holds)."""


def query_files(path: Path) -> list[Path]:
    """The query files of a repo directory, sorted by name (or ``[path]`` for a file)."""
    if not path.is_dir():
        return [path]
    return sorted(
        p
        for p in path.iterdir()
        if p.suffix in SUFFIXES and not p.name.startswith(".") and not p.is_dir()
    )


def read_query_file(path: Path, root: Path | None = None) -> str:
    """The text of a query file; ``root``: the repo directory it must stay inside.

    Raises :class:`FileError`: a symlink out of ``root``, not a regular file, too big, not
    UTF-8, unreadable.
    """
    target = _inside(path, root)
    try:
        descriptor = os.open(target, _OPEN_FLAGS | (os.O_NOFOLLOW if root else 0))
    except OSError as exc:
        raise FileError(f"cannot read: {exc.strerror or exc}") from None
    try:
        data = _read_regular(descriptor)
    finally:
        os.close(descriptor)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(f"not UTF-8 text (byte {exc.start})") from None


def file_state(path: Path, root: Path | None = None) -> tuple[int, int]:
    """``(mtime ns, size)`` of what :func:`read_query_file` would read, for change detection;
    a symlink out of ``root`` or a special file is described by its own entry, never opened or
    followed. Raises OSError when it is gone."""
    entry = os.lstat(path)
    if stat.S_ISLNK(entry.st_mode):
        try:
            target = _inside(path, root)
        except FileError:
            return entry.st_mtime_ns, entry.st_size
        entry = os.stat(target)
    return entry.st_mtime_ns, entry.st_size


def _inside(path: Path, root: Path | None) -> Path:
    """The file ``path`` names (symlinks resolved) when inside ``root``; else FileError."""
    if root is None:
        return path
    try:
        target = path.resolve(strict=True)
        home = root.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise FileError(f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if not target.is_relative_to(home):
        raise FileError("is a symlink to a file outside the query repo; not read")
    return target


def _read_regular(descriptor: int) -> bytes:
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "a special file")
        raise FileError(f"is {kind}, not a regular file; not read")
    if info.st_size > MAX_FILE_BYTES:
        raise FileError(_too_big(info.st_size))
    chunks: list[bytes] = []
    size = 0
    while chunk := os.read(descriptor, MAX_FILE_BYTES + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_FILE_BYTES:  # it grew since fstat
            raise FileError(_too_big(size))
    return b"".join(chunks)


def _too_big(size: int) -> str:
    return f"too big ({size} bytes; the limit is {MAX_FILE_BYTES})"
