"""Where things are: the checkout, the shared upstream data beside it, and the server programs.

What a test needs and may lack (a server binary, the upstream data) skips the test on a laptop
and fails it under ``CI=true``, where everything must run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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
