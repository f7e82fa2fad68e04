"""The built dashboard served over real HTTP on 127.0.0.1, fetched with an aiohttp client."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import DashboardSettings, SearchSettings
from bot.dashboard.build import write_files
from bot.dashboard.server import DashboardServer
from bot.search.opensearch import OpenSearchBackend
from tests.support.graph import QUERIES, build_dashboard, index_graph_data

LOCAL = DashboardSettings(host="127.0.0.1", port=0)


@pytest.fixture
async def built(search_settings: SearchSettings, tmp_path: Path) -> Path:
    backend = OpenSearchBackend(search_settings)
    try:
        await index_graph_data(backend)
        counts = await build_dashboard(
            tmp_path / "site", backend, QUERIES, kibana="https://kibana.example"
        )
    finally:
        await backend.close()
    assert set(counts) == {"all", "gate", "uncategorized", "tests"}
    assert counts["all"]["bugs"] == 4
    return tmp_path / "site"


@pytest.fixture
async def served(built: Path) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    async def health() -> dict[str, Any]:
        return {"ok": True, "search": "up"}

    server = DashboardServer(LOCAL, built)
    await server.start()
    server.attach(health=health, metrics=lambda: "up 1\n")
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield server.url, session
    await server.close()


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[int, str, Any]:
    async with session.get(url) as response:
        return response.status, await response.text(), response.headers


async def test_pages_data_and_assets(served: tuple[str, aiohttp.ClientSession]) -> None:
    url, session = served
    assert url.startswith("http://127.0.0.1:")
    status, index, headers = await fetch(session, url + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert index.count('<li class="bug"') == 4
    assert "Disk quota &lt;exceeded&gt; on nodes" in index  # autoescaped title
    assert 'href="uncategorized.html"' in index
    assert 'href="https://kibana.example/app/discover#/' in index
    assert re.search(
        r'<rect x="[\d.]+%" y="[\d.]+" width="[\d.]+%" height="[\d.]+" fill="#c8372d" class="bar"',
        index,
    )
    assert 'href="bug/1001"' in index

    status, text, _ = await fetch(session, url + "/data/all.json")
    data = json.loads(text)
    assert status == 200
    assert [b["number"] for b in data["buglist"]][:1] == ["1001"]
    assert {"now", "last_indexed", "behind", "buglist", "status"} <= set(data)

    status, gate, _ = await fetch(session, url + "/gate.html")
    assert status == 200
    assert "non-voting" in gate  # bug 1004 allows non-voting jobs
    for path in (
        "/data/gate.json",
        "/uncategorized.html",
        "/data/uncategorized.json",
        "/tests.html",
        "/data/tests.json",
        "/static/dashboard.js",
        "/static/tests.js",
        "/static/dashboard.css",
    ):
        status, _, _ = await fetch(session, url + path)
        assert status == 200, path


async def test_only_built_files_are_served(
    served: tuple[str, aiohttp.ClientSession], built: Path
) -> None:
    url, session = served
    (built / "secret.txt").write_text("no")
    for path in (
        "/secret.txt",
        "/data/",
        "/static/",
        "/../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/static/../secret.txt",
        "/data/x.json",
    ):
        status, _, _ = await fetch(session, url + path)
        assert status == 404, path
    async with session.post(url + "/index.html") as response:
        assert response.status == 405
    async with session.head(url + "/index.html") as response:
        assert response.status == 200


async def test_health_and_metrics_hooks(served: tuple[str, aiohttp.ClientSession]) -> None:
    url, session = served
    status, text, _ = await fetch(session, url + "/healthz")
    assert (status, json.loads(text)) == (200, {"ok": True, "search": "up"})
    status, text, headers = await fetch(session, url + "/metrics")
    assert (status, text) == (200, "up 1\n")
    assert headers["Content-Type"].startswith("text/plain")


async def test_unhealthy_and_not_built_yet(tmp_path: Path) -> None:
    server = DashboardServer(LOCAL, tmp_path)
    await server.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            # Until the bot is up: not healthy, no metrics.
            status, text, _ = await fetch(session, server.url + "/healthz")
            assert (status, json.loads(text)) == (503, {"ok": False, "status": "starting"})
            status, _, _ = await fetch(session, server.url + "/metrics")
            assert status == 503
            server.attach(health=lambda: {"ok": False, "why": "search down"}, metrics=lambda: "")
            status, text, _ = await fetch(session, server.url + "/healthz")
            assert (status, json.loads(text)["why"]) == (503, "search down")
            status, text, headers = await fetch(session, server.url + "/")
            assert status == 503
            assert "not been built yet" in text
            assert headers["Retry-After"] == "60"
            write_files(tmp_path, {"index.html": b"<p>hi</p>"})
            status, text, _ = await fetch(session, server.url + "/")
            assert (status, text) == (200, "<p>hi</p>")
    finally:
        await server.close()
