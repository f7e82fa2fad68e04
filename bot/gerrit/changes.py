"""``GET /changes/``: a query of changes, every page of it, decoded.

A cut-off result marks its *last* change with ``_more_changes: true``; the next page is asked
with ``S=<changes so far>``. Gerrit caps a query at the user's ``queryLimit`` (500 by default),
so pages are :data:`PAGE_SIZE` changes, at most :data:`MAX_PAGES` of them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.config import GerritServer
from bot.gerrit.rest import SNIPPET, GerritError, decode_json, request, rest_url

log = logging.getLogger(__name__)

CHANGES_PATH = "changes/"
#: MESSAGES: the CI reports; DETAILED_ACCOUNTS: usernames; CURRENT_REVISION: the current sha.
OPTIONS = ("MESSAGES", "DETAILED_ACCOUNTS", "CURRENT_REVISION")
PAGE_SIZE = 100
MAX_PAGES = 20
# Query values other than these characters must be quoted for Gerrit's query parser.
_PLAIN_TERM = re.compile(r"[A-Za-z0-9_.@+-]+")


@dataclass(frozen=True)
class ChangesPage:
    """One ``/changes/`` response: its changes, and whether Gerrit cut the result short."""

    changes: tuple[Mapping[str, Any], ...]
    more: bool
    count: int  # entries in the response, for the next page's ``S=``


def default_query(ci_usernames: Sequence[str]) -> str:
    """``commentby:zuul OR commentby:jenkins``: changes with a message by a CI account."""
    return " OR ".join(f"commentby:{_term(name)}" for name in ci_usernames)


def _term(value: str) -> str:
    if _PLAIN_TERM.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def changes_url(settings: GerritServer) -> str:
    return rest_url(settings, CHANGES_PATH)


def changes_params(
    settings: GerritServer, *, age: int, start: int = 0, page_size: int = PAGE_SIZE
) -> list[tuple[str, str]]:
    """Query parameters of one page of the changes updated in the last ``age`` seconds that
    ``poll_query`` (default: a comment by a CI account) selects; a list because ``o`` repeats."""
    query = settings.poll_query or default_query(settings.ci_usernames)
    params = [("q", f"-age:{age}s ({query})")]
    params += [("o", option) for option in OPTIONS]
    params.append(("n", str(page_size)))
    if start:
        params.append(("S", str(start)))
    return params


def decode_changes(body: str) -> ChangesPage:
    """A ``/changes/`` response body → :class:`ChangesPage`; ValueError when it is not one."""
    data = decode_json(body)
    if not isinstance(data, list):
        raise ValueError(f"not a JSON list but {type(data).__name__}")
    changes = tuple(change for change in data if isinstance(change, Mapping))
    more = bool(changes) and changes[-1].get("_more_changes") is True
    return ChangesPage(changes, more, len(data))


async def fetch_changes(
    http: aiohttp.ClientSession, settings: GerritServer, *, age: int, page_size: int = PAGE_SIZE
) -> list[Mapping[str, Any]]:
    """Every page of the changes :func:`changes_params` selects; :class:`GerritError` (or an
    aiohttp error) when a page cannot be had."""
    url, start = changes_url(settings), 0
    changes: list[Mapping[str, Any]] = []
    for _ in range(MAX_PAGES):
        params = changes_params(settings, age=age, start=start, page_size=page_size)
        body = await request(http, "GET", url, params=params)
        try:
            page = decode_changes(body)
        except ValueError as exc:  # e.g. an SSO login page answered with 200
            raise GerritError(f"bad response: {exc}: {body[:SNIPPET]!r}") from None
        changes.extend(page.changes)
        start += page.count
        if not page.more or not page.count:
            return changes
    log.warning(
        "gerrit %s: poll stopped after %d pages of %d changes; narrow poll_query",
        *(settings.name, MAX_PAGES, page_size),
    )
    return changes
