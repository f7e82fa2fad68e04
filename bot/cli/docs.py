"""``recheckbot config-reference``: docs/configuration.md, generated from the settings model.

The model (bot.config) is the single source: every section and key with its type, limits,
default, environment variable and description. A test compares the committed file with this
output, so the reference cannot fall behind the code.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from bot.cli.app import Common, command
from bot.config import ENV_PREFIX, Settings
from bot.config.base import web_url

HEADER = """\
# Configuration reference

<!-- Generated from bot/config/__init__.py by `recheckbot config-reference > docs/configuration.md`.
     Do not edit by hand: tests/test_docs.py fails when this file and the code disagree. -->

recheckbot reads one YAML file (`--config FILE`, or `RECHECKBOT_CONFIG`). Environment variables
override the file, and command-line flags (`--es-url`, `--queries`, `--index`) override both.
Unknown keys and wrong types are rejected at start, one line per problem with the key path.

- **Environment variables** are `RECHECKBOT_` + the key path in capitals, nested keys joined by
  `__`: `search.url` is `RECHECKBOT_SEARCH__URL`. Lists and mappings take JSON
  (`RECHECKBOT_CHAT__ADMINS__IRC_ACCOUNTS='["alice"]'`). Sections that are lists (`gerrit`,
  `mqtt`) are set whole, as a JSON list, in one variable (`RECHECKBOT_GERRIT`).
- **Secrets** are never printed. Each can instead be read from a file: `password_file: PATH`
  in the YAML file, or `RECHECKBOT_SEARCH__PASSWORD_FILE=PATH` (one trailing newline is
  stripped). This is how a Kubernetes Secret mounted as files is used (see operations.md).
