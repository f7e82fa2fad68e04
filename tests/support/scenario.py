"""A whole bot against real servers: the Gerrit SSH stand-in, osmem, ngIRCd and Synapse.

:class:`Scenario` builds failed buildsets with known log lines, indexes their logs, writes a
query repo, a channels.yaml and the settings, and runs :class:`bot.app.process.App` in-process until
the test stops it. Tests publish the Gerrit events and watch what second clients receive.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.app.process import App
from bot.config import Settings, load_settings
from bot.demo.data import DemoBuildset, DemoJob, failing_test, gerrit_event, job_documents
from bot.queries import load_queries
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.synth import matching_fields
from tests.support.gerrit import GerritStandIn
from tests.support.paths import ROOT
from tests.support.peers import MatrixPeer, irc_settings, matrix_bot, unique
from tests.support.servers import IrcServer, SynapseServer

#: A team-owned Jira bug that the example repo does not have: routed by owner, not project.
STORAGE_QUERY = """\
query: >-
  message:"iSCSI target vanished during attach" AND tags:"console"
title: iSCSI target vanishes under load
owner: storage
"""
STORAGE_BUG = "OSPRH-77"


def write_queries(directory: Path) -> Path:
    """The example repo plus the team-owned query."""
    shutil.copytree(ROOT / "queries", directory)
    (directory / f"{STORAGE_BUG}.yaml").write_text(STORAGE_QUERY)
    return directory


@dataclass
class Scenario:
    """Builds, logs, config; then the running app."""

    workdir: Path
    gerrit: GerritStandIn
    search_url: str
    channels: dict[str, Any] = field(default_factory=dict)
    irc: dict[str, Any] | None = None
    matrix: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    app: App | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.queries = write_queries(self.workdir / "queries")
        self.by_id = {q.id: q for q in load_queries(self.queries).queries}

    def buildset(
        self, project: str, job: str, bug: str | None, queue: str = "gate"
    ) -> DemoBuildset:
        """A failed buildset whose one failed job logs ``bug``'s line (or an unknown error)."""
        extra = (
            dict(matching_fields(self.by_id[bug].lucene))
            if bug
            else {"message": f"ERROR something nobody has seen before {uuid.uuid4().hex}"}
        )
        job_name = str(extra.pop("build_name", job))
        job_uuid = uuid.uuid4().hex
        # A bug naming tests (test_ids) failed one of them: the console says so.
        tests = failing_test(self.by_id[bug], job_uuid) if bug else ()
        failed = DemoJob(job_name, job_uuid, "FAILURE", bug=bug, extra=extra, failed_tests=tests)
        passed = DemoJob("openstack-tox-pep8", uuid.uuid4().hex, "SUCCESS")
        return DemoBuildset(
            project=str(extra.pop("project", project)),
            change=str(800000 + uuid.uuid4().int % 99999),
            patchset="1",
            queue=queue,
            started=datetime.now(UTC) - timedelta(minutes=5),
            jobs=(failed, passed),
        )

    async def index_logs(self, *buildsets: DemoBuildset) -> None:
        backend = OpenSearchBackend(Settings().search.model_copy(update={"url": self.search_url}))
        docs = [doc for b in buildsets for job in b.jobs for doc in job_documents(b, job)]
        await bulk_index(backend.client, docs)
        await backend.close()

    def settings(self) -> Settings:
        channels = self.workdir / "channels.yaml"
        channels.write_text(yaml.safe_dump({"channels": self.channels}))
        values: dict[str, Any] = {
            "search": {"url": self.search_url, "timeout": 30, "retries": 1},
            "queries": self.queries,
            "channels": channels,
            "state": self.workdir / "state.sqlite",
            "gerrit": [self.gerrit.settings("opendev", ci_usernames=["zuul"])],
            "dashboard": {"port": 0, "output": self.workdir / "web", "refresh_minutes": 60},
            "watch": {"wait": 60},
            "chat": {"admins": {"console": True}},
            "trackers": {"enabled": False},  # tests talk to loopback only
            **({"irc": self.irc} if self.irc else {}),
            **({"matrix": self.matrix} if self.matrix else {}),
            **self.extra,
        }
        return load_settings(None, **values)

    async def start(self) -> App:
        self.app = App(self.settings(), announce=lambda line: None)
        self._task = asyncio.create_task(self.app.run(self._stop), name="bot")
        async with asyncio.timeout(60):
            await self.app.ready.wait()
        await self.gerrit.wait_for_streams(1, seconds=20)
        return self.app

    async def publish(self, buildset: DemoBuildset) -> None:
        await self.gerrit.publish(gerrit_event(buildset))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 60)


@contextlib.asynccontextmanager
async def scenario(workdir: Path, search_url: str) -> AsyncIterator[Scenario]:
    async with GerritStandIn() as gerrit:
        run = Scenario(workdir, gerrit, search_url)
        try:
            yield run
        finally:
            await run.stop()


@dataclass(frozen=True)
class TwoNetworks:
    """Where a scenario on both networks announces: an IRC channel and a Matrix room."""

    channel: str
    room: str
    alice: MatrixPeer  # the Matrix user who made the room and invited the bot


async def on_irc_and_matrix(
    run: Scenario,
    irc_server: IrcServer,
    synapse_server: SynapseServer,
    events: tuple[str, ...] = ("positive",),
) -> TwoNetworks:
    """Set ``run`` up to announce nova's builds (``events``) in a fresh IRC channel and in a
    fresh Matrix room made by a second user."""
    channel = unique("#nova")
    matrix = matrix_bot(synapse_server)
    alice = await MatrixPeer(synapse_server).login()
    room = await alice.create_room(matrix["user_id"])
    run.irc = irc_settings(irc_server, nick=unique("rb")).model_dump()
    run.matrix = matrix
    nova = {"projects": ["nova"], "events": list(events)}
    run.channels = {channel: nova, "m": {"transport": "matrix", "room": room, **nova}}
    return TwoNetworks(channel, room, alice)
