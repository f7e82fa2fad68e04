"""Settings: one validated model from a YAML file, ``RECHECKBOT_*`` variables and CLI flags.

Precedence, highest first: explicit overrides (CLI flags), environment (``RECHECKBOT_SEARCH__URL``,
nested keys joined by ``__``), the YAML file, defaults. Every section rejects unknown keys, and
errors carry the key path. Secrets are ``SecretStr`` (masked in reprs) and may be given as
``<name>_file`` pointing at a file that holds them, so they never have to sit in the config file.
"""

from __future__ import annotations

import contextvars
import os
import zoneinfo
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot.config.chat import ChatSettings
from bot.config.trackers import TrackerSettings
from bot.ingest.settings import IngestSettings

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
                data[name] = _read_secret(data.pop(key), key)
        return data


def _is_secret(field: FieldInfo) -> bool:
    return "SecretStr" in str(field.annotation)


def _read_secret(file: Any, key: str) -> str:
    path = Path(str(file)).expanduser()
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"{key}: cannot read {path}: {exc.strerror}") from None


def _submodel(field: FieldInfo) -> type[BaseModel] | None:
    """The section type of a field (``X``, ``X | None`` or ``list[X]``), if it is one."""
    for kind in (field.annotation, *get_args(field.annotation)):
        if get_origin(kind) is None and isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind
    return None


