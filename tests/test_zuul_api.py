"""bot.events.zuul_api against a stub of Zuul's REST API on 127.0.0.1.

Zuul itself cannot run here (it needs ZooKeeper, a database, executors and nodes), so a small
aiohttp server answers ``/api/tenant/<t>/build/<uuid>`` with a build shaped like Zuul's own JSON.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.events.zuul_api import (
    MAX_ANSWER,
    ZuulApiError,
    ZuulBuild,
    build_api_url,
    resolve_build_page,
)

UUID = "b2" * 16
LOG_URL = (
    f"https://d4e5a8b3c2f01e6f9a7b.ssl.cf5.rackcdn.com/904321/4/check/tempest-full-py3/{UUID[:7]}/"
)


def api_build(**extra: Any) -> dict[str, Any]:
    """One build as Zuul's /build/<uuid> describes it."""
    build = {
        "_id": 7,
        "uuid": UUID,
        "job_name": "tempest-full-py3",
        "result": "FAILURE",
        "start_time": "2023-12-08T14:00:00",
        "end_time": "2023-12-08T16:49:13",
        "duration": 6491.0,
        "voting": True,
        "log_url": LOG_URL,
        "final": True,
        "ref": {"project": "openstack/nova", "change": 904321, "patchset": "4"},
        "buildset": {"uuid": "3c5e0f7a9b1d4e2f8a6c0b4d2e8f1a3c"},
    }
    return build | extra


@dataclass
class StubZuul:
    """What the stub answers next, and the requests it saw."""

    url: str = ""
    status: int = 200
    body: str = json.dumps(api_build())
    delay: float = 0.0
    requests: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        await asyncio.sleep(self.delay)
        return web.Response(status=self.status, text=self.body, content_type="application/json")

    def page(self, uuid: str = UUID, tenant: str = "openstack") -> str:
        return f"{self.url}/t/{tenant}/build/{uuid}"


@pytest.fixture
async def zuul() -> AsyncIterator[StubZuul]:
    stub = StubZuul()
    app = web.Application()
    app.router.add_get("/api/tenant/{tenant}/build/{uuid}", stub.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    stub.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield stub
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_a_build_page_resolves_to_its_uuid_and_log_url(
    zuul: StubZuul, session: aiohttp.ClientSession
) -> None:
    build = await resolve_build_page(session, zuul.page(UUID.upper()), timeout=5)
    assert build == ZuulBuild(uuid=UUID, log_url=LOG_URL)
    assert zuul.requests == [f"/api/tenant/openstack/build/{UUID.upper()}"]


async def test_other_urls_ask_nothing(zuul: StubZuul, session: aiohttp.ClientSession) -> None:
    for url in (f"{zuul.url}/logs/x/", f"{zuul.url}/t/openstack/buildset/{UUID}", LOG_URL):
        assert await resolve_build_page(session, url, timeout=5) is None
    assert zuul.requests == []


@pytest.mark.parametrize(
    ("status", "body", "delay", "message"),
    [
        (500, "Internal Server Error", 0.0, ": HTTP 500"),
        (404, '{"message": "Build not found"}', 0.0, f"no log_url for build {UUID}: Zuul does not"),
        (200, json.dumps(api_build(log_url=None)), 0.0, f"no log_url for build {UUID}"),
        (200, json.dumps(api_build(log_url="file:///etc/passwd")), 0.0, "no log_url for build"),
        (200, "<html>maintenance</html>", 0.0, "no log_url for build"),
        (200, "[" * 100_000, 0.0, "no log_url for build"),
        (200, "x" * (MAX_ANSWER + 1), 0.0, f"answer larger than {MAX_ANSWER} bytes"),
        (200, "{}", 2.0, "no answer in 0.2 s"),
    ],
)
async def test_what_zuul_cannot_say_is_one_readable_error(
    zuul: StubZuul,
    session: aiohttp.ClientSession,
    status: int,
    body: str,
    delay: float,
    message: str,
) -> None:
    zuul.status, zuul.body, zuul.delay = status, body, delay
    with pytest.raises(ZuulApiError) as info:
        await resolve_build_page(session, zuul.page(), timeout=0.2)
    assert message in str(info.value)
    assert str(info.value).startswith(f"{zuul.url}/api/tenant/openstack/build/{UUID}: ")


async def test_unreachable_zuul(session: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(ZuulApiError, match="ClientConnectorError"):
        await resolve_build_page(session, f"{closed}/t/openstack/build/{UUID}", timeout=2)


@pytest.mark.parametrize(
    ("page", "api"),
    [
        (
            f"https://zuul.example.org/t/openstack/build/{UUID}",
            f"https://zuul.example.org/api/tenant/openstack/build/{UUID}",
        ),
        (
            "https://example.org/zuul/t/open-stack/build/0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f/",
            "https://example.org/zuul/api/tenant/open-stack/build/"
            "0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f",
        ),
        (f"https://zuul.example.org/t/openstack/build/{UUID}/logs", None),
        (f"ftp://zuul.example.org/t/openstack/build/{UUID}", None),
        ("https://zuul.example.org/t/openstack/build/not-a-uuid", None),
    ],
)
def test_build_api_url(page: str, api: str | None) -> None:
    assert build_api_url(page) == api
