"""bot.events.zuul_api against a stub of Zuul's REST API on 127.0.0.1.

Zuul itself cannot run here (it needs ZooKeeper, a database, executors and nodes), so a small
aiohttp server answers ``/api/tenant/<t>/builds`` with builds shaped like Zuul's own JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.events.model import FailedBuild
from bot.events.parse import parse_event
from bot.events.source import RawEvent
from bot.events.zuul_api import builds_url, merge_zuul_builds, needs_resolution, resolve_builds

SAMPLE = Path(__file__).parent / "data" / "events" / "zuul_buildset_check_failed.json"
LOGS = "https://d4e5a8b3c2f01e6f9a7b.ssl.cf5.rackcdn.com/904321/4/check"

#: A comment from a deployment that reports no URLs at all.
COMMENT = """Patch Set 4: Verified-1

Build failed (check pipeline).

- openstack-tox-pep8 : SUCCESS in 3m 58s
- tempest-full-py3 : FAILURE in 1h 48m 11s
- nova-ceph-multistore : FAILURE in 1h 58m 00s (non-voting)
- nova-next : NODE_FAILURE
"""


def api_build(job: str, uuid: str, result: str, end: str | None, **extra: Any) -> dict[str, Any]:
    """One build as Zuul's /builds lists it (older Zuul: change/patchset at the top level)."""
    build = {
        "_id": extra.pop("id", 1),
        "uuid": uuid,
        "job_name": job,
        "result": result,
        "held": False,
        "start_time": "2023-12-08T14:00:00",
        "end_time": end,
        "duration": 6491.0,
        "voting": True,
        "log_url": f"{LOGS}/{job}/{uuid[:7]}/",
        "nodeset": "ubuntu-jammy",
        "error_detail": None,
        "final": result != "RETRY",
        "project": "openstack/nova",
        "branch": "master",
        "pipeline": "check",
        "change": 904321,
        "patchset": "4",
        "ref": "refs/changes/21/904321/4",
        "newrev": None,
        "ref_url": "https://review.opendev.org/904321",
        "buildset": {"uuid": "3c5e0f7a9b1d4e2f8a6c0b4d2e8f1a3c"},
    }
    build.update(extra)
    return build


RETRIED, FINAL, OTHER_PS = "a1" * 16, "b2" * 16, "c3" * 16
BUILDS: list[Any] = [
    # Zuul ≥ 10 nests change/patchset under "ref"; this one is another patchset: ignored.
    api_build("tempest-full-py3", OTHER_PS, "FAILURE", "2023-12-09T10:00:00",
              ref={"change": 904321, "patchset": "3"}),
    api_build("tempest-full-py3", FINAL, "FAILURE", "2023-12-08T16:49:13", id=7),
    api_build("tempest-full-py3", RETRIED, "RETRY", "2023-12-08T14:30:00", id=5),
    api_build("nova-ceph-multistore", "d4" * 16, "FAILURE", "2023-12-08T15:58:00", voting=False),
    api_build("nova-next", "e5" * 16, "NODE_FAILURE", "2023-12-08T14:00:01", log_url=None),
    api_build("openstack-tox-pep8", "f6" * 16, "SUCCESS", "2023-12-08T14:03:58"),
    {"uuid": "no job name"},
    "not an object",
]  # fmt: skip


@dataclass
class StubZuul:
    """What the stub answers next, and the requests it saw."""

    url: str = ""
    status: int = 200
    body: str = json.dumps(BUILDS)
    delay: float = 0.0
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        await asyncio.sleep(self.delay)
        return web.Response(status=self.status, text=self.body, content_type="application/json")


