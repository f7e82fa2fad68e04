"""Shared fixtures: real servers on loopback, started per session, isolated per test.

The osmem pytest plugin (auto-loaded) provides ``osmem_server`` (session, empty, frozen),
``osmem_clone`` and ``osmem_url`` (a fresh writable clone per test).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bot.config import SearchSettings

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
UPSTREAM = SHARED / "upstream"
UPSTREAM_QUERIES = UPSTREAM / "queries"
FIXTURES = UPSTREAM / "fixtures" / "tests" / "unit"


def require_program(name: str) -> str:
    """Path of a server binary; skip without it on a laptop, fail under CI (it must run there)."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not installed, and CI must run the real server")
    pytest.skip(f"{name} is not installed")


def require_upstream() -> Path:
    """The shared upstream data (queries, fixtures) that sits beside the checkout."""
    if UPSTREAM_QUERIES.is_dir():
        return UPSTREAM
    if os.environ.get("CI") == "true":
        pytest.fail(f"{UPSTREAM} is missing")
    pytest.skip(f"{UPSTREAM} is missing")


@pytest.fixture
def search_settings(osmem_url: str) -> SearchSettings:
    """Settings for an empty, writable osmem clone of this test's own."""
    return SearchSettings(url=osmem_url, timeout=30, retries=0)


# Real chat servers, session-wide (imported here so every test module can use them).
from tests.servers import irc_server, irc_server_factory, synapse_server  # noqa: E402, F401
