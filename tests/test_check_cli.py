"""``recheckbot check`` and ``recheckbot convert``, in process and as the installed script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import opensearchpy
import pytest
from typer.testing import CliRunner, Result

import bot.cli.check
import bot.cli.convert  # noqa: F401  (importing registers the subcommands)
from bot.cli.app import app
from bot.queries import load_queries
from bot.search.schema import daily_index, index_mapping
from tests.support.paths import UPSTREAM_QUERIES, require_upstream

runner = CliRunner()
NOW = datetime.now(UTC)


def run(*args: str, **kwargs: Any) -> Result:
    return runner.invoke(app, list(args), **kwargs)


def repo_copy(tmp_path: Path, *bugs: str) -> Path:
    """A repo directory holding copies of some upstream queries."""
    require_upstream()
    directory = tmp_path / "queries"
    directory.mkdir(parents=True)
    for bug in bugs:
        shutil.copy(UPSTREAM_QUERIES / f"{bug}.yaml", directory)
    return directory


def test_upstream_repo_checks_clean() -> None:
    require_upstream()
    result = run("check", str(UPSTREAM_QUERIES))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == "74 queries OK\n"


def test_broken_files_give_one_line_each_and_exit_1(tmp_path: Path) -> None:
    directory = repo_copy(tmp_path, "1400905", "1708704")
    (directory / "1000001.yaml").write_text("query: mesage:x\n")
    (directory / "1000002.yaml").write_text('query: message:"x"\nsupress-graph: true\n')
    result = run("check", str(directory))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{directory / '1000001.yaml'}: query: unknown field 'mesage' (did you mean 'message'?)",
        f"{directory / '1000002.yaml'}: supress-graph: unknown key"
        " (did you mean 'suppress-graph'?)",
    ]
    assert result.stderr == "2 problem(s) in 2 file(s); 2 queries loaded\n"


def test_json_lists_path_and_message(tmp_path: Path) -> None:
    directory = repo_copy(tmp_path, "1400905")
    (directory / "1000001.yaml").write_text("- not a mapping\n")
    result = run("check", "--json", str(directory))
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {
            "path": str(directory / "1000001.yaml"),
            "message": "top level is a list, not a mapping: expected 'query: ...'",
        }
    ]
    clean = run("check", "--json", str(repo_copy(tmp_path / "b", "1400905")))
    assert clean.exit_code == 0
    assert json.loads(clean.stdout) == []


def test_directory_from_queries_option_and_settings(tmp_path: Path) -> None:
    directory = repo_copy(tmp_path, "1400905", "1463631")
    assert run("check", "--queries", str(directory)).stderr == "2 queries OK\n"
    config = tmp_path / "recheckbot.yaml"
    config.write_text(f"queries: {directory}\n")
    result = run("check", "--config", str(config))
    assert result.exit_code == 0
    assert result.stderr == "2 queries OK\n"


def test_missing_or_empty_directory(tmp_path: Path) -> None:
    missing = run("check", str(tmp_path / "nope"))
    assert missing.exit_code == 2
    assert missing.stderr.startswith(f"recheckbot: error: {tmp_path / 'nope'}: no such query")
    empty = run("check", str(tmp_path))
    assert empty.exit_code == 1
    assert empty.stdout == f"{tmp_path}: no query files (*.yaml)\n"


# --- --hits on a real search server -------------------------------------------------------------


@pytest.fixture
def seeded_url(osmem_url: str) -> str:
    """A fresh osmem clone with three voting log lines: 1, 3 and 20 days old."""
    client = opensearchpy.OpenSearch(hosts=[osmem_url])
    lines = [(1, "disk quota exceeded"), (3, "disk quota exceeded"), (20, "mirror unreachable")]
    try:
        for age, message in lines:
            when = NOW - timedelta(days=age)
            index = daily_index(when)
            if not client.indices.exists(index=index):
                client.indices.create(index=index, body={"mappings": index_mapping()})
            doc = {"@timestamp": when.isoformat(), "message": message, "voting": "1"}
            client.index(index=index, body=doc | {"tags": ["console"], "build_status": "FAILURE"})
        client.indices.refresh(index="_all")
    finally:
        client.close()
    return osmem_url


def test_hits_flags_queries_without_hits(tmp_path: Path, seeded_url: str) -> None:
    directory = tmp_path / "queries"
    directory.mkdir()
    (directory / "1000001.yaml").write_text('query: message:"disk quota exceeded"\n')
    (directory / "1000002.yaml").write_text('query: message:"mirror unreachable"\n')
    (directory / "queries.yml").write_text(
        "queries:\n  - id: never-seen\n    pattern: this line never appears\n"
    )
    result = run("check", str(directory), "--hits", "--es-url", seeded_url)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        f"{directory / '1000002.yaml'}: no hits in the last 14 days",
        f"{directory / 'queries.yml'}: queries[0] (never-seen): no hits in the last 14 days",
    ]
    wider = run("check", str(directory), "--hits", "--days", "30", "--es-url", seeded_url)
    assert wider.stdout.splitlines() == [
        f"{directory / 'queries.yml'}: queries[0] (never-seen): no hits in the last 30 days",
    ]


def test_hits_with_no_server_is_one_error_line(tmp_path: Path) -> None:
    directory = repo_copy(tmp_path, "1400905")
    result = run("check", str(directory), "--hits", "--es-url", "http://127.0.0.1:9")
    assert result.exit_code == 2
    assert result.stderr.startswith("recheckbot: error: ")
    assert "Traceback" not in result.output


# --- convert ------------------------------------------------------------------------------------


def test_convert_round_trip_through_the_cli(tmp_path: Path) -> None:
    require_upstream()
    tripleo = tmp_path / "out" / "queries.yml"
    to_tripleo = run("convert", str(UPSTREAM_QUERIES), "-o", str(tripleo))
    assert to_tripleo.exit_code == 0, to_tripleo.output
    assert "warning: 1708704: allow-nonvoting has no TripleO key; dropped" in to_tripleo.stderr
    assert to_tripleo.stderr.endswith(f"wrote 74 queries to {tripleo} (tripleo)\n")
    assert run("check", str(tripleo)).stderr == "74 queries OK\n"

    er_dir = tmp_path / "er"
    to_er = run("convert", str(tripleo), "-o", str(er_dir))  # TripleO in: ER is the default
    assert to_er.exit_code == 0, to_er.output
    assert sorted(p.name for p in er_dir.iterdir()) == sorted(
        p.name for p in UPSTREAM_QUERIES.glob("*.yaml")
    )
    assert run("check", str(er_dir)).exit_code == 0
    original = load_queries(UPSTREAM_QUERIES)
    back = load_queries(er_dir)
    assert [q.bug for q in back.queries] == [q.bug for q in original.queries]


def test_convert_refuses_a_repo_with_problems(tmp_path: Path) -> None:
    directory = repo_copy(tmp_path, "1400905")
    (directory / "1000001.yaml").write_text("query: [\n")
    result = run("convert", str(directory), "-o", str(tmp_path / "q.yml"), "--to", "tripleo")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"recheckbot: error: {directory}: 1 problem(s); fix them first"
    )
    assert not (tmp_path / "q.yml").exists()


# --- the installed console script ---------------------------------------------------------------


def recheckbot_command() -> list[str]:
    beside = Path(sys.executable).parent / "recheckbot"
    found = str(beside) if beside.exists() else shutil.which("recheckbot")
    return [found] if found else [sys.executable, "-m", "bot"]


def test_console_script_checks_upstream() -> None:
    require_upstream()
    done = subprocess.run(
        [*recheckbot_command(), "check", str(UPSTREAM_QUERIES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().endswith("74 queries OK")


def test_console_script_reports_a_broken_file(tmp_path: Path) -> None:
    directory = repo_copy(tmp_path, "1400905")
    (directory / "1000001.yaml").write_text('query: message:"x" AND (tags:console\n')
    done = subprocess.run(
        [*recheckbot_command(), "check", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == (
        f"{directory / '1000001.yaml'}: query: syntax error at column 17: unclosed '(',"
        " near 'message:\"x\" AND (tags:console'\n"
    )
