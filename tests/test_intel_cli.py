"""``recheckbot clusters`` / ``quality`` and ``!suggest``, on a real osmem server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import bot.cli.intel  # noqa: F401  (registers the subcommands)
from bot.chat.command import load_commands
from bot.chat.dispatcher import Dispatcher
from bot.chat.reply import Span
from bot.cli.app import app
from bot.config import SearchSettings
from bot.intel import ClusterReport, find_clusters
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.state import StateStore
from bot.transports.base import Incoming, Room, Text
from commands.suggest import cluster_lines
from tests.support.chat import ALICE, CHANNEL, SETTINGS
from tests.support.clusters import KNOWN_QUERY, documents, seed_builds


def write_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, lucene in files.items():
        (path / f"{name}.yaml").write_text(f"query: >-\n  {lucene}\n")
    return path


def seed(settings: SearchSettings) -> None:
    async def load() -> None:
        backend = OpenSearchBackend(settings)
        await bulk_index(backend.client, documents(seed_builds(5)))
        await backend.close()

    asyncio.run(load())


def test_clusters_command_json_and_text(search_settings: SearchSettings, tmp_path: Path) -> None:
    seed(search_settings)
    repo = write_repo(tmp_path / "queries", {"1400905": 'message:"Hash Sum mismatch"'})
    common = ["--es-url", search_settings.url, "--queries", str(repo)]
    result = CliRunner().invoke(app, ["clusters", "--json", "--days", "7", *common])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert sorted(row["size"] for row in rows) == [9, 10, 11, 12]
    for row in rows:
        assert row["id"].startswith("c-")
        assert row["suggested_query"].startswith("message:")
        assert row["suggested_hits"]["success"] == 0
        assert row["suggested_yaml"].startswith("query: >-")
    result = CliRunner().invoke(app, ["clusters", "--days", "7", *common])
    assert result.exit_code == 0, result.output
    assert "4 cluster(s) in 44 uncategorized failed gate builds" in result.stdout
    assert all(row["id"] in result.stdout for row in rows)


def test_clusters_command_errors_are_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["clusters", "--queries", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert result.stderr.startswith("recheckbot: error: ")
    assert "Traceback" not in result.output


def test_quality_command(search_settings: SearchSettings, tmp_path: Path) -> None:
    seed(search_settings)
    repo = write_repo(
        tmp_path / "queries",
        {
            "1400905": 'message:"Hash Sum mismatch"',
            "1000001": 'message:"Run devstack"',
            "1000002": 'message:"no log line ever says this"',
        },
    )
    common = ["--es-url", search_settings.url, "--queries", str(repo)]
    result = CliRunner().invoke(app, ["quality", "--json", "--days", "7", *common])
    assert result.exit_code == 1, result.output
    flags = {row["id"]: row["flags"] for row in json.loads(result.stdout)}
    assert flags == {"1000001": ["too-broad"], "1000002": ["no-hits"], "1400905": []}
    result = CliRunner().invoke(app, ["quality", str(repo), "--days", "7", *common])
    assert result.exit_code == 1
    assert result.stdout.startswith("2 of 3 queries flagged (last 7 days)")
    good = write_repo(tmp_path / "good", {"1400905": 'message:"Hash Sum mismatch"'})
    result = CliRunner().invoke(app, ["quality", str(good), "--days", "7", *common])
    assert result.exit_code == 0, result.output


# --- !suggest ---------------------------------------------------------------------------------


@dataclass
class ClusterServices:
    """Just what the dispatcher and ``!suggest`` use (the state for the audit trail)."""

    state: StateStore
    report: ClusterReport
    asked: list[tuple[int, str | None]] = field(default_factory=list)

    async def clusters(self, *, days: int, queue: str | None) -> ClusterReport:
        self.asked.append((days, queue))
        return self.report


@pytest.fixture
async def services(search_settings: SearchSettings, tmp_path: Path) -> AsyncIterator[Any]:
    backend = OpenSearchBackend(search_settings)
    await bulk_index(backend.client, documents(seed_builds(5)))
    report = await find_clusters(backend, [KNOWN_QUERY], days=7, queue="gate")
    await backend.close()
    state = await StateStore.open(tmp_path / "state.sqlite")
    yield ClusterServices(state, report)
    await state.close()


async def ask(services: Any, text: str) -> list[str]:
    sent: list[Text] = []

    async def send(room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        sent.append(text)

    dispatcher = Dispatcher(services, SETTINGS, registry=load_commands(["commands.suggest"]))
    await dispatcher.handle(Incoming(CHANNEL, ALICE, text, "$event"), send)
    return [reply.plain for reply in sent]


async def test_suggest_replies_with_the_verified_yaml(services: Any) -> None:
    cluster = services.report.clusters[0]
    suggestion = services.report.suggestions[cluster.id]
    [reply] = await ask(services, f"!suggest {cluster.id[2:6]} --days 7")
    lines = reply.splitlines()
    assert lines[0].startswith(f"{cluster.id} · {cluster.size} failed builds · ")
    assert lines[1].startswith(f"verified: hits {cluster.size}/{cluster.size} cluster builds")
    assert lines[2] == f"queries/{cluster.id}.yaml:"
    assert "\n".join(line[2:] for line in lines[3:]) + "\n" == suggestion.yaml
    assert services.asked == [(7, "gate")]


async def test_suggest_refuses_unknown_and_malformed_ids(services: Any) -> None:
    [reply] = await ask(services, "!suggest c-000000")
    assert "no cluster" in reply
    assert services.report.clusters[0].id in reply
    [reply] = await ask(services, "!suggest rm -rf")
    assert "is not a cluster id" in reply
    [reply] = await ask(services, "!suggest")
    assert "which cluster?" in reply


async def test_cluster_lines_for_uncat(services: Any) -> None:
    report = services.report
    lines = cluster_lines(report, limit=2)
    assert len(lines) == 3
    assert lines[0][0] == Span(report.clusters[0].id, bold=True)
    assert "and 2 more clusters" in str(lines[2][0])


def test_uncat_clusters_and_check_quality(search_settings: SearchSettings, tmp_path: Path) -> None:
    """The contract's spellings: ``uncat --clusters [--json]`` and ``check --quality``."""
    seed(search_settings)
    good = write_repo(tmp_path / "good", {"1400905": 'message:"Hash Sum mismatch"'})
    server = ["--es-url", search_settings.url, "--days", "7"]
    result = CliRunner().invoke(
        app, ["uncat", "--clusters", "--json", "--queries", str(good), *server]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert sorted(row["size"] for row in rows) == [9, 10, 11, 12]
    assert set(rows[0]) >= {"id", "size", "jobs", "projects", "first_seen", "last_seen"}
    assert set(rows[0]) >= {"sample", "suggested_query", "suggested_hits"}
    broad = write_repo(
        tmp_path / "broad",
        {"1400905": 'message:"Hash Sum mismatch"', "1000001": 'message:"Run devstack"'},
    )
    result = CliRunner().invoke(app, ["check", str(broad), "--quality", *server])
    assert result.exit_code == 1, result.output
    (line,) = result.stdout.splitlines()
    assert "1000001" in line


async def test_uncategorized_page_has_a_clusters_section(
    search_settings: SearchSettings, tmp_path: Path
) -> None:
    from bot.dashboard.build import DashboardBuilder
    from bot.queries import load_queries

    await asyncio.to_thread(seed, search_settings)
    repo = write_repo(tmp_path / "queries", {"1400905": 'message:"Hash Sum mismatch"'})
    queries = load_queries(repo).queries
    backend = OpenSearchBackend(search_settings)
    builder = DashboardBuilder(tmp_path / "web", backend, lambda: queries, days=7)
    await builder.build_part("uncategorized")
    await backend.close()
    rows = json.loads((tmp_path / "web" / "data" / "clusters.json").read_text())
    assert sorted(row["size"] for row in rows) == [9, 10, 11, 12]
    page = (tmp_path / "web" / "uncategorized.html").read_text()
    assert 'id="clusters"' in page
    for row in rows:
        assert f'id="{row["id"]}"' in page
        assert "Suggested query" in page