@pytest.fixture
async def zuul() -> AsyncIterator[StubZuul]:
    stub = StubZuul()
    app = web.Application()
    app.router.add_get("/api/tenant/{tenant}/builds", stub.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    stub.url = f"http://127.0.0.1:{port}"
    yield stub
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def bare_build() -> FailedBuild:
    event = json.loads(SAMPLE.read_text())
    event["comment"] = COMMENT
    build = parse_event(RawEvent(server="opendev", data=event), ci_accounts={"zuul"})
    assert isinstance(build, FailedBuild)
    assert all(job.url is None for job in build.jobs)
    return build


async def test_resolve_fills_jobs_from_the_latest_build(
    zuul: StubZuul, session: aiohttp.ClientSession
) -> None:
    resolved = await resolve_builds(session, zuul.url, "openstack", bare_build(), timeout=5)
    assert zuul.requests == [
        (
            "/api/tenant/openstack/builds",
            {"change": "904321", "patchset": "4", "complete": "true", "project": "openstack/nova"}
            | {"pipeline": "check", "limit": "500"},
        )
    ]
    jobs = {job.name: job for job in resolved.jobs}
    tempest = jobs["tempest-full-py3"]
    assert (tempest.uuid, tempest.short_uuid) == (FINAL, FINAL[:7])
    assert tempest.url == f"{LOGS}/tempest-full-py3/{FINAL[:7]}/"
    assert (tempest.result, tempest.duration, tempest.voting) == ("FAILURE", 6491.0, True)
    ceph = jobs["nova-ceph-multistore"]
    assert (ceph.uuid, ceph.voting, ceph.short_uuid) == ("d4" * 16, False, "d4d4d4d")
    node = jobs["nova-next"]
    assert (node.uuid, node.url, node.short_uuid, node.duration) == ("e5" * 16, None, None, 6491.0)
    assert resolved.failed_jobs == tuple(j for j in resolved.jobs if j.failed)
    assert replace(resolved, jobs=bare_build().jobs) == bare_build()


async def test_nothing_to_resolve_asks_nothing(
    zuul: StubZuul, session: aiohttp.ClientSession
) -> None:
    event = json.loads(SAMPLE.read_text())
    event["comment"] = event["comment"].replace("- nova-next : NODE_FAILURE\n", "")
    build = parse_event(RawEvent(server="opendev", data=event), ci_accounts={"zuul"})
    assert isinstance(build, FailedBuild)
    assert not needs_resolution(build)
    assert await resolve_builds(session, zuul.url, "openstack", build, timeout=5) is build
    assert zuul.requests == []


@pytest.mark.parametrize(
    ("status", "body", "delay", "message"),
    [
        (500, "Internal Server Error", 0.0, "HTTP 500 for opendev/904321,4/check"),
        (404, '{"message": "Tenant nope not found"}', 0.0, "HTTP 404"),
        (200, "<html>maintenance</html>", 0.0, "JSONDecodeError"),
        (200, '{"builds": []}', 0.0, "expected a list of builds, got dict"),
        (200, "[]", 2.0, "no answer in 0.2 s"),
    ],
)
async def test_errors_leave_the_build_unchanged_and_log_once(
    zuul: StubZuul,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: str,
    delay: float,
    message: str,
) -> None:
    zuul.status, zuul.body, zuul.delay = status, body, delay
    build = bare_build()
    caplog.set_level(logging.WARNING, logger="bot.events.zuul_api")
    assert await resolve_builds(session, zuul.url, "openstack", build, timeout=0.2) is build
    assert len(caplog.records) == 1
    assert message in caplog.records[0].getMessage()


async def test_unreachable_zuul(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.events.zuul_api")
    build = bare_build()
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    assert await resolve_builds(session, closed, "openstack", build, timeout=2) is build
    assert len(caplog.records) == 1
    assert "ClientConnectorError" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    "api_url",
    ["https://zuul.example.org", "https://zuul.example.org/", "https://zuul.example.org/api/"],
)
def test_builds_url(api_url: str) -> None:
    assert (
        builds_url(api_url, "open stack")
        == "https://zuul.example.org/api/tenant/open%20stack/builds"
    )


# --- merge_zuul_builds, pure -----------------------------------------------------------------


def test_jobs_with_urls_are_kept() -> None:
    event = json.loads(SAMPLE.read_text())
    build = parse_event(RawEvent(server="opendev", data=event), ci_accounts={"zuul"})
    assert isinstance(build, FailedBuild)
    other = [
        api_build(
            "openstack-tox-py311", "99" * 16, "FAILURE", "2023-12-08T14:00:00", change="904321"
        )
    ]
    merged = merge_zuul_builds(build, other)
    assert merged is build  # has a build page URL and uuid already


def test_equal_times_keep_the_first_listed_and_ids_break_missing_times() -> None:
    build = bare_build()
    newest_first = [
        api_build("tempest-full-py3", "11" * 16, "FAILURE", None, id=9, start_time=None),
        api_build("tempest-full-py3", "22" * 16, "RETRY", None, id=3, start_time=None),
    ]
    tempest = {j.name: j for j in merge_zuul_builds(build, newest_first).jobs}["tempest-full-py3"]
    assert tempest.uuid == "11" * 16
    oldest_first = list(reversed(newest_first))
    tempest = {j.name: j for j in merge_zuul_builds(build, oldest_first).jobs}["tempest-full-py3"]
    assert tempest.uuid == "11" * 16
    same_time = [
        api_build("tempest-full-py3", "33" * 16, "FAILURE", "2023-12-08T16:00:00"),
        api_build("tempest-full-py3", "44" * 16, "FAILURE", "2023-12-08T16:00:00"),
    ]
    tempest = {j.name: j for j in merge_zuul_builds(build, same_time).jobs}["tempest-full-py3"]
    assert tempest.uuid == "33" * 16


def test_builds_of_another_change_are_ignored() -> None:
    build = bare_build()
    foreign = [api_build("tempest-full-py3", "55" * 16, "FAILURE", "2023-12-08T16:00:00", change=1)]
    assert merge_zuul_builds(build, foreign) is build
