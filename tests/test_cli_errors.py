"""Hostile or broken input to the command line ends in one line (``recheckbot: error: …``, or
``path: problem``) and exit 2, never a traceback: config and channels files that are not UTF-8,
environment variables that are not JSON, malformed search URLs, events nested too deeply or
from the year 33658, encrypted Gerrit SSH keys."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from typer.testing import CliRunner, Result

import bot.cli  # noqa: F401  (importing registers every subcommand)
from bot.cli.app import EXIT_ERROR, app
from bot.config import ConfigError, GerritServer, load_settings
from bot.gerrit.ssh import BadKey, check_keys
from bot.watch.routing import load_channels
from tests.support.events import gerrit_fixture
from tests.support.paths import require_program

LATIN1 = "search:\n  url: http://caf\xe9.example.org\n".encode("latin-1")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("RECHECKBOT_"):
            monkeypatch.delenv(name)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def one_error_line(result: Result) -> str:
    """The error line of a failed command (and that there is exactly one, and no traceback)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == EXIT_ERROR, result.output
    assert "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("recheckbot: error: ")
    return line.removeprefix("recheckbot: error: ")


# --- files and environment ------------------------------------------------------------------


def test_a_config_file_that_is_not_utf8(tmp_path: Path) -> None:
    config = tmp_path / "bot.yaml"
    config.write_bytes(LATIN1)
    line = one_error_line(invoke("query", "--config", str(config), "--lucene", "message:x"))
    assert line == f"{config}: not UTF-8 text (byte 25)"


def test_a_channels_file_that_is_not_utf8(tmp_path: Path) -> None:
    channels = tmp_path / "channels.yaml"
    channels.write_bytes(b"channels:\n  '#caf\xe9': {}\n")
    with pytest.raises(ConfigError, match=r"channels.yaml: not UTF-8 text \(byte 17\)"):
        load_channels(channels)


def test_a_secret_file_that_is_not_utf8(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"password_file: .* is not UTF-8 text \(byte 0\)"):
        load_settings(search={"password_file": str(secret)})


@pytest.mark.parametrize("name", ["RECHECKBOT_GERRIT", "RECHECKBOT_MQTT", "RECHECKBOT_CHAT"])
def test_an_environment_variable_that_is_not_json(name: str) -> None:
    line = one_error_line(invoke("query", "--lucene", "message:x", env={name: "x"}))
    assert line == f"{name}: not valid JSON (lists and sections are given as JSON there)"


# --- search URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://", "'http://' is no URL with a host name"),
        ("http://127.0.0.1:99999", "'http://127.0.0.1:99999' has no valid port (1-65535)"),
        ("http://127.0.0.1:0", "'http://127.0.0.1:0' has no valid port (1-65535)"),
        ("http://127.0.0.1:http", "'http://127.0.0.1:http' has no valid port (1-65535)"),
        ("ftp://127.0.0.1", "must be an http:// or https:// URL, not 'ftp://127.0.0.1'"),
        ("127.0.0.1:9200", "must be an http:// or https:// URL, not '127.0.0.1:9200'"),
        ("http://a b", "'http://a b' is no URL with a host name"),
    ],
)
def test_a_malformed_search_url(url: str, problem: str) -> None:
    line = one_error_line(invoke("query", "--es-url", url, "--lucene", "message:x"))
    assert line == f"settings: search.url: {problem}"
    from_env = invoke("query", "--lucene", "message:x", env={"RECHECKBOT_SEARCH__URL": url})
    assert one_error_line(from_env) == f"RECHECKBOT_SEARCH__URL: search.url: {problem}"


# --- classify ---------------------------------------------------------------------------------


def failed_event(**changes: Any) -> dict[str, Any]:
    event = next(e for e in gerrit_fixture() if "Build failed" in e["comment"])
    return {**event, **changes}


@pytest.fixture
def queries(tmp_path: Path) -> Path:
    repo = tmp_path / "queries"
    repo.mkdir()
    (repo / "1000001.yaml").write_text('query: message:"x" AND tags:"console"\n')
    return repo


