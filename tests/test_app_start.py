"""What the bot says and checks as it starts, before anything is announced."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import SearchSettings
from tests.support.polling import until
from tests.support.scenario import scenario


async def test_channels_no_transport_serves_are_named_once_at_start(
    tmp_path: Path, search_settings: SearchSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """An ER channels.yaml (channels default to IRC) on a bot without IRC would drop every
    announcement quietly into the journal; the bot says so when it starts."""
    async with scenario(tmp_path, search_settings.url) as run:
        run.channels = {
            "openstack-nova": {"projects": ["nova"], "events": ["positive"]},
            "openstack-qa": {"projects": ["all"], "events": ["negative"]},
        }
        with caplog.at_level("WARNING", logger="bot.app.parts"):
            await run.start()
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.app.parts"]
    assert len(warnings) == 1
    assert "openstack-nova, openstack-qa route to irc" in warnings[0]
    assert "will hear nothing" in warnings[0]


async def test_a_query_the_search_server_refuses_shows_in_health_and_metrics(
    tmp_path: Path, search_settings: SearchSettings
) -> None:
    """A query the loader let through but the server refuses is left out; the operator sees it
    in ``/healthz`` and ``/metrics`` (``!status`` shows it too: tests/test_commands.py)."""
    async with scenario(tmp_path, search_settings.url) as run:
        run.channels = {"openstack-nova": {"projects": ["nova"], "events": ["positive"]}}
        app = await run.start()
        assert app.parts is not None
        assert app.vitals is not None
        store = app.parts.clients.store
        # Put in past the loader, which refuses it (osmem refuses it as OpenSearch does).
        refused = replace(store.queries[0], id="1999999", lucene='message:"mirror unreachable"^')
        store.replace([*store.queries, refused])
        buildset = run.buildset("openstack/nova", "tempest-full-py3", "1541364")
        await run.index_logs(buildset)
        await run.publish(buildset)
        vitals = app.vitals
        await until(lambda: vitals.pipeline.processed >= 1, "the build judged", 60)
        health = vitals.health()
        assert list(health["quarantined_queries"]) == ["1999999"]
        assert "recheckbot_quarantined_queries 1" in vitals.metrics()
