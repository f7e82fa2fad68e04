"""What every settings section shares: strict keys, ``<secret>_file`` indirection, errors
that name the key path, YAML reading, web URLs (http(s), a host, a port, no credentials)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin
from urllib.parse import unquote, urlsplit, urlunsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo


class ConfigError(Exception):
    """The configuration is invalid; ``str()`` lists one problem per line."""


class Section(BaseModel):
    """Base of every config section: strict keys, immutable, ``<secret>_file`` indirection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        # A section built from the environment or in code may name secret files too.
        return resolve_secret_files(cls, data)


def _is_secret(field: FieldInfo) -> bool:
    return "SecretStr" in str(field.annotation)


def _read_secret(file: Any, key: str) -> str:
    path = Path(str(file)).expanduser()
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"{key}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{key}: {path} is not UTF-8 text (byte {exc.start})") from None


def _submodel(field: FieldInfo) -> type[BaseModel] | None:
    """The section type of a field (``X``, ``X | None`` or ``list[X]``), if it is one."""
    for kind in (field.annotation, *get_args(field.annotation)):
        if get_origin(kind) is None and isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind
    return None


def resolve_secret_files(model: type[BaseModel], data: Any, where: str = "") -> Any:
    """``<secret>_file`` keys of one source replaced by the files' contents, recursively.

    Done on the YAML file before the sources are merged, so that a secret set directly in
    the environment beats a ``password_file`` named in the file (precedence holds for secrets).
    """
    if isinstance(data, list):
        return [resolve_secret_files(model, item, f"{where}{i}.") for i, item in enumerate(data)]
    if not isinstance(data, Mapping):
        return data
    data = dict(data)
    for name, field in model.model_fields.items():
        key = f"{name}_file"
        if key in data and _is_secret(field):
            data[name] = _read_secret(data.pop(key), f"{where}{key}")
        elif name in data and (section := _submodel(field)) is not None:
            data[name] = resolve_secret_files(section, data[name], f"{where}{name}.")
    return data


def walk_secrets(model: BaseModel) -> Iterator[tuple[BaseModel, str]]:
    """Every secret set in ``model`` and its sections, in clear, with the section holding it."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, SecretStr) and item.get_secret_value():
                yield model, item.get_secret_value()
            elif isinstance(item, BaseModel):
                yield from walk_secrets(item)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file whose top level must be a mapping; errors name the file and line."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
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


# --- web URLs ------------------------------------------------------------------------------

_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s]*@")


def web_url(value: str) -> str:
    """``value`` if it is an http(s) URL with a host and a valid port and no credentials;
    else ValueError with a message that never shows a password."""
    url = value.strip()
    shown = _USERINFO.sub(r"\1***@", url)[:80]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"{shown!r} has no valid port (1-65535)") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"must be an http:// or https:// URL, not {shown!r}")
    if not parts.hostname or any(char.isspace() for char in url):
        raise ValueError(f"{shown!r} is no URL with a host name")
    if port == 0:
        raise ValueError(f"{shown!r} has no valid port (1-65535)")
    if "@" in parts.netloc:
        # Whatever shows the URL (logs, !status, /healthz) would show the password too.
        raise ValueError(f"{shown!r} holds credentials; give them in the password settings")
    return url


#: An http(s) URL setting (checked by :func:`web_url`).
WebUrl = Annotated[str, AfterValidator(web_url)]


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without its ``user:password@`` part, and the user and password (decoded)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url, None, None  # web_url says what is wrong with it
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None, None
    user, colon, password = userinfo.partition(":")
    clean = urlunsplit(parts._replace(netloc=host))
    return clean, unquote(user) or None, unquote(password) if colon else None


def credentials_out_of_url(data: Any, key: str, user_key: str, password_key: str) -> Any:
    """Section data with the ``user:password@`` of its ``key`` URL moved to ``user_key`` and
    ``password_key`` (a secret); refused when those are given as well."""
    if not isinstance(data, Mapping) or not isinstance(data.get(key), str):
        return data
    url, user, password = split_credentials(data[key])
    if user is None and password is None:
        return data
    given = [k for k in (user_key, password_key, f"{password_key}_file") if data.get(k)]
    if given:
        raise ValueError(f"{key}: holds credentials, and {given[0]} is set too: give them once")
    return {**data, key: url, user_key: user, password_key: password}
