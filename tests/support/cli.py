"""The ``recheckbot`` command as a process: what to run, from the venv the tests run in."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def recheckbot() -> list[str]:
    """The argv prefix that runs ``recheckbot``: its script, or ``python -m bot`` without one."""
    script = shutil.which("recheckbot", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "bot"]