def test_classify_an_event_nested_too_deeply(tmp_path: Path, queries: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    line = one_error_line(invoke("classify", str(deep), "--queries", str(queries)))
    assert line == f"{deep}: JSON nested too deeply for an event"


def test_classify_an_event_that_is_not_utf8(tmp_path: Path, queries: Path) -> None:
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"comment": "caf\xe9"}')
    line = one_error_line(invoke("classify", str(latin), "--queries", str(queries)))
    assert line == f"{latin}: not UTF-8 text (byte 16)"


@pytest.mark.parametrize("created", [1e15, "inf", 10**400])
def test_classify_an_event_from_the_year_33658(
    tmp_path: Path, queries: Path, osmem_url: str, created: Any
) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(failed_event(eventCreatedOn=created)))
    result = invoke(
        "classify", str(event), "--json", "--wait", "0", "--queries", str(queries),
        "--es-url", osmem_url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [job["ready"] for job in json.loads(result.stdout)["jobs"]] == [False, False]


@pytest.mark.parametrize("wait", ["inf", "1e308", "nan"])
def test_classify_a_wait_that_never_ends(tmp_path: Path, queries: Path, wait: str) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(failed_event()))
    result = invoke("classify", str(event), "--wait", wait, "--queries", str(queries))
    assert result.exit_code == EXIT_ERROR
    assert "Traceback" not in result.output
    assert "Invalid value for '--wait'" in result.output


# --- encrypted Gerrit SSH keys ---------------------------------------------------------------

KEY = asyncssh.generate_private_key("ssh-ed25519")
ENCRYPTED = KEY.export_private_key("pkcs8-pem", "right horse").decode()


def gerrit(name: str, key: str, passphrase: str | None = None) -> dict[str, Any]:
    server: dict[str, Any] = {"name": name, "host": "127.0.0.1", "user": "bot", "ssh_key": key}
    return server | ({"ssh_key_passphrase": passphrase} if passphrase else {})


def test_an_encrypted_key_is_read_with_its_passphrase() -> None:
    server = GerritServer.model_validate(gerrit("review", ENCRYPTED, "right horse"))
    check_keys([server])


def test_keys_that_cannot_be_decrypted_name_their_servers() -> None:
    servers = [
        GerritServer.model_validate(gerrit("one", ENCRYPTED)),
        GerritServer.model_validate(gerrit("two", ENCRYPTED, "wrong horse")),
        GerritServer.model_validate(gerrit("three", ENCRYPTED, "right horse")),
    ]
    with pytest.raises(BadKey) as caught:
        check_keys(servers)
    assert str(caught.value).splitlines() == [
        "gerrit one: ssh_key: the key is encrypted: set ssh_key_passphrase"
        " (or ssh_key_passphrase_file)",
        "gerrit two: ssh_key: cannot be decrypted with ssh_key_passphrase:"
        " Unable to decrypt PKCS#8 private key",
    ]
    assert "horse" not in str(caught.value)
    assert isinstance(caught.value, ConfigError)


def test_an_openssh_encrypted_key_says_what_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "id_ed25519"
    subprocess.run(
        [require_program("ssh-keygen"), "-q", "-t", "ed25519", "-N", "right horse", "-f", path],
        check=True,
    )
    server = GerritServer.model_validate(gerrit("review", path.read_text(), "right horse"))
    if importlib.util.find_spec("bcrypt") is not None:
        check_keys([server])  # asyncssh decrypts OpenSSH's format with bcrypt
        return
    with pytest.raises(BadKey) as caught:
        check_keys([server])
    message = str(caught.value)
    assert message.startswith("gerrit review: ssh_key: cannot be decrypted: ")
    assert message.endswith("(install bcrypt, or convert the key: ssh-keygen -p -m PKCS8)")


def test_run_stops_on_a_key_it_cannot_decrypt_before_connecting(tmp_path: Path) -> None:
    config = tmp_path / "bot.yaml"
    key = tmp_path / "key"
    key.write_text(ENCRYPTED)
    config.write_text(
        "gerrit:\n  - name: review\n    host: 127.0.0.1\n    port: 9\n    user: bot\n"
        f"    ssh_key_file: {key}\n    ssh_key_passphrase: wrong horse\n"
        "irc:\n  server: 127.0.0.1\n  port: 9\n  tls: false\n"
    )
    line = one_error_line(invoke("run", "--config", str(config)))
    assert line == (
        "gerrit review: ssh_key: cannot be decrypted with ssh_key_passphrase:"
        " Unable to decrypt PKCS#8 private key"
    )