- Relative paths are relative to the working directory of the process.
"""


#: Descriptions of the keys whose model field has none (a model description wins over these).
#: tests/test_docs.py checks that every key is described and that no note outlives its key.
NOTES = {
    "search.backend": "the kind of server the logs are in; `kibana`: only its console proxy",
    "search.url": "the search server (or, with backend `kibana`, the dashboard's base URL); "
    "a `user:password@` in it becomes `username` and `password`. Other URLs refuse credentials",
    "search.index": "index pattern the log documents are searched in",
    "search.username": "HTTP basic auth user",
    "search.password": "HTTP basic auth password.",
    "search.api_key": "API key (`Authorization: ApiKey`); used instead of the password.",
    "search.ca_file": "CA bundle that signed the server's certificate",
    "search.verify_tls": "verify the server certificate and host name",
    "search.kibana_flavor": "which console proxy (its xsrf header) the kibana backend talks to",
    "queries": "the query repository: a directory of ER query files, or a TripleO file",
    "channels": "the routing file (channels.yaml): which rooms hear which verdicts",
    "state": "the SQLite journal (events, verdicts, announcements, audit): keep it on a volume",
    "gerrit.name": "the server's name in routing (`gerrit:` of a channel) and in logs",
    "gerrit.host": "SSH host of the Gerrit server",
    "gerrit.port": "SSH port (stream-events, `gerrit review`)",
    "gerrit.user": "account for SSH and, with http_password, for the REST API",
    "gerrit.ssh_key": "private SSH key of the account (`ssh_key_file` usually).",
    "gerrit.known_hosts": "known_hosts file trusted for the server's host key "
    "(default: ~/.ssh/known_hosts)",
    "gerrit.http_url": "Gerrit's web URL, for the REST API (REST source, events-log resume)",
    "gerrit.http_password": "HTTP password of the account, for authenticated REST (`/a/`).",
    "gerrit.ci_usernames": "accounts whose comments are CI reports (Zuul, Jenkins)",
    "gerrit.comment": "review comments on Gerrit: `dry-run` logs what would be posted",
    "mqtt.name": "the connection's name, in logs",
    "mqtt.host": "MQTT broker host",
    "mqtt.port": "MQTT broker port",
    "mqtt.topic": "topic filter Zuul's MQTT reporter publishes to",
    "mqtt.username": "broker user",
    "mqtt.password": "broker password.",
    "mqtt.timeout": "seconds for connecting to the broker",
    "mqtt.reconnect_max_delay": "cap of the reconnect backoff, seconds",
    "irc.server": "IRC server host",
    "irc.port": "IRC server port",
    "irc.tls": "connect with TLS",
    "irc.nick": "the bot's nick",
    "irc.realname": "the real name (gecos) shown in WHOIS",
    "irc.server_password": "server password (PASS), where the network needs one.",
    "matrix.homeserver": "homeserver base URL",
    "matrix.user_id": "the bot's Matrix id, `@bot:example.org`",
    "matrix.password": "account password (to log in; or give access_token).",
    "matrix.access_token": "access token of an existing login.",
    "matrix.device_name": "display name of the device a password login creates",
    "matrix.verify_tls": "verify the homeserver's certificate",
    "dashboard": "The dashboard web server: graphs, uncategorized failures, /healthz, /metrics.",
    "dashboard.host": "address the dashboard listens on (`0.0.0.0` in a container)",
    "dashboard.port": "port the dashboard listens on (0: any free port)",
    "dashboard.output": "directory the dashboard files are written to",
    "dashboard.refresh_minutes": "minutes between dashboard rebuilds",
    "watch.replay_interval": "seconds between replayed events",
    "watch.uncategorized_url": "link to the uncategorized page in messages "
    "(default: the dashboard's)",
    "chat.default_days": "days a command searches when not told",
    "chat.max_query_length": "characters of Lucene accepted from chat",
    "chat.max_query_terms": "terms of Lucene accepted from chat",
    "chat.query_fields": "fields chat users may name in !query (admins: any)",
    "chat.uncat_items": "failures !uncat lists",
    "chat.user_rate.burst": "tokens when the bucket is full (a lookup costs 2: docs/chat.md)",
    "chat.user_rate.per_minute": "tokens refilled per minute",
    "chat.room_rate.burst": "tokens when the bucket is full (a lookup costs 2: docs/chat.md)",
    "chat.room_rate.per_minute": "tokens refilled per minute",
    "trackers.user_agent": "User-Agent of the lookups",
    "trackers.launchpad.api_url": "Launchpad's API base",
    "trackers.jira.url": "the Jira instance: bug links on it are its bugs",
    "trackers.bugzilla": "A Bugzilla instance (Red Hat's by default).",
    "trackers.bugzilla.url": "the Bugzilla instance: bug links on it are its bugs",
    "trackers.github": "GitHub (or GitHub Enterprise) issues.",
    "trackers.github.url": "GitHub's web URL: issue links on it are its issues",
    "trackers.github.api_url": "GitHub's API base",
}


@command("config-reference", help="Print the configuration reference (Markdown).")
def config_reference_command(*, common: Common) -> None:
    print(config_reference(), end="")


def config_reference() -> str:
    """The whole reference: the top-level keys, then one part per section."""
    parts = [HEADER, "## Top-level keys\n", *_table(Settings, (), in_list=False)]
    for name, field in Settings.model_fields.items():
        section = _section_type(field)
        if section is not None:
            parts += _section(section, (name,), field, in_list=_is_list(field))
    return "\n".join(parts)


def _section(
    model: type[BaseModel], path: tuple[str, ...], field: FieldInfo, *, in_list: bool
) -> Iterator[str]:
    dotted = ".".join(path)
    yield f"{'#' * min(len(path) + 1, 4)} `{dotted}`\n"
    about = _first_paragraph(model.__doc__ or "") or field.description or NOTES.get(dotted, "")
    if about:
        yield about + "\n"
    if _is_list(field):
        yield (
            f"A list: each entry is one {path[-1]} block with the keys below. In the "
            f"environment the whole list is one JSON value, `{_env(path, False)}`.\n"
        )
    elif _optional(field):
        yield "Optional: absent (null) by default; present, it turns this part on.\n"
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    yield from _table(model, path, in_list=in_list, given=default)
    for name, sub in model.model_fields.items():
        section = _section_type(sub)
        if section is not None:
            yield from _section(section, (*path, name), sub, in_list=in_list or _is_list(sub))


def _table(
    model: type[BaseModel], path: tuple[str, ...], *, in_list: bool, given: Any = None
) -> Iterator[str]:
    """A row per plain key of ``model``. ``given``: the section's own default, whose values
    beat the keys' defaults (``user_rate`` defaults to burst 5, while ``burst`` is required)."""
    rows = [(name, field) for name, field in model.model_fields.items() if not _section_type(field)]
    if not rows:
        return
    yield "| key | type | default | environment | description |"
    yield "|---|---|---|---|---|"
    for name, field in rows:
        key_path = (*path, name)
        cells = [
            f"`{name}`",
            type_text(field),
            _value(getattr(given, name)) if isinstance(given, model) else default_text(field),
            _env_cell(key_path, field, in_list),
            _escape(describe(key_path, field)),
        ]
        yield "| " + " | ".join(cells) + " |"
    yield ""


