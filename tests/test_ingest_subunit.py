"""``recheckbot ingest`` of a real subunit v2 stream (python-subunit's own writer; plain and
gzipped), then ``recheckbot tests`` counting what it wrote."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot.cli import app
from bot.config import SearchSettings
from bot.ingest.subunit import TestResult, inflate, parse_subunit
from bot.search.opensearch import OpenSearchBackend
from tests.support.logserver import File, LogServer, manifest
from tests.support.subunit import subunit_stream

runner = CliRunner()
START = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
A = "tempest.api.compute.servers.test_servers.ServersTestJSON.test_create_server"
B = "tempest.api.volume.test_volumes_get.VolumesGetTest.test_volume_create_get_delete"
C = "tempest.api.compute.admin.test_live_migration.LiveMigrationTest.test_live_block_migration"
D = "tempest.api.network.test_ports.PortsTestJSON.test_create_port_in_allowed_allocation_pools"
CONSOLE = b"2026-01-05 10:00:00.000000 | tempest run\n2026-01-05 10:30:00.000000 | POST-RUN END\n"
#: Build -> (change, uuid, when its tests start, the stream's tests).
BUILDS: dict[str, tuple[int, str, datetime, list[tuple[str, str, float]]]] = {
    # A fails (its id with attributes, as stestr writes it); a skip, an xfail, the exit code.
    "a": (
        900,
        "a" * 32,
        START,
        [
            (f"{A}[id-5de47127-9977-400a-936f-abcfbec1218f,smoke]", "fail", 3.0),
            (B, "success", 1.5),
            (C, "skip", 0.0),
            (D, "xfail", 0.5),
            ("process-returncode", "fail", 0.0),
        ],
    ),
    # The recheck, gzipped and in a tree without manifest: A passes.
    "b": (900, "b" * 32, START + timedelta(hours=1), [(A, "success", 2.0), (B, "success", 1.0)]),
    # Another change: A passes slowly.
    "c": (901, "c" * 32, START + timedelta(hours=2), [(A, "success", 4.0), (B, "success", 1.0)]),
}


def tree() -> dict[str, File]:
    files: dict[str, File] = {}
    for name, (_, _, start, tests) in BUILDS.items():
        stream = subunit_stream(tests, start)
        files[f"{name}/job-output.txt"] = File(CONSOLE)
        if name == "b":
            files["b/testrepository.subunit.gz"] = File(gzip.compress(stream))
        else:
            files[f"{name}/testrepository.subunit"] = File(stream)
    for name in ("a", "c"):
        paths = [p.removeprefix(f"{name}/") for p in files if p.startswith(f"{name}/")]
        files[f"{name}/zuul-manifest.json"] = File(manifest(paths))
    return files


@pytest.fixture
async def log_server() -> AsyncIterator[LogServer]:
    async with LogServer(tree()) as server:
        yield server


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def ingest(server: LogServer, settings: SearchSettings, name: str) -> int:
    change, uuid, start, _ = BUILDS[name]
    return int(
        cli(
            "ingest", f"{server.url}/logs/{name}/", "--job", "tempest-full", "--change",
            str(change), "--patchset", "1", "--uuid", uuid, "--time",
            (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"),
            "--es-url", settings.url,
        )
    )  # fmt: skip


async def test_ingested_results_are_counted_by_tests(
    log_server: LogServer, search_settings: SearchSettings
) -> None:
    counts = [await asyncio.to_thread(ingest, log_server, search_settings, n) for n in BUILDS]
    # Two console lines each; 4, 2 and 2 test results (the exit code is no test).
    assert counts == [6, 4, 4]
    found = json.loads(
        await asyncio.to_thread(cli, "tests", "--json", "--es-url", search_settings.url)
    )
    assert found == {
        "days": 7,
        "tests": [
            {
                "name": A,  # attributes dropped, as subunit2sql does for logsender
                "runs": 3,
                "failures": 1,
                "failure_rate": 0.3333,
                "flaky": True,  # failed in a, passed in its recheck b
                "jobs": {"tempest-full": 1},
                "last_failure": {
                    "log_url": f"{log_server.url}/logs/a/",
                    "build_uuid": "a" * 32,
                    "@timestamp": START.isoformat(),
                },
                "median_duration": 3.0,  # 2 3 4
            }
        ],
    }


async def test_the_documents_are_logsenders(
    log_server: LogServer, search_settings: SearchSettings
) -> None:
    await asyncio.to_thread(ingest, log_server, search_settings, "a")
    backend = OpenSearchBackend(search_settings)
    try:
        response = await backend.search({"size": 20}, index="subunit-*")
    finally:
        await backend.close()
    docs = {hit["_source"]["test_name"]: hit["_source"] for hit in response["hits"]["hits"]}
    assert {name: doc["test_status"] for name, doc in docs.items()} == {
        A: "fail",
        B: "success",
        C: "skip",
        D: "xfail",
    }
    doc: dict[str, Any] = docs[B]
    assert doc["test_duration"] == 1.5
    assert doc["@timestamp"] == (START + timedelta(seconds=4)).isoformat()
    assert doc["log_url"] == f"{log_server.url}/logs/a/testrepository.subunit"
    assert (doc["filename"], doc["tags"]) == ("testrepository.subunit", ["testrepository.subunit"])
    assert (doc["build_change"], doc["voting"], doc["build_uuid"]) == (900, 1, "a" * 32)
    assert "message" not in doc


def test_parse_subunit_keeps_the_last_status_and_drops_what_is_no_test() -> None:
    results = [(A, "fail", 1.0), (B, "success", 2.0), (A, "success", 0.5)]
    stream = subunit_stream([*results, ("process-returncode", "fail", 0)], START)
    found = parse_subunit(stream)
    assert [(r.name, r.status, r.duration) for r in found] == [
        (B, "success", 2.0),
        (A, "success", 0.5),
    ]
    assert parse_subunit(gzip.compress(stream)) == found
    assert parse_subunit(b"no subunit here\n") == []
    assert inflate(b"\x1f\x8bnot gzip") == b""
    assert isinstance(found[0], TestResult)
    assert found[0].start == START + timedelta(seconds=2)  # A took 1 s, then a 1 s gap


REAL = subunit_stream([(A, "fail", 1.0), (B, "success", 2.0), (C, "skip", 0.0)], START)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.integers(0, len(REAL)), st.booleans())
def test_any_bytes_read_as_results_or_nothing(noise: bytes, cut: int, gzipped: bool) -> None:
    # A truncated or corrupted stream, noise around it, gzipped or not: never an exception,
    # and every result it yields is one the stream holds (or the noise spelled out).
    data = REAL[:cut] + noise
    found = parse_subunit(gzip.compress(data) if gzipped else data)
    assert all(r.status in ("success", "fail", "skip", "xfail", "uxsuccess") for r in found)
    assert {r.name for r in parse_subunit(REAL[:cut])} <= {A, B, C}
