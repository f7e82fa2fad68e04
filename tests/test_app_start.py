"""What the bot says and checks as it starts, before anything is announced."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import SearchSettings
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
