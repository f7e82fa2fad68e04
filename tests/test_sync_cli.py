"""``recheckbot sync [--json]`` and ``recheckbot check`` over configured query sources, on bare
repositories over ``file://``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

import bot.cli.check
import bot.cli.sync  # noqa: F401  (importing registers the subcommands)
from bot.cli.app import app
from tests.support.gitrepo import Remote, query

runner = CliRunner()


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Remote, Path]:
    """Settings with a git source (upstream) listed before a directory (local)."""
    upstream = Remote(tmp_path / "upstream")
    local = tmp_path / "local"
    local.mkdir()
    (local / "1000001.yaml").write_text(query("the local copy"))
    (local / "1000002.yaml").write_text(query("only here"))
    config = tmp_path / "config.yaml"
    settings: dict[str, Any] = {
        "state": str(tmp_path / "state" / "bot.sqlite"),
        "query_sources": [
            {"name": "upstream", "git": upstream.url},
            {"name": "local", "dir": str(local)},
        ],
    }
    config.write_text(yaml.safe_dump(settings))
    return config, upstream, local


def test_sync_json_is_the_report_and_a_kept_back_commit_exits_1(
    setup: tuple[Path, Remote, Path],
) -> None:
    config, upstream, _ = setup
    good = upstream.commit({"queries/1000001.yaml": query("upstream's")})
    result = run("sync", "--json", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "sources": [
            {"name": "upstream", "commit": good, "queries": 1, "status": "updated", "problems": []},
            {"name": "local", "commit": None, "queries": 2, "status": "unchanged", "problems": []},
        ],
        "total": 2,
    }

    upstream.commit({"queries/1000003.yaml": "query: message:\n"})
    kept = run("sync", "--json", "--config", str(config))
    assert kept.exit_code == 1
    (first, _) = json.loads(kept.stdout)["sources"]
    assert (first["status"], first["commit"], first["queries"]) == ("kept-previous", good, 1)
    assert first["problems"] == [
        "1000003.yaml: invalid YAML at line 1, column 15: mapping values are not allowed here"
    ]

    text = run("sync", "--config", str(config))
    assert text.exit_code == 1
    assert text.stdout.splitlines()[0] == f"upstream: kept-previous {good[:7]}, 1 queries"
    assert text.stdout.splitlines()[1].startswith("  1000003.yaml: ")
    assert text.stdout.splitlines()[-1] == "2 queries in use"


def test_sync_of_an_unreachable_source_is_an_error_and_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    missing = (tmp_path / "missing.git").as_uri()
    config.write_text(
        yaml.safe_dump(
            {
                "state": str(tmp_path / "bot.sqlite"),
                "query_sources": [{"name": "gone", "git": missing}],
            }
        )
    )
    result = run("sync", "--json", "--config", str(config))
    assert result.exit_code == 1
    (source,) = json.loads(result.stdout)["sources"]
    assert (source["status"], source["commit"], source["queries"]) == ("error", None, 0)
    assert source["problems"][0].startswith(f"{missing}: git fetch: ")


def test_check_reads_every_source_and_names_the_shadowed(
    setup: tuple[Path, Remote, Path],
) -> None:
    config, upstream, local = setup
    upstream.commit({"queries/1000001.yaml": query("upstream's")})
    unsynced = run("check", "--config", str(config))
    assert unsynced.exit_code == 1
    assert unsynced.stdout.splitlines()[0] == "upstream: not synced yet (run recheckbot sync)"

    assert run("sync", "--config", str(config)).exit_code == 0
    result = run("check", "--config", str(config))
    assert result.exit_code == 0, result.output  # shadowing is a note, not a problem
    assert result.stdout.splitlines() == [
        f"{local / '1000001.yaml'}: bug 1000001 is shadowed by source 'upstream' "
        "(1000001.yaml); this one from 'local' is not used"
    ]
    assert result.stderr == "2 queries OK; 1 shadowed by an earlier source\n"
    listed = json.loads(run("check", "--json", "--config", str(config)).stdout)
    assert [entry["kind"] for entry in listed] == ["shadowed"]

    (local / "1000004.yaml").write_text("query: mesage:x\n")
    broken = run("check", "--config", str(config))
    assert broken.exit_code == 1
    assert f"{local / '1000004.yaml'}: query: unknown field 'mesage'" in broken.stdout
    # A directory named on the command line is checked alone, as before.
    alone = run("check", str(local), "--config", str(config))
    assert "shadowed" not in alone.stdout
