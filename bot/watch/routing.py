"""channels.yaml: which channels and rooms hear which verdicts.

ER's file is read unchanged (``channels: {name: {projects: [..|all], events: [positive,
negative]}}`` plus ``messages:`` templates; the ``channels:`` wrapper may be omitted). Each
channel may add routing keys; all of them narrow what it hears:

- ``transport`` (a name of :data:`bot.transports.registry.TRANSPORTS`: irc, matrix, console;
  default irc) and ``room`` (Matrix id or alias; IRC channel names get their ``#`` from the key
  when missing: each transport's own rule);
- ``gerrit``: server names; ``projects`` / ``jobs``: globs; ``branches``; ``queues``
  (default ``[gate]``, as ER announced gate failures only);
- ``teams`` (query ``owner``) and ``bugs`` (tracker projects): the channel also hears verdicts
  whose found bugs belong to them, whatever the project.

``digest: true`` (no routing key) asks for the weekly digest of the channel's projects
(:mod:`bot.watch.digest`).

A ``projects`` entry matches the Gerrit project (``openstack/nova``), its short name (``nova``,
ER's Launchpad-style names) or the tracker project of a found bug.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config import ConfigError, format_validation_error, read_yaml_mapping
from bot.transports.base import Room
from bot.transports.registry import kind_of

EventKind = Literal["positive", "negative"]


class ChannelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    projects: tuple[str, ...]
    events: tuple[EventKind, ...]
    transport: str = "irc"
    room: str | None = None
    gerrit: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()
    queues: tuple[str, ...] = ("gate",)
    teams: tuple[str, ...] = ()
    bugs: tuple[str, ...] = ()
    digest: bool = False  # the weekly digest of its projects (settings: digest.schedule)

    @field_validator("transport")
    @classmethod
    def _known_transport(cls, value: str) -> str:
        kind_of(value)  # raises ValueError naming the transports there are
        return value

    @field_validator("projects", "events")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must list at least one entry")
        return value


class Messages(BaseModel):
    """ER's message templates, used for review comments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    found_bug: str = "I noticed Zuul failed, I think you hit bug(s):\n\n%(bugs)s"
    footer: str = ""
    recheck_instructions: str = (
        "If you believe we've correctly identified the failure, feel free to leave a "
        "'recheck' comment to run the tests again."
    )
    unrecognized: str = "Some of the tests failed in a way that we did not understand."
    no_bugs_found: str = "I noticed Zuul failed."

    @field_validator("found_bug")
    @classmethod
    def _has_bugs_placeholder(cls, value: str) -> str:
        if "%(bugs)s" not in value:
            raise ValueError("must contain the %(bugs)s placeholder")
        return value


class ChannelsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: dict[str, ChannelConfig] = Field(min_length=1)
    messages: Messages = Messages()


@dataclass(frozen=True)
class Subject:
    """What routing looks at: where a verdict comes from and which bugs it found."""

    server: str
    project: str
    queue: str | None
    kind: EventKind
    branch: str | None = None
    jobs: tuple[str, ...] = ()  # failed job names
    teams: tuple[str, ...] = ()  # owners of the found bugs' queries
    bug_projects: tuple[str, ...] = ()  # tracker projects of the found bugs
    any_queue: bool = False  # "logs not ready" goes out whatever the queue (as ER)


@dataclass(frozen=True)
class Channel:
    name: str
    room: Room
    config: ChannelConfig

    def hears(self, subject: Subject) -> bool:
        """Whether this channel announces ``subject``."""
        cfg = self.config
        if subject.kind not in cfg.events:
            return False
        if not (subject.any_queue or _matches(subject.queue, cfg.queues)):
            return False
        if cfg.gerrit and subject.server not in cfg.gerrit:
            return False
        if cfg.branches and not _matches(subject.branch, cfg.branches):
            return False
        if cfg.jobs and not any(_matches(job, cfg.jobs) for job in subject.jobs):
            return False
        return self._project_matches(subject) or self._owner_matches(subject)

    def _project_matches(self, subject: Subject) -> bool:
        projects = self.config.projects
        if "all" in projects:
            return True
        names = (subject.project, subject.project.rsplit("/", 1)[-1], *subject.bug_projects)
        return any(_matches(name, projects) for name in names)

    def _owner_matches(self, subject: Subject) -> bool:
        cfg = self.config
        return bool(
            set(cfg.teams) & set(subject.teams) or set(cfg.bugs) & set(subject.bug_projects)
        )


@dataclass(frozen=True)
class Routing:
    channels: tuple[Channel, ...]
    messages: Messages

    def rooms_for(self, subject: Subject) -> list[Room]:
        """The rooms that hear ``subject``, each once, in file order."""
        return list(dict.fromkeys(ch.room for ch in self.channels if ch.hears(subject)))

    @property
    def rooms(self) -> list[Room]:
        return list(dict.fromkeys(ch.room for ch in self.channels))

    def unserved(self, transports: Collection[str]) -> dict[str, list[str]]:
        """Transport → the channels routed to it, for each transport not in ``transports``:
        those channels would hear nothing."""
        found: dict[str, list[str]] = {}
        for channel in self.channels:
            if channel.room.transport not in transports:
                found.setdefault(channel.room.transport, []).append(channel.name)
        return found


def _matches(value: str | None, patterns: Iterable[str]) -> bool:
    return value is not None and any(fnmatchcase(value, pattern) for pattern in patterns)


def parse_channels(data: Mapping[str, Any], origin: str = "channels.yaml") -> Routing:
    """Validate a channels mapping (ER's shape, with or without the ``channels:`` wrapper)."""
    if "channels" not in data:
        data = {"channels": {k: v for k, v in data.items() if k != "messages"}, **_messages(data)}
    try:
        parsed = ChannelsFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from None
    channels = tuple(
        Channel(name, _room(name, cfg, origin), cfg) for name, cfg in parsed.channels.items()
    )
    return Routing(channels, parsed.messages)


def _messages(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"messages": data["messages"]} if "messages" in data else {}


def _room(name: str, cfg: ChannelConfig, origin: str) -> Room:
    """The room a channel entry means, by its transport's rules (IRC: ``#`` added)."""
    try:
        return kind_of(cfg.transport).room(name, cfg.room)
    except ValueError as exc:
        raise ConfigError(f"{origin}: channels.{name}.room: {exc}") from None


def load_channels(path: Path) -> Routing:
    """Read and validate a channels.yaml file; errors name the file and the key path."""
    return parse_channels(read_yaml_mapping(path), str(path))