def _resolve_secret_files(model: type[BaseModel], data: Any, where: str = "") -> Any:
    """``<secret>_file`` keys of one source replaced by the files' contents, recursively.

    Done on the YAML file before the sources are merged, so that a secret set directly in
    the environment beats a ``password_file`` named in the file (precedence holds for secrets).
    """
    if isinstance(data, list):
        return [_resolve_secret_files(model, item, f"{where}{i}.") for i, item in enumerate(data)]
    if not isinstance(data, Mapping):
        return data
    data = dict(data)
    for name, field in model.model_fields.items():
        key = f"{name}_file"
        if key in data and _is_secret(field):
            data[name] = _read_secret(data.pop(key), f"{where}{key}")
        elif name in data and (section := _submodel(field)) is not None:
            data[name] = _resolve_secret_files(section, data[name], f"{where}{name}.")
    return data


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
    max_concurrent: int = Field(
        8, gt=0, le=1000, description="requests in flight at once, from all parts of the bot"
    )
    breaker_failures: int = Field(
        5, ge=1, description="unavailable answers in a row that open the circuit (fail fast)"
    )
    breaker_cooldown: float = Field(
        30.0, gt=0, description="seconds the open circuit fails fast before one probe"
    )


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

    @field_validator("comment", mode="before")
    @classmethod
    def _yaml_on_off(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `on` / `off` as a boolean: take it as the word that was meant.
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    connect_timeout: float = Field(30.0, gt=0, description="seconds for TCP + SSH handshake + auth")
    keepalive_interval: float = Field(
        30.0, gt=0, description="seconds between SSH keepalives on a quiet stream"
    )
    keepalive_count_max: int = Field(3, ge=1, description="unanswered keepalives before giving up")
    reconnect_max_delay: float = Field(60.0, gt=0, description="cap of the reconnect backoff")
    http_timeout: float = Field(30.0, gt=0, description="seconds per REST request")
    resume: Literal["off", "events-log"] = Field(
        "off", description="catch up on events missed while disconnected (events-log plugin)"
    )
    events_log_timezone: str = Field(
        "UTC", description="time zone of the Gerrit JVM; the events-log plugin reads t1 in it"
    )
    source: Literal["ssh", "rest"] = Field(
        "ssh", description="ssh: stream-events; rest: poll the REST API (no stream-events right)"
    )
    poll_interval: float = Field(60.0, gt=0, description="seconds between REST polls")
    poll_window: float = Field(
        3600.0, gt=0, description="seconds of change updates a REST poll looks back on (-age:)"
    )
    poll_query: str | None = Field(
        None, description="Gerrit search selecting changes to poll; default: commentby CI accounts"
    )
    # Review comments (bot/reporters/gerrit.py). ``comment`` above says off / dry-run / on.
    comment_via: Literal["ssh", "rest"] = Field(
        "ssh", description="ssh: `gerrit review`; rest: POST …/review (needs http_password)"
    )
    comment_projects: list[str] = Field(
        default_factory=lambda: ["*"], description="Gerrit projects (globs) that get comments"
    )
    comment_queues: list[str] = Field(
        default_factory=lambda: ["gate", "check"], description="Zuul pipelines (globs) commented on"
    )
    comment_unrecognized: bool = Field(
        False, description="also comment when no known bug explains the failure (ER did not)"
    )
    comment_tag: str | None = Field(
        "autogenerated:recheckbot", description="review tag; null for a Gerrit without --tag"
    )
    comment_timeout: float = Field(60.0, gt=0, description="seconds for posting one comment")

    @model_validator(mode="after")
    def _check_resume(self) -> GerritServer:
        if self.resume == "events-log" and not self.http_url:
            raise ValueError("resume: events-log needs http_url")
        if self.source == "rest" and not self.http_url:
            raise ValueError("source: rest needs http_url")
        if self.comment_via == "rest" and not (self.http_url and self.http_password):
            raise ValueError("comment_via: rest needs http_url and http_password")
        if self.events_log_timezone != "UTC":
            try:
                zoneinfo.ZoneInfo(self.events_log_timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"events_log_timezone: unknown time zone {self.events_log_timezone!r}"
                ) from None
        return self


class MqttSettings(Section):
    """A Zuul MQTT reporter broker to subscribe to."""

    name: str
    host: str
    port: int = Field(1883, gt=0, lt=65536)
    topic: str = "zuul/#"
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(10.0, gt=0)
    reconnect_max_delay: float = Field(60.0, gt=0)


class IrcSettings(Section):
    """One IRC network. Rooms (channels) come from channels.yaml routing, not from here."""

    server: str
    port: int = Field(6697, gt=0, lt=65536)
    tls: bool = True
    tls_verify: bool = Field(True, description="verify the server certificate and host name")
    ca_file: Path | None = Field(None, description="CA bundle for a private/self-signed server")
    nick: str = Field("recheckbot", min_length=1, max_length=30, pattern=r"^[^\s,*?!@#:]+$")
    username: str | None = Field(None, description="ident user name; default: the nick")
    realname: str = "recheckbot (elastic-recheck)"
    account: str | None = Field(None, description="services account name; default: the nick")
    password: SecretStr | None = Field(None, description="services account password")
    auth: Literal["auto", "sasl", "nickserv", "none"] = Field(
        "auto",
        description="auto: SASL PLAIN when the server offers it, else NickServ IDENTIFY "
        "(only with a password); sasl: SASL or no connection; nickserv: IDENTIFY only",
    )
    server_password: SecretStr | None = None
    send_burst: int = Field(4, ge=1, le=100, description="lines sent at once before pacing")
    send_interval: float = Field(
        1.0, ge=0, le=60, description="seconds between lines once the burst is spent"
    )
    connect_timeout: float = Field(30.0, gt=0, description="seconds for TCP + TLS + registration")
    reconnect_max_delay: float = Field(60.0, gt=0, description="cap of the reconnect backoff")
    ping_interval: float = Field(90.0, gt=0, description="PING the server after this quiet time")
    ping_timeout: float = Field(60.0, gt=0, description="drop the link when PING goes unanswered")
    regain_interval: float = Field(
        60.0, gt=0, description="seconds between tries to take back the configured nick"
    )

    @model_validator(mode="after")
    def _check_auth(self) -> IrcSettings:
        if self.auth in ("sasl", "nickserv") and self.password is None:
            raise ValueError(f"auth: {self.auth} needs a password")
        return self


class MatrixSettings(Section):
    """One Matrix account. Rooms (ids or aliases) come from channels.yaml routing."""

    homeserver: str = Field(pattern=r"^https?://\S+$")
    user_id: str = Field(pattern=r"^@[^:\s]+:\S+$")
    password: SecretStr | None = None
    access_token: SecretStr | None = None
    device_id: str | None = Field(None, description="reuse a device (with access_token)")
    device_name: str = "recheckbot"
    verify_tls: bool = True
    sync_timeout: float = Field(30.0, gt=0, le=300, description="long-poll seconds per /sync")
    request_timeout: float = Field(20.0, gt=0, description="seconds per HTTP request")
    reconnect_max_delay: float = Field(60.0, gt=0, description="cap of the retry backoff")

    @model_validator(mode="after")
    def _check_credentials(self) -> MatrixSettings:
        if self.password is None and self.access_token is None:
            raise ValueError("password or access_token is required")
        return self


class WatchSettings(Section):
    """How the watch pipeline judges builds."""

    wait: float = Field(1200.0, ge=0, description="seconds to wait for logs after the event")
    max_concurrent: int = Field(50, gt=0, description="builds judged at once")
    replay: Path | None = Field(None, description="JSON-lines file of Gerrit events to replay")
    replay_interval: float = Field(1.0, ge=0)
    ci_accounts: list[str] = Field(
        default_factory=lambda: ["zuul", "jenkins"],
        description="CI accounts for replayed events (Gerrit servers have their own)",
    )
    uncategorized_url: str | None = None
    max_active: int = Field(
        500, gt=0, description="builds held in memory; more wait in the state journal"
    )
    judge_retry_for: float = Field(
        3600.0, ge=0, description="seconds a build whose judging fails is retried (search down)"
    )
    give_up_after: float = Field(
        3600.0, ge=0, description="seconds a room may stay unreachable before a message is dropped"
    )
    keep_days: float = Field(30.0, gt=0, description="days finished builds stay in the journal")
    ingest: bool = Field(
        False, description="fetch and index each failed job's logs before judging (no ELK here)"
    )


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
    mqtt: list[MqttSettings] = Field(default_factory=list)
    irc: IrcSettings | None = None
    matrix: MatrixSettings | None = None
    dashboard: DashboardSettings = DashboardSettings()
    watch: WatchSettings = WatchSettings()
    console: bool = Field(False, description="announce on the terminal and read commands there")
    chat: ChatSettings = ChatSettings()
    ingest: IngestSettings = IngestSettings()
    trackers: TrackerSettings = TrackerSettings()

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


_yaml_data: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("yaml")


class _YamlSource(PydanticBaseSettingsSource):
    """The already parsed YAML file (read in :func:`load_settings` for clear file errors)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return _yaml_data.get({}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data.get({}))


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


def format_validation_error(
    exc: ValidationError, origin: str, env_prefix: str | None = None
) -> str:
    """One line per problem: ``origin: key.path: message``.

    With ``env_prefix``, a problem whose value came from an environment variable names that
    variable as its origin (not the YAML file, where the user would look in vain).
    """
    lines = []
    for err in exc.errors():
        parts = [str(part) for part in err["loc"]]
        where = ".".join(parts) or "(top level)"
        source = (_env_origin(parts, env_prefix) if env_prefix else None) or origin
        message = err["msg"].removeprefix("Value error, ")  # pydantic's prefix says nothing
        lines.append(f"{source}: {where}: {message}")
    return "\n".join(lines)


def _env_origin(parts: list[str], prefix: str) -> str | None:
    """The variable (``PREFIX_SEARCH__URL``, or a parent holding JSON) that set this key."""
    for end in range(len(parts), 0, -1):
        name = prefix + "__".join(parts[:end]).upper()
        if name in os.environ:
            return name
    return None


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``overrides`` (nested dicts allowed) win over env and file."""
    data = read_yaml_mapping(path) if path else {}
    try:
        data = _resolve_secret_files(Settings, data)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    token = _yaml_data.set(data)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        origin = str(path or "settings")
        raise ConfigError(format_validation_error(exc, origin, ENV_PREFIX)) from None
    finally:
        _yaml_data.reset(token)
