"""Settings: one validated model from a YAML file, ``RECHECKBOT_*`` variables and CLI flags.

Precedence, highest first: explicit overrides (CLI flags), environment (``RECHECKBOT_SEARCH__URL``,
nested keys joined by ``__``), the YAML file, defaults. Every section rejects unknown keys, and
errors carry the key path. Secrets are ``SecretStr`` (masked in reprs) and may be given as
``<name>_file`` pointing at a file that holds them, so they never have to sit in the config file.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "RECHECKBOT_"


class ConfigError(Exception):
    """The configuration is invalid; ``str()`` lists one problem per line."""


class Section(BaseModel):
    """Base of every config section: strict keys, immutable, ``<secret>_file`` indirection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        for name, field in cls.model_fields.items():
            key = f"{name}_file"
            if key in data and _is_secret(field):
                path = Path(str(data.pop(key))).expanduser()
                try:
                    data[name] = path.read_text(encoding="utf-8").rstrip("\r\n")
                except OSError as exc:
                    raise ValueError(f"{key}: cannot read {path}: {exc.strerror}") from None
        return data


def _is_secret(field: FieldInfo) -> bool:
    return "SecretStr" in str(field.annotation)


class SearchSettings(Section):
    """Where the logs are searched."""

    backend: Literal["opensearch", "elasticsearch", "kibana"] = "opensearch"
    url: str = "http://127.0.0.1:9200"
    index: str = "logstash-*"
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    timeout: float = Field(10.0, gt=0, description="seconds per request")
    retries: int = Field(2, ge=0, le=10, description="extra attempts on connection errors")
    kibana_flavor: Literal["kibana", "opensearch-dashboards"] = "kibana"
    kibana_url: str | None = Field(None, description="Kibana base for links in messages")


class GerritServer(Section):
    """One Gerrit server whose stream-events the bot follows."""

    name: str
    host: str
    port: int = Field(29418, gt=0, lt=65536)
    user: str
    ssh_key: SecretStr | None = None
    known_hosts: Path | None = None
    http_url: str | None = None
    http_password: SecretStr | None = None
    ci_usernames: list[str] = Field(default_factory=lambda: ["zuul"])
    comment: Literal["off", "dry-run", "on"] = "dry-run"


class IrcSettings(Section):
    server: str
    port: int = Field(6697, gt=0, lt=65536)
    tls: bool = True
    nick: str = "recheckbot"
    password: SecretStr | None = None
    server_password: SecretStr | None = None


class MatrixSettings(Section):
    homeserver: str
    user_id: str
    password: SecretStr | None = None
    access_token: SecretStr | None = None


class DashboardSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, lt=65536)
    output: Path = Path("dashboard")
    refresh_minutes: int = Field(30, gt=0)
    url: str | None = Field(None, description="public URL of the dashboard, for links")


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
    irc: IrcSettings | None = None
    matrix: MatrixSettings | None = None
    dashboard: DashboardSettings = DashboardSettings()

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
        """Every configured secret in clear, so log filters can mask them."""
        return [s.get_secret_value() for s in _walk_secrets(self) if s.get_secret_value()]


_yaml_data: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("yaml", default={})


class _YamlSource(PydanticBaseSettingsSource):
    """The already parsed YAML file (read in :func:`load_settings` for clear file errors)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return _yaml_data.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data.get())


def _walk_secrets(model: BaseModel) -> Iterator[SecretStr]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, SecretStr):
                yield item
            elif isinstance(item, BaseModel):
                yield from _walk_secrets(item)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file whose top level must be a mapping; errors name the file and line."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, not {type(data).__name__}")
    return data


def format_validation_error(exc: ValidationError, origin: str) -> str:
    """One line per problem: ``origin: key.path: message``."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"{origin}: {where}: {err['msg']}")
    return "\n".join(lines)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``overrides`` (nested dicts allowed) win over env and file."""
    data = read_yaml_mapping(path) if path else {}
    token = _yaml_data.set(data)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path or "settings"))) from None
    finally:
        _yaml_data.reset(token)
