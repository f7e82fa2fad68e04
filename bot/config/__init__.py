"""Settings: one validated model from a YAML file, ``RECHECKBOT_*`` variables and CLI flags.

Precedence, highest first: explicit overrides (CLI flags), environment (``RECHECKBOT_SEARCH__URL``,
nested keys joined by ``__``), the YAML file, defaults. Every section rejects unknown keys, and
errors carry the key path. Secrets are ``SecretStr`` (masked in reprs) and may be given as
``<name>_file`` pointing at a file that holds them, so they never have to sit in the config file.
"""

from __future__ import annotations

import contextvars
import re
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot.config.base import (
    ConfigError,
    Section,
    format_validation_error,
    read_yaml_mapping,
    resolve_secret_files,
    walk_secrets,
)
from bot.config.chat import ChatSettings
from bot.config.dashboard import DashboardSettings
from bot.config.digest import DigestSettings
from bot.config.events import GerritServer, MqttSettings
from bot.config.feedback import FeedbackSettings
from bot.config.ingest import IngestSettings
from bot.config.propose import ProposeSettings
from bot.config.queries import QuerySource, QuerySyncSettings, check_sources
from bot.config.search import SearchSettings
from bot.config.trackers import TrackerSettings
from bot.config.transports import IrcSettings, MatrixSettings
from bot.config.watch import WatchSettings
from bot.core.http import basic_token

ENV_PREFIX = "RECHECKBOT_"

__all__ = [
    "ENV_PREFIX",
    "ChatSettings",
    "ConfigError",
    "DashboardSettings",
    "DigestSettings",
    "FeedbackSettings",
    "GerritServer",
    "IngestSettings",
    "IrcSettings",
    "MatrixSettings",
    "MqttSettings",
    "ProposeSettings",
    "QuerySource",
    "QuerySyncSettings",
    "SearchSettings",
    "Section",
    "Settings",
    "TrackerSettings",
    "WatchSettings",
    "format_validation_error",
    "load_settings",
    "read_yaml_mapping",
]


class Settings(BaseSettings):
    """Everything the bot and the CLI need, validated once at start."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    search: SearchSettings = SearchSettings()
    queries: Path = Path("queries")
    channels: Path = Path("channels.yaml")
    state: Path = Path("recheckbot.sqlite")
    gerrit: list[GerritServer] = Field(default_factory=list)
    mqtt: list[MqttSettings] = Field(default_factory=list)
    irc: IrcSettings | None = None
    matrix: MatrixSettings | None = None
    dashboard: DashboardSettings = DashboardSettings()
    watch: WatchSettings = WatchSettings()
    console: bool = Field(False, description="announce on the terminal and read commands there")
    chat: ChatSettings = ChatSettings()
    ingest: IngestSettings = IngestSettings()
    trackers: TrackerSettings = TrackerSettings()
    digest: DigestSettings = DigestSettings()
    query_sources: list[QuerySource] = Field(
        default_factory=list,
        description="where the queries come from, first listed wins a bug found twice "
        "(none: the queries directory alone)",
    )
    query_sync: QuerySyncSettings = QuerySyncSettings()

    @field_validator("query_sources")
    @classmethod
    def _sources(cls, sources: list[QuerySource]) -> list[QuerySource]:
        return check_sources(sources)

    @property
    def query_cache(self) -> Path:
        """Where the git sources' commits are kept."""
        return self.query_sync.cache or self.state.parent / "query-cache"

    propose: ProposeSettings = ProposeSettings()
    feedback: FeedbackSettings = FeedbackSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _YamlSource(settings_cls)

    def secret_values(self) -> list[str]:
        """Every configured secret in clear."""
        return [secret for _, secret in walk_secrets(self)]

    def masked_values(self) -> list[str]:
        """What logs and chat must never show: every secret, and the basic-auth token it makes
        with its section's user name (a request log would show that instead)."""
        found: list[str] = []
        for section, secret in walk_secrets(self):
            found.append(secret)
            user = getattr(section, "username", None) or getattr(section, "user", None)
            if isinstance(user, str) and user:
                found.append(basic_token(user, secret))
        return found


_yaml_data: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("yaml")


class _YamlSource(PydanticBaseSettingsSource):
    """The already parsed YAML file (read in :func:`load_settings` for clear file errors)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return _yaml_data.get({}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data.get({}))


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``overrides`` (nested dicts allowed) win over env and file."""
    data = read_yaml_mapping(path) if path else {}
    try:
        data = resolve_secret_files(Settings, data)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    token = _yaml_data.set(data)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        origin = str(path or "settings")
        raise ConfigError(format_validation_error(exc, origin, ENV_PREFIX)) from None
    except SettingsError as exc:  # an environment variable that should hold JSON does not
        raise ConfigError(_environment_error(exc)) from None
    finally:
        _yaml_data.reset(token)


def _environment_error(exc: SettingsError) -> str:
    found = re.search(r'field "([^"]+)"', str(exc))
    if found is None:
        return f"environment: {exc}"
    name = ENV_PREFIX + found.group(1).upper()
    return f"{name}: not valid JSON (lists and sections are given as JSON there)"
