"""The ``ingest:`` section: what to fetch from a failed job's log tree, and the limits on it."""

from __future__ import annotations

from pydantic import Field

from bot.config.base import Section

MIB = 1024 * 1024
#: Files besides the console that upstream queries and readiness (bot.watch.readiness) look at.
DEFAULT_FILES = (
    "logs/screen-*.txt",
    "logs/syslog.txt",
    "logs/grenade.sh.txt",
    "controller/logs/screen-*.txt",
)


class IngestSettings(Section):
    """What to fetch from a failed job's log tree, and the limits on fetching it."""

    files: tuple[str, ...] = Field(
        DEFAULT_FILES,
        description="globs of log files (relative to the log URL; '.gz' ignored) indexed "
        "besides the console log; a directory part must be literal where there is no manifest",
    )
    max_file_bytes: int = Field(
        20 * MIB, gt=0, description="bytes read from one file (after gunzip); the rest is dropped"
    )
    max_files: int = Field(50, ge=0, description="files indexed per job besides the console log")
    concurrency: int = Field(4, ge=1, le=32, description="files fetched at once per job")
    timeout: float = Field(60.0, gt=0, description="seconds per HTTP request")
    verify_tls: bool = Field(True, description="verify the log server's certificate")
