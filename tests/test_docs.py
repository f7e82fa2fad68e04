"""The docs stay true: the configuration reference is the generator's output, and the
hand-written pages name only commands, options and keys that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

import bot.cli.ingest  # noqa: F401  (registers the subcommand until bot.cli imports it)
from bot.cli import app
from bot.cli.docs import NOTES, config_reference, describe
from bot.config import Settings, load_settings
from bot.queries import parse_query_yaml
from bot.watch.routing import parse_channels
from tests.support.paths import ROOT

DOCS = ROOT / "docs"
REFERENCE = DOCS / "configuration.md"
REGENERATE = "run: recheckbot config-reference > docs/configuration.md"


def test_configuration_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == config_reference(), REGENERATE


def test_cli_prints_the_reference() -> None:
    result = CliRunner().invoke(app, ["config-reference"])
    assert result.exit_code == 0, result.output
    assert result.stdout == config_reference()


def keys(model: type[BaseModel], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every key of the settings, dotted, with its field."""
    found: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        found[".".join((*path, name))] = field
        for kind in (field.annotation, *getattr(field.annotation, "__args__", ())):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found.update(keys(kind, (*path, name)))
    return found


def section_doc(field: Any) -> str:
    """The docstring of a section's model (what the reference shows for a section)."""
    for kind in (field.annotation, *getattr(field.annotation, "__args__", ())):
        if isinstance(kind, type) and issubclass(kind, BaseModel) and kind is not BaseModel:
            return kind.__doc__ or ""
    return ""


def test_every_key_is_described_and_no_note_outlives_its_key() -> None:
    fields = keys(Settings)
    undescribed = [
        key
        for key, field in fields.items()
        if not (describe(tuple(key.split(".")), field) or section_doc(field))
    ]
    assert undescribed == [], "describe these in bot/config/__init__.py (Field(description=...))"
    assert sorted(set(NOTES) - set(fields)) == [], "notes for keys that no longer exist"


def test_environment_names_in_the_reference_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    text = config_reference()
    for name in ("RECHECKBOT_SEARCH__URL", "RECHECKBOT_SEARCH__PASSWORD_FILE", "RECHECKBOT_GERRIT"):
        assert f"`{name}`" in text
    monkeypatch.setenv("RECHECKBOT_SEARCH__URL", "https://search.example.org")
    monkeypatch.setenv("RECHECKBOT_SEARCH__PASSWORD_FILE", str(secret))
    monkeypatch.setenv("RECHECKBOT_GERRIT", '[{"name": "r", "host": "h", "user": "u"}]')
    monkeypatch.setenv("RECHECKBOT_CHAT__USER_RATE", '{"burst": 2, "per_minute": 3}')
    settings = load_settings()
    assert settings.search.url == "https://search.example.org"
    assert settings.search.password is not None
    assert settings.search.password.get_secret_value() == "s3cret"
    assert settings.gerrit[0].name == "r"
    assert settings.chat.user_rate.burst == 2


def commands() -> dict[str, Any]:
    """The subcommands, by name (Typer's click group)."""
    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


_FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.DOTALL)
_SPAN = re.compile(r"`([^`\n]+)`")
# A command line starting with `recheckbot NAME` (line continuations joined first).
_INVOCATION = re.compile(r"^\s*(?:\$\s+)?recheckbot ([a-z][a-z-]+)([^\n|;&#]*)", re.MULTILINE)


def code(text: str) -> list[str]:
    """The code in a Markdown page: fenced blocks and inline spans."""
    blocks = _FENCE.findall(text)
    return blocks + _SPAN.findall(_FENCE.sub("", text))


def invocations() -> list[tuple[str, str, str]]:
    found = []
    for page in [*sorted(DOCS.glob("*.md")), ROOT / "deploy" / "README.md"]:
        if page == REFERENCE or not page.exists():
            continue
        for snippet in code(page.read_text(encoding="utf-8").replace("\\\n", " ")):
            for match in _INVOCATION.finditer(snippet):
                found.append((page.name, match[1], match[2]))
    return found


def test_docs_name_only_real_commands_and_options() -> None:
    known = commands()
    problems = []
    for page, name, rest in invocations():
        command = known.get(name)
        if command is None:
            problems.append(f"{page}: no subcommand {name!r}")
            continue
        options = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest):
            if option not in options:
                problems.append(f"{page}: recheckbot {name} has no option {option}")
    assert problems == []
    assert len(invocations()) > 20  # the pages do show the commands


# `section.key` in code spans: a configuration key, which must exist.
_KEY = re.compile(r"`((?:search|gerrit|mqtt|irc|matrix|dashboard|watch|chat|ingest)\.[a-z_.]+)`")


def test_docs_name_only_real_configuration_keys() -> None:
    fields = keys(Settings)
    problems = []
    for page in sorted(DOCS.glob("*.md")):
        for key in _KEY.findall(page.read_text(encoding="utf-8")):
            if key not in fields:
                problems.append(f"{page.name}: no configuration key {key}")
    assert problems == []


_YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def yaml_examples() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for block in _YAML_BLOCK.findall(page.read_text(encoding="utf-8")):
            found.append((page.name, yaml.safe_load(block)))
    return found


def without_secret_files(data: Any) -> Any:
    """An example's ``<secret>_file`` keys dropped (the files exist only on the author's disk)."""
    if isinstance(data, dict):
        return {k: without_secret_files(v) for k, v in data.items() if not k.endswith("_file")}
    if isinstance(data, list):
        return [without_secret_files(item) for item in data]
    return data


def test_yaml_examples_in_the_docs_are_valid() -> None:
    """Every YAML example is a settings file, a channels.yaml or a query file that loads."""
    kinds = []
    for page, data in yaml_examples():
        if "query" in data or "pattern" in data:
            parse_query_yaml(data, "1234567", Path(page))
            kinds.append("query")
        elif isinstance(data.get("channels"), dict):
            parse_channels(data, page)
            kinds.append("channels")
        else:
            assert set(data) <= set(Settings.model_fields), f"{page}: {sorted(data)}"
            Settings.model_validate(without_secret_files(data))
            kinds.append("settings")
    assert {"query", "channels", "settings"} <= set(kinds)
