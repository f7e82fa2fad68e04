"""Zuul MQTT reports through a real mosquitto broker on loopback (tests/support/servers.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from bot.config import MqttSettings
from bot.events.model import FailedBuild
from bot.events.parse import Skip
from bot.events.source import RawEvent
from bot.events.zuul_mqtt import ZuulMqttSource, parse_mqtt_message
from tests.support.events import ZUUL_UUID, zuul_report
from tests.support.polling import until
from tests.support.servers import Mosquitto


def test_failure_report_becomes_a_failed_build() -> None:
    build = parse_mqtt_message(RawEvent("zuul", zuul_report(), kind="zuul-mqtt"))
    assert isinstance(build, FailedBuild)
    assert (build.project, build.change, build.patchset, build.queue) == (
        "openstack/nova",
        "912345",
        "3",
        "gate",
    )
    failed = build.failed_jobs
    assert [job.name for job in failed] == ["tempest-full-py3"]
    assert failed[0].uuid == ZUUL_UUID
    assert failed[0].short_uuid == "4f0c3b9"
    assert failed[0].duration == 3600
    assert [job.voting for job in build.jobs] == [True, False]


@pytest.mark.parametrize(
    ("enqueue_time", "created"),
    [(1702137600.5, 1702137600.5), (1702137600500, 1702137600.5), ("inf", 0.0), (1e15, 0.0)],
)
def test_report_times_out_of_range_are_unknown(enqueue_time: Any, created: float) -> None:
    data = zuul_report()
    data["enqueue_time"] = enqueue_time
    builds = data["buildset"]["builds"]
    builds[0]["end_time"] = float("inf")
    build = parse_mqtt_message(RawEvent("zuul", data, kind="zuul-mqtt"))
    assert isinstance(build, FailedBuild)
    assert build.created == created
    assert build.jobs[0].duration is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (zuul_report(action="success", result="SUCCESS"), "success is not a build failure"),
        (zuul_report(action="start"), "start is not a build failure"),
        ({**zuul_report(), "buildset": None}, "without buildset.builds"),
        ({**zuul_report(), "change": None}, "without change"),
        (zuul_report(result="SUCCESS"), "no failed job"),
    ],
)
def test_other_reports_are_skipped_with_a_reason(data: dict[str, Any], reason: str) -> None:
    skip = parse_mqtt_message(RawEvent("zuul", data, kind="zuul-mqtt"))
    assert isinstance(skip, Skip)
    assert reason in skip.reason


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path)
    server.start()
    yield server
    server.stop()


async def publish(port: int, payload: bytes | str) -> None:
    async with aiomqtt.Client("127.0.0.1", port, timeout=5) as client:
        await client.publish("zuul/openstack/gate", payload, qos=1)


async def test_source_receives_reports_and_survives_a_broker_restart(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    settings = MqttSettings(
        name="zuul", host="127.0.0.1", port=broker.port, reconnect_max_delay=0.5
    )
    source = ZuulMqttSource(settings)
    received: asyncio.Queue[RawEvent] = asyncio.Queue()

    async def pump() -> None:
        async for event in source.events():
            await received.put(event)

    task = asyncio.create_task(pump())
    try:
        await asyncio.sleep(0.5)  # let it subscribe
        await publish(broker.port, b"not json at all")
        await publish(broker.port, json.dumps(zuul_report()))
        first = await asyncio.wait_for(received.get(), 10)
        assert first.kind == "zuul-mqtt"
        assert first.server == "zuul"
        assert isinstance(parse_mqtt_message(first), FailedBuild)
        assert "skipped a message: not JSON" in caplog.text
        status = source.status
        assert (status.name, status.connected, status.events, status.failures) == (
            "zuul",
            True,
            1,
            0,
        )

        broker.stop()
        await until(lambda: source.status.failures >= 1, "the lost broker noticed")
        assert not source.status.connected
        assert source.status.last_error
        assert "reconnecting in" in caplog.text
        broker.start()
        delivered = False
        for _ in range(40):  # publish until the reconnected source has subscribed again
            await publish(broker.port, json.dumps(zuul_report(action="success", result="SUCCESS")))
            try:
                second = await asyncio.wait_for(received.get(), 0.5)
            except TimeoutError:
                continue
            delivered = True
            break
        assert delivered, "no message after the broker restart"
        assert second.data["action"] == "success"
        assert received.empty()  # the garbage payload never became an event
        assert source.status.connected
        assert source.status.events == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
