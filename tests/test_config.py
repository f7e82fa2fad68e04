"""Settings: YAML file, ``RECHECKBOT_*`` environment, overrides; errors with key paths; secrets."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from bot.config import ConfigError, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``RECHECKBOT_*`` variable of the developer's shell leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("RECHECKBOT_"):
            monkeypatch.delenv(name)


def write_config(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    path = tmp_path / "recheckbot.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def write_secret(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n", encoding="utf-8")  # as `echo secret > file` leaves it
    return path


# --- sources and precedence ------------------------------------------------------------------


def test_defaults_without_file_or_environment() -> None:
    settings = load_settings()
    assert settings.search.backend == "opensearch"
    assert settings.search.url == "http://127.0.0.1:9200"
    assert settings.search.index == "logstash-*"
    assert settings.gerrit == []
    assert settings.irc is None


def test_overrides_beat_environment_beat_file_beat_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(
        tmp_path,
        {"search": {"url": "http://file:9200", "index": "file-*", "timeout": 42}},
    )
    monkeypatch.setenv("RECHECKBOT_SEARCH__URL", "http://env:9200")
    monkeypatch.setenv("RECHECKBOT_SEARCH__INDEX", "env-*")
    settings = load_settings(config, search={"url": "http://override:9200"})
    assert settings.search.url == "http://override:9200"  # override
    assert settings.search.index == "env-*"  # environment
    assert settings.search.timeout == 42  # file
    assert settings.search.retries == 2  # default


def test_unset_overrides_leave_lower_sources_alone(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"queries": "/srv/queries"})
    settings = load_settings(config, queries=None, search=None)
    assert settings.queries == Path("/srv/queries")


def test_top_level_and_json_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECHECKBOT_QUERIES", "/env/queries")
    monkeypatch.setenv("RECHECKBOT_GERRIT", '[{"name": "review", "host": "h", "user": "bot"}]')
    settings = load_settings()
    assert settings.queries == Path("/env/queries")
    assert settings.gerrit[0].host == "h"


def test_settings_are_immutable() -> None:
    settings = load_settings()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        settings.search.url = "http://elsewhere"  # type: ignore[misc]


# --- errors name the key path (and where the value came from) -------------------------------


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"search": {"urll": "http://x"}}, r"search\.urll: Extra inputs are not permitted"),
        ({"serach": {"url": "http://x"}}, r"serach: Extra inputs are not permitted"),
        (
            {"gerrit": [{"name": "g", "host": "h", "user": "u", "prot": 1}]},
            r"gerrit\.0\.prot: Extra inputs",
        ),
        ({"dashboard": {"colour": "blue"}}, r"dashboard\.colour"),
    ],
)
def test_unknown_keys_are_rejected_with_their_path(
    tmp_path: Path, data: dict[str, Any], where: str
) -> None:
    config = write_config(tmp_path, data)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(config))}: {where}"):
        load_settings(config)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"search": {"timeout": "soon"}}, r"search\.timeout: Input should be a valid number"),
        ({"search": {"retries": -1}}, r"search\.retries: Input should be greater than or equal"),
        ({"search": {"backend": "solr"}}, r"search\.backend: Input should be 'opensearch'"),
        ({"dashboard": {"port": 70000}}, r"dashboard\.port: Input should be less than 65536"),
        ({"gerrit": [{"name": "g", "host": "h"}]}, r"gerrit\.0\.user: Field required"),
        ({"gerrit": {"name": "g"}}, r"gerrit: Input should be a valid list"),
        ({"search": "http://x"}, r"search: Input should be a valid dictionary"),
    ],
)
def test_wrong_types_are_reported_with_their_path(
    tmp_path: Path, data: dict[str, Any], where: str
) -> None:
    config = write_config(tmp_path, data)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(config))}: {where}"):
        load_settings(config)


def test_every_problem_gets_its_own_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"search": {"timeout": 0, "retries": 99}})
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["search.timeout", "search.retries"]


def test_environment_problems_name_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, {"search": {"url": "http://file:9200"}})
    monkeypatch.setenv("RECHECKBOT_SEARCH__TIMEOUT", "soon")
    monkeypatch.setenv("RECHECKBOT_SEARCH__URLL", "http://typo")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(caught.value).splitlines() == [
        "RECHECKBOT_SEARCH__TIMEOUT: search.timeout: Input should be a valid number, "
        "unable to parse string as a number",
        "RECHECKBOT_SEARCH__URLL: search.urll: Extra inputs are not permitted",
    ]


def test_override_problems_name_the_path() -> None:
    with pytest.raises(ConfigError, match=r"^settings: search\.index: Input should be a valid str"):
        load_settings(search={"index": 7})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("search:\n  url: http://x\n  index: [unclosed\n", r"line 4: invalid YAML"),
        ("search:\n  url: 'a\n", r"line \d+: invalid YAML"),
        ("search: {url: x}\n\tindex: y\n", r"line 2: invalid YAML"),
        ("- a\n- b\n", r"top level must be a mapping, not list"),
    ],
)
def test_bad_yaml_is_reported_with_its_line(tmp_path: Path, text: str, problem: str) -> None:
    config = write_config(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(config))}: ?{problem}"):
        load_settings(config)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(missing))}: cannot read: No such file"
    ):
        load_settings(missing)


def test_empty_config_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(write_config(tmp_path, "")) == Settings()


# --- secrets ---------------------------------------------------------------------------------


def test_secret_file_indirection_reads_the_file(tmp_path: Path) -> None:
    password = write_secret(tmp_path, "es-password", "s3cret")
    token = write_secret(tmp_path, "gerrit-token", "g3rrit")
    config = write_config(
        tmp_path,
        {
            "search": {"username": "reader", "password_file": str(password)},
            "gerrit": [
                {"name": "g", "host": "h", "user": "u", "http_password_file": str(token)},
            ],
        },
    )
    settings = load_settings(config)
    assert settings.search.password is not None
    assert settings.search.password.get_secret_value() == "s3cret"  # trailing newline dropped
    assert settings.gerrit[0].http_password is not None
    assert settings.gerrit[0].http_password.get_secret_value() == "g3rrit"


def test_secret_file_path_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_secret(tmp_path, "key", "from-home")
    settings = load_settings(write_config(tmp_path, {"search": {"api_key_file": "~/key"}}))
    assert settings.search.api_key is not None
    assert settings.search.api_key.get_secret_value() == "from-home"


def test_secret_file_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECHECKBOT_SEARCH__API_KEY_FILE", str(write_secret(tmp_path, "k", "env-k")))
    settings = load_settings()
    assert settings.secret_values() == ["env-k"]


def test_environment_secret_beats_secret_file_named_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = write_secret(tmp_path, "pw", "from-file")
    config = write_config(tmp_path, {"search": {"password_file": str(password)}})
    monkeypatch.setenv("RECHECKBOT_SEARCH__PASSWORD", "from-env")
    assert load_settings(config).secret_values() == ["from-env"]


def test_environment_secret_file_beats_secret_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, {"search": {"password": "from-yaml"}})
    monkeypatch.setenv("RECHECKBOT_SEARCH__PASSWORD_FILE", str(write_secret(tmp_path, "p", "env")))
    assert load_settings(config).secret_values() == ["env"]


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_secret_file_is_a_clear_error(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "nothing-here" if kind == "missing" else tmp_path
    config = write_config(
        tmp_path, {"gerrit": [{"name": "g", "host": "h", "user": "u", "ssh_key_file": str(target)}]}
    )
    reason = "No such file or directory" if kind == "missing" else "Is a directory"
    where = rf"gerrit\.0\.ssh_key_file: cannot read {re.escape(str(target))}: {reason}$"
    expected = rf"^{re.escape(str(config))}: {where}"
    with pytest.raises(ConfigError, match=expected):
        load_settings(config)


def test_unreadable_secret_file_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECHECKBOT_SEARCH__PASSWORD_FILE", "/nonexistent/pw")
    with pytest.raises(ConfigError, match="password_file: cannot read /nonexistent/pw: No such"):
        load_settings()


SECRETS: dict[str, Any] = {
    "search": {"username": "reader", "password": "pw-search-1", "api_key": "key-search-2"},
    "gerrit": [{"name": "g", "host": "h", "user": "u", "http_password": "pw-gerrit-3"}],
    "irc": {"server": "irc.example", "password": "pw-irc-4"},
    "matrix": {"homeserver": "https://m", "user_id": "@bot:m", "access_token": "tok-matrix-5"},
}


def test_secrets_never_show_in_repr_or_str(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, SECRETS))
    shown = [repr(settings), str(settings), repr(settings.search), settings.model_dump_json()]
    for text in shown:
        for secret in settings.secret_values():
            assert secret not in text


def test_secrets_never_show_in_config_errors(tmp_path: Path) -> None:
    broken = {**SECRETS, "search": {**SECRETS["search"], "password": ["pw-in-a-list"]}}
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, broken))
    assert "search.password" in str(caught.value)
    assert "pw-in-a-list" not in str(caught.value)


def test_secret_values_lists_every_configured_secret(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, SECRETS))
    assert sorted(settings.secret_values()) == [
        "key-search-2",
        "pw-gerrit-3",
        "pw-irc-4",
        "pw-search-1",
        "tok-matrix-5",
    ]


def test_empty_secrets_are_not_listed() -> None:
    assert load_settings(search={"password": ""}).secret_values() == []
