"""The architecture page and the layer rules keep up with the tree.

docs/architecture.md names files and modules; each must exist. The import-linter layers must
place every package of ``bot``, so a new package cannot slip past the rules ``make lint``
checks (lint-imports itself runs there, and in the test below).
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.support.paths import ROOT

PAGE = ROOT / "docs" / "architecture.md"
_PATH = re.compile(r"`((?:bot|commands|tests|benchmarks)/[\w/.<>-]+)`")
_MODULE = re.compile(r"`(bot(?:\.\w+)+)`")


def test_every_file_the_page_names_exists() -> None:
    text = PAGE.read_text(encoding="utf-8")
    paths = [p for p in _PATH.findall(text) if "<" not in p]  # <name>: a placeholder
    assert len(paths) > 10
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert missing == []


def test_every_module_the_page_names_imports() -> None:
    missing = []
    for name in sorted(set(_MODULE.findall(PAGE.read_text(encoding="utf-8")))):
        if not _resolves(name):
            missing.append(name)
    assert missing == []


def _resolves(dotted: str) -> bool:
    """A module, or an attribute of one (``bot.core.retry.reconnecting``)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        value: object = module
        for attribute in parts[cut:]:
            if not hasattr(value, attribute):
                return False
            value = getattr(value, attribute)
        return True
    return False


def test_the_layers_place_every_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    [layers] = [c["layers"] for c in contracts if c["type"] == "layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    packages = {
        f"bot.{path.stem}"
        for path in (ROOT / "bot").iterdir()
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and path.stem not in ("__init__", "__main__"))
    }
    assert packages - placed == set()


def test_lint_imports_keeps_every_contract() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is a dev dependency"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "BROKEN" not in result.stdout
