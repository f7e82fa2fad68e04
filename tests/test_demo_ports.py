"""Where the demo listens, and what ``run --demo`` says when its extra is not installed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.cli.run import DEMO_MISSING, demo_banner, with_port
from bot.config import load_settings
from bot.demo.mode import dashboard_port, search_address
from tests.support.paths import ROOT


def test_the_dashboard_takes_a_free_port_unless_one_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert dashboard_port(load_settings()) == 0  # the default 8080 is production's
    assert dashboard_port(load_settings(dashboard={"port": 8080})) == 8080
    monkeypatch.setenv("RECHECKBOT_DASHBOARD__PORT", "8123")
    assert dashboard_port(load_settings()) == 8123
    assert dashboard_port(with_port(load_settings(), 8124)) == 8124


def test_the_port_flag_counts_as_set() -> None:
    settings = with_port(load_settings(), 0)
    assert settings.dashboard.port == 0
    assert "port" in settings.dashboard.model_fields_set
    assert with_port(load_settings(), None).dashboard.model_fields_set == set()


@pytest.mark.parametrize(
    ("url", "address"),
    [
        (None, None),
        ("http://127.0.0.1:9201", "127.0.0.1:9201"),
        ("http://localhost:9202/", "localhost:9202"),
        ("http://[::1]:9203", "[::1]:9203"),
        ("http://127.0.0.1", None),  # no port: a free one
        ("https://opensearch.example.org:9200", None),  # not ours to take
    ],
)
def test_the_embedded_server_takes_an_explicit_loopback_search_url(
    url: str | None, address: str | None
) -> None:
    settings = load_settings(search={"url": url} if url else None)
    assert search_address(settings) == address


def test_the_banner_says_where_and_how() -> None:
    banner = demo_banner("http://127.0.0.1:8080", "http://127.0.0.1:40001")
    assert "dashboard: http://127.0.0.1:8080/" in banner
    assert "ssh -L 8080:127.0.0.1:8080 " in banner
    assert "--es-url http://127.0.0.1:40001" in banner
    assert "no prompt is shown" in banner
    assert "Ctrl-C" in banner


def test_the_demo_names_the_extra_when_the_search_server_is_missing() -> None:
    # A production install (the container image) has no osmem_server: importing it fails.
    script = (
        "import sys; sys.modules['osmem_server'] = None; "
        "sys.argv = ['recheckbot', 'run', '--demo']; "
        "from bot.cli import main; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert DEMO_MISSING in proc.stderr
    assert "pip install 'recheckbot[demo]'" in proc.stderr
    assert "Traceback" not in proc.stderr
