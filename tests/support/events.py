"""Raw events as the sources receive them, and a consumer of a source's events.

ER's recorded stream-events (the shared upstream fixtures), the hand-written modern samples of
``tests/data/events`` and a Zuul MQTT report; :class:`Collector` consumes a source in a task, as
the app does, with a backoff fast enough for tests.
"""

from __future__ import annotations

import asyncio
import json
import random
from contextlib import aclosing
from pathlib import Path
from typing import Any

from bot.core.retry import Backoff
from bot.events.source import EventSource, RawEvent
from tests.support.paths import FIXTURES, require_upstream
from tests.support.polling import until

#: The hand-written modern samples (their README says where each comes from).
SAMPLES = Path(__file__).resolve().parent.parent / "data" / "events"
#: The uuid of the failed build in :func:`zuul_report`.
ZUUL_UUID = "4f0c3b9a1d2e4c5f8a7b6c5d4e3f2a1b"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return data


def gerrit_fixture() -> list[dict[str, Any]]:
    """ER's recorded Gerrit stream-events, in the fixture's order."""
    require_upstream()
    path = FIXTURES / "gerrit" / "events.json"
    events: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return events


def fixture_events() -> list[dict[str, Any]]:
    """All upstream stream-events, in the order Gerrit emits them (by eventCreatedOn)."""
    return sorted(gerrit_fixture(), key=lambda e: int(e["eventCreatedOn"]))


def jenkins_fixture() -> list[dict[str, Any]]:
    """ER's recorded events of the Jenkins era (the file keeps them under ``events``)."""
    require_upstream()
    document = json.loads((FIXTURES / "jenkins" / "events.json").read_text(encoding="utf-8"))
    events: list[dict[str, Any]] = document["events"]
    return events


def zuul_report(action: str = "failure", result: str = "FAILURE") -> dict[str, Any]:
    """A report shaped as Zuul's MQTT driver documents it."""
    return {
        "uuid": "item-1",
        "action": action,
        "tenant": "openstack",
        "pipeline": "gate",
        "project": "openstack/nova",
        "branch": "master",
        "change_url": "https://review.example.org/c/openstack/nova/+/912345",
        "message": "Build failed (gate pipeline).",
        "change": 912345,
        "patchset": "3",
        "enqueue_time": 1795600000.5,
        "buildset": {
            "uuid": "bs-1",
            "result": result,
            "builds": [
                {
                    "job_name": "tempest-full-py3",
                    "voting": True,
                    "uuid": ZUUL_UUID,
                    "result": result,
                    "start_time": 1795600100,
                    "end_time": 1795603700,
                    "log_url": "https://logs.example.org/45/912345/3/gate/tempest-full-py3/4f0c3b9/",
                },
                {"job_name": "openstack-tox-pep8", "voting": False, "result": "SUCCESS"},
                "garbage entry",
            ],
        },
    }


def fast_backoff() -> Backoff:
    """Retries within tens of milliseconds, the same delays every run."""
    return Backoff(initial=0.01, maximum=0.05, rng=random.Random(7))


class Collector:
    """Consumes a source in a task, as the app does; :attr:`events` holds what it yielded."""

    def __init__(self, source: EventSource) -> None:
        self.source = source
        self.events: list[RawEvent] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with aclosing(self.source.events()) as events:
            async for event in events:
                self.events.append(event)

    async def wait_for(self, count: int) -> None:
        await until(lambda: len(self.events) >= count, f"{count} events")

    async def stop(self) -> None:
        """Cancel; the task must not have ended by itself (a source yields until cancelled)."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        assert self.task.cancelled(), self.task.exception()
