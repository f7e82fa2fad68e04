"""Zuul MQTT reports through a real mosquitto broker on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
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
from tests.support.gerrit import wait_until
from tests.support.paths import require_program

UUID = "4f0c3b9a1d2e4c5f8a7b6c5d4e3f2a1b"


def report(action: str = "failure", result: str = "FAILURE") -> dict[str, Any]:
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
                    "uuid": UUID,
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


def test_failure_report_becomes_a_failed_build() -> None:
    build = parse_mqtt_message(RawEvent("zuul", report(), kind="zuul-mqtt"))
    assert isinstance(build, FailedBuild)
    assert (build.project, build.change, build.patchset, build.queue) == (
        "openstack/nova",
        "912345",
        "3",
        "gate",
    )
    failed = build.failed_jobs
    assert [job.name for job in failed] == ["tempest-full-py3"]
    assert failed[0].uuid == UUID
    assert failed[0].short_uuid == "4f0c3b9"
    assert failed[0].duration == 3600
    assert [job.voting for job in build.jobs] == [True, False]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (report(action="success", result="SUCCESS"), "success is not a build failure"),
        (report(action="start"), "start is not a build failure"),
        ({**report(), "buildset": None}, "without buildset.builds"),
        ({**report(), "change": None}, "without change"),
        (report(result="SUCCESS"), "no failed job"),
    ],
)
def test_other_reports_are_skipped_with_a_reason(data: dict[str, Any], reason: str) -> None:
    skip = parse_mqtt_message(RawEvent("zuul", data, kind="zuul-mqtt"))
    assert isinstance(skip, Skip)
    assert reason in skip.reason


class Mosquitto:
    """A mosquitto broker on a free loopback port, restartable on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_program("mosquitto")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.conf)], stdout=out, stderr=out
            )
        for _ in range(500):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()}")
            subprocess.run(["sleep", "0.01"], check=True)
        raise RuntimeError("mosquitto did not listen within 5 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


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
        await publish(broker.port, json.dumps(report()))
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
        await wait_until(lambda: source.status.failures >= 1, "the lost broker noticed")
        assert not source.status.connected
        assert source.status.last_error
        assert "reconnecting in" in caplog.text
        broker.start()
        delivered = False
        for _ in range(40):  # publish until the reconnected source has subscribed again
            await publish(broker.port, json.dumps(report(action="success", result="SUCCESS")))
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