def describe(path: tuple[str, ...], field: FieldInfo) -> str:
    """The field's description, from the model, else from the notes kept beside this module."""
    text = field.description or NOTES.get(".".join(path), "")
    if _is_secret(field):
        text = text.strip()
        text = f"Secret. {text}{'' if text.endswith('.') else '.'} Or `{path[-1]}_file`: a file"
        text += " holding it."
    return text.strip()


def type_text(field: FieldInfo) -> str:
    """The type in words, with the limits the model enforces."""
    limits = [_limit(item) for item in field.metadata]
    name = URL_TYPE if _is_web_url(field.metadata) else type_name(field.annotation)
    return ", ".join([name, *filter(None, limits)])


#: How a :data:`bot.config.base.WebUrl` setting's type reads.
URL_TYPE = "http(s) URL"


def _is_web_url(metadata: Iterable[Any]) -> bool:
    return any(getattr(item, "func", None) is web_url for item in metadata)


def type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return URL_TYPE if _is_web_url(annotation.__metadata__) else type_name(args[0])
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in args)
    if origin in (Union, types.UnionType):
        names = [type_name(arg) for arg in args if arg is not type(None)]
        optional = " or null" if type(None) in args else ""
        return " or ".join(names) + optional
    if origin in (list, tuple):
        return f"list of {type_name(args[0])}"
    if origin is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


_SCALARS: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "path",
    SecretStr: "string",
}


def _limit(item: Any) -> str | None:
    for kind, sign, attr in ((at.Gt, ">", "gt"), (at.Ge, "≥", "ge"), (at.Lt, "<", "lt")):
        if isinstance(item, kind):
            return f"{sign} {getattr(item, attr)}"
    if isinstance(item, at.Le):
        return f"≤ {item.le}"
    if isinstance(item, at.MinLen):
        return f"at least {item.min_length} characters"
    if isinstance(item, at.MaxLen):
        return f"at most {item.max_length} characters"
    pattern = getattr(item, "pattern", None)
    return f"matching `{_escape(pattern)}`" if isinstance(pattern, str) else None


def default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    return "see below" if isinstance(value, BaseModel) else _value(value)


def _value(value: Any) -> str:
    return f"`{_escape(json.dumps(_plain(value), ensure_ascii=False))}`"


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _env(path: tuple[str, ...], secret_file: bool) -> str:
    name = ENV_PREFIX + "__".join(part.upper() for part in path)
    return name + ("_FILE" if secret_file else "")


def _env_cell(path: tuple[str, ...], field: FieldInfo, in_list: bool) -> str:
    if in_list:
        return "(in the list's JSON)"
    cell = f"`{_env(path, False)}`"
    if _is_secret(field):
        cell += f"<br>`{_env(path, True)}`"
    return cell


def _section_type(field: FieldInfo) -> type[BaseModel] | None:
    for kind in (field.annotation, *get_args(field.annotation)):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind
    return None


def _is_list(field: FieldInfo) -> bool:
    return get_origin(field.annotation) is list and _section_type(field) is not None


def _optional(field: FieldInfo) -> bool:
    return type(None) in get_args(field.annotation)


def _is_secret(field: FieldInfo) -> bool:
    return SecretStr in (field.annotation, *get_args(field.annotation))


def _first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


def _escape(text: str) -> str:
    # A pipe would end the table cell; a newline would end the row.
    return text.replace("|", "\\|").replace("\n", " ")
