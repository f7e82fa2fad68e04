"""Zuul's MQTT reporter: one JSON message per reported buildset, already structured.

Unlike a Gerrit comment, the message lists every build with its uuid, result, voting flag and
log URL, so nothing has to be read out of prose. Schema (Zuul's MQTT driver docs): ``action``,
``tenant``, ``pipeline``, ``project``, ``branch``, ``change``, ``patchset``, ``change_url``,
``message``, ``buildset: {uuid, result, builds: [{job_name, voting, uuid, result, log_url,
start_time, end_time, ...}]}``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

import aiomqtt

from bot.config import MqttSettings
from bot.core.retry import Backoff
from bot.events.decode import BadLine, decode_object, epoch_seconds
from bot.events.model import FailedBuild, Job
from bot.events.parse import Skip, parse_log_url
from bot.events.source import RawEvent, SourceBase, default_backoff, sessions

log = logging.getLogger(__name__)


def parse_mqtt_message(raw: RawEvent) -> FailedBuild | Skip:
    """A Zuul MQTT report → FailedBuild; anything else → Skip with the reason. Never raises."""
    data = raw.data
    if not isinstance(data, Mapping):
        return Skip("MQTT message is not a JSON object")
    action = str(data.get("action", ""))
    if action != "failure":
        return Skip(f"MQTT action {action or '(none)'} is not a build failure")
    buildset = data.get("buildset")
    builds = buildset.get("builds") if isinstance(buildset, Mapping) else None
    if not isinstance(builds, list):
        return Skip("MQTT failure report without buildset.builds")
    jobs = tuple(job for job in (_job(b) for b in builds) if job is not None)
    if not any(job.failed for job in jobs):
        return Skip("no failed job in the MQTT report")
    change, patchset, project = (str(data.get(k) or "") for k in ("change", "patchset", "project"))
    if not (change and patchset and project):
        return Skip("MQTT report without change, patchset or project")
    return FailedBuild(
        server=raw.server,
        project=project,
        change=change,
        patchset=patchset,
        queue=str(data.get("pipeline") or "") or None,
        jobs=jobs,
        branch=str(data.get("branch") or "") or None,
        change_url=str(data.get("change_url") or "") or None,
        author="zuul",
        buildset_url=None,
        created=epoch_seconds(data.get("enqueue_time")) or 0.0,
        comment=str(data.get("message") or "")[:20000],
    )


def _job(build: Any) -> Job | None:
    if not isinstance(build, Mapping) or not build.get("job_name"):
        return None
    name = str(build["job_name"])
    url = str(build.get("log_url") or "") or None
    log_url = parse_log_url(url, name) if url else None
    start, end = epoch_seconds(build.get("start_time")), epoch_seconds(build.get("end_time"))
    return Job(
        name=name,
        result=str(build.get("result") or "UNKNOWN"),
        url=url,
        voting=bool(build.get("voting", True)),
        duration=end - start if start and end and end >= start else None,
        uuid=str(build.get("uuid") or "") or None,
        short_uuid=log_url.short_uuid if log_url else None,
    )


class ZuulMqttSource(SourceBase):
    """Subscribes to Zuul's MQTT reports; reconnects with backoff until cancelled."""

    def __init__(self, settings: MqttSettings, *, backoff: Backoff | None = None) -> None:
        super().__init__(settings.name)
        self._settings = settings
        self._backoff = backoff or default_backoff(settings.reconnect_max_delay)

    async def events(self) -> AsyncIterator[RawEvent]:
        # healthy_after=0: a subscription that worked starts the backoff over.
        connections = sessions(
            self._session, self._link, self._backoff, healthy_after=0.0, on_down=self._on_down
        )
        async with aclosing(connections):
            async for event in connections:
                self._tally.add(event.data)
                yield event

    def _on_down(self, exc: BaseException, delay: float, lasted: float) -> None:
        expected = isinstance(exc, aiomqtt.MqttError)
        log.log(
            logging.WARNING if expected else logging.ERROR,
            "MQTT %s: %s; reconnecting in %.1f s",
            *(self.name, self._link.last_error, delay),
            exc_info=None if expected else exc,  # a bug: show where
        )

    async def _session(self) -> AsyncIterator[RawEvent]:
        s = self._settings
        password = s.password.get_secret_value() if s.password else None
        async with aiomqtt.Client(
            s.host, s.port, username=s.username, password=password, timeout=s.timeout
        ) as client:
            await client.subscribe(s.topic, qos=1)
            self._link.up()
            log.info("MQTT %s: subscribed to %s on %s:%d", self.name, s.topic, s.host, s.port)
            async for message in client.messages:
                event = decode_object(message.payload)
                if isinstance(event, BadLine):
                    log.warning("MQTT %s: skipped a message: %s", self.name, event.reason)
                elif event is not None:
                    yield RawEvent(self.name, event, kind="zuul-mqtt")
