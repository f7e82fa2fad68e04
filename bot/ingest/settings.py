"""The ``ingest:`` settings section and the ingestion error.

Imports nothing of the bot, so that bot.config can take the section from here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MIB = 1024 * 1024
#: Files besides the console that upstream queries and readiness (bot.watch.readiness) look at.
DEFAULT_FILES = (
    "logs/screen-*.txt",
    "logs/syslog.txt",
    "logs/grenade.sh.txt",
    "controller/logs/screen-*.txt",
)


class IngestSettings(BaseModel):
    """What to fetch from a failed job's log tree, and the limits on fetching it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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


class IngestError(Exception):
    """A job's logs could not be ingested; ``str()`` is one line for the user."""
