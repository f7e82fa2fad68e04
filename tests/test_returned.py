"""Returned bugs: a closed bug whose query still hits is announced once a day where it routes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.bugs import Bug, launchpad
from bot.config import SearchSettings
from bot.demo.data import DemoBuildset, DemoJob, job_documents
from bot.queries import Query, load_queries
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.state import StateStore
from bot.transports.base import Room
from bot.watch.delivery import RoomQueues
from bot.watch.messages import format_returned
from bot.watch.returned import announce_returned
from bot.watch.routing import parse_channels
from tests.support.outlet import FakeOutlet

QUERIES = {
    # closed, and its line is in today's failures: returned
    "1000001.yaml": (
        'query: message:"rabbit went away"\ntitle: rabbit goes away\nowner: messaging\n'
    ),
    # closed, never seen: fine
    "1000002.yaml": 'query: message:"a line nobody logs"\nowner: messaging\n',
    # open and hitting: a known bug doing its thing
    "1000003.yaml": 'query: message:"disk quota exceeded"\nowner: messaging\n',
}
CLOSED = {"1000001", "1000002"}
ROUTING = parse_channels(
    {
        "messaging": {"projects": ["none"], "teams": ["messaging"], "events": ["positive"]},
        "nova": {"projects": ["nova"], "events": ["positive"]},
    }
)


def failing(message: str) -> list[dict[str, object]]:
    job = DemoJob("tempest-full", uuid.uuid4().hex, "FAILURE", extra={"message": message})
    buildset = DemoBuildset(
        "openstack/nova", "912345", "1", "gate", datetime.now(UTC) - timedelta(hours=2), (job,)
    )
    return list(job_documents(buildset, job))


async def test_returned_bug_is_announced_once_a_day(
    search_settings: SearchSettings, tmp_path: Path
) -> None:
    repo = tmp_path / "queries"
    repo.mkdir()
    for name, text in QUERIES.items():
        (repo / name).write_text(text)
    queries = load_queries(repo).queries
    backend = OpenSearchBackend(search_settings)
    docs = failing("ERROR rabbit went away") + failing("ERROR rabbit went away")
    await bulk_index(backend.client, docs + failing("disk quota exceeded on node"))
    state = await StateStore.open(tmp_path / "state.sqlite")
    outlet = FakeOutlet()
    said = outlet.sent
    rooms = RoomQueues(state, outlet)

    def closed(query: Query) -> bool:
        return query.id in CLOSED

    args = (backend, queries, closed, ROUTING, rooms.deliver)
    assert await announce_returned(*args, today="2026-11-26") == 1
    ((room, text),) = said
    assert room == Room("irc", "#messaging")
    assert text == (
        'Closed bug 1000001 "rabbit goes away" is back: its query hit 2 failed builds in the '
        "last day — https://bugs.launchpad.net/bugs/1000001"
    )
    assert await announce_returned(*args, today="2026-11-26") == 0  # once a day
    assert await announce_returned(*args, today="2026-11-27") == 1
    assert len(said) == 2
    await rooms.close()
    await state.close()
    await backend.close()


def test_format_returned_singular() -> None:
    query = load_queries(Path(__file__).parent.parent / "queries").queries[0]
    text = format_returned(query.bug, 1)
    assert "hit 1 failed build in the last day" in text.plain
    assert text.html is not None
    assert f'<a href="{query.bug.url}">{query.bug.id}</a>' in text.html


def test_format_returned_links_only_http_and_escapes_titles() -> None:
    bug = launchpad("1").described(title='<img src=x onerror="alert(1)">\u202e\r\nspoof')
    hostile = Bug("github", "o/r#1", "javascript:alert(1)", title=bug.title)
    for shown in (bug, hostile):
        text = format_returned(shown, 3)
        assert "\n" not in text.plain
        assert "\u202e" not in text.plain
        assert text.html is not None
        assert "<img" not in text.html
        assert "javascript:" not in text.html
    assert 'href="https://bugs.launchpad.net/bugs/1"' in (format_returned(bug, 3).html or "")
