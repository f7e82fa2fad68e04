"""How the running bot is doing: ``/healthz``, ``/metrics`` and ``!status`` read it here.

:class:`Vitals` is handed the parts it reports on; it reads their state, never changes it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.chat.services import RefreshStatus, StreamStatus, TransportStatus
from bot.core.metrics import Metric, format_metrics, gauge
from bot.dashboard.scheduler import DashboardRefresher, RunStatus, refresher_metrics
from bot.events.source import EventSource
from bot.queries.reload import QueryWatcher
from bot.search.breaker import GuardedBackend
from bot.transports.base import Transport
from bot.watch.classify import Classifier
from bot.watch.intake import Intake
from bot.watch.pipeline import Pipeline
from bot.watch.readiness import ReadinessMonitor


@dataclass(frozen=True)
class Vitals:
    """The parts whose state the bot reports, and when it started."""

    started: float  # wall time
    search: GuardedBackend
    transports: Mapping[str, Transport]
    sources: Sequence[EventSource]
    intake: Intake
    pipeline: Pipeline
    refresher: DashboardRefresher
    classifier: Classifier
    monitor: ReadinessMonitor
    watcher: QueryWatcher

    @property
    def uptime(self) -> float:
        return time.time() - self.started

    def health(self) -> dict[str, Any]:
        """``/healthz``: ok while every chat transport is connected."""
        transports = {name: t.health().connected for name, t in self.transports.items()}
        breaker = self.search.breaker.status()
        return {
            "ok": all(transports.values()),
            "uptime": round(self.uptime),
            "transports": transports,
            "search": breaker.to_json() | {"status": breaker.describe()},
            "events_received": self.intake.received,
            "pending_builds": self.pipeline.pending,
            "quarantined_queries": dict(self.classifier.quarantined),
        }

    def streams(self) -> tuple[StreamStatus, ...]:
        """Every event source: connected, and when its last event came."""
        return tuple(
            StreamStatus(
                source.name,
                connected=source.status.connected,
                last_event=_when(self.intake.last_event.get(source.name)),
            )
            for source in self.sources
        )

    def chat_transports(self) -> tuple[TransportStatus, ...]:
        """Every chat transport: connected (where, or why not) and its rooms."""
        statuses = []
        for name, transport in self.transports.items():
            health = transport.health()
            statuses.append(TransportStatus(name, health.connected, health.detail, health.rooms))
        return tuple(statuses)

    def last_refresh(self) -> RefreshStatus:
        return refresh_status(list(self.refresher.status.values()))

    def metrics(self) -> str:
        """``/metrics``, in Prometheus' text format."""
        return format_metrics([*self._own_metrics(), *refresher_metrics(self.refresher.status)])

    def _own_metrics(self) -> list[Metric]:
        pipeline, rooms = self.pipeline, self.pipeline.rooms
        return [
            gauge("recheckbot_uptime_seconds", "Seconds since start", self.uptime),
            _counter(
                "recheckbot_events_received_total",
                "Events received from all sources",
                self.intake.received,
            ),
            gauge(
                "recheckbot_pending_builds", "Builds being judged or announced", pipeline.pending
            ),
            Metric(
                "recheckbot_builds_finished_total",
                "Builds finished, by result (given up: judging failed for too long)",
                "counter",
                (
                    ({"result": "judged"}, pipeline.processed),
                    ({"result": "given-up"}, pipeline.given_up),
                ),
            ),
            Metric(
                "recheckbot_judge_failures_total",
                "Failed attempts to judge a build, by error (each is retried with backoff)",
                "counter",
                tuple(({"kind": kind}, n) for kind, n in sorted(pipeline.judge_failures.items())),
            ),
            Metric(
                "recheckbot_announcements_total",
                "Messages to rooms, by result (given up: the room stayed unreachable)",
                "counter",
                (({"result": "sent"}, rooms.sent), ({"result": "given-up"}, rooms.given_up)),
            ),
            Metric(
                "recheckbot_search_requests_total",
                "Classification and readiness round trips",
                "counter",
                (
                    ({"kind": "classification"}, self.classifier.requests),
                    ({"kind": "readiness"}, self.monitor.polls),
                ),
            ),
            _counter(
                "recheckbot_query_reloads_total",
                "Times the query repo was reloaded",
                self.watcher.reloads,
            ),
            Metric(
                "recheckbot_transport_connected",
                "1 when the chat transport is connected",
                "gauge",
                tuple(
                    ({"transport": name}, float(t.health().connected))
                    for name, t in self.transports.items()
                ),
            ),
            gauge(
                "recheckbot_quarantined_queries",
                "Queries left out because the search server refuses them",
                len(self.classifier.quarantined),
            ),
            gauge(
                "recheckbot_search_circuit_open",
                "1 while the search circuit breaker fails requests fast",
                float(self.search.breaker.state == "open"),
            ),
        ]


def _counter(name: str, help: str, value: float) -> Metric:
    return Metric(name, help, "counter", (({}, value),))


def refresh_status(runs: list[RunStatus]) -> RefreshStatus:
    """Several dashboard parts summed up as one refresh: ok only if every part was."""
    finished = [run.started for run in runs if run.started and run.ok is not None]
    errors = [f"{run.part}: {run.error}" for run in runs if run.ok is False]
    return RefreshStatus(
        finished=max(finished) if finished else None,
        ok=not errors and all(run.ok for run in runs),
        seconds=sum(run.duration for run in runs),
        error="; ".join(errors) or None,
    )


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None
