"""Zuul's REST API: the one client the bot has for it.

Newer Zuul links each job in its report to the build's page, ``…/t/<tenant>/build/<uuid>``: a
page of Zuul's web app, not the logs. :func:`resolve_build_page` asks Zuul's API,
``/api/tenant/<tenant>/build/<uuid>``, for the build and returns its uuid and log URL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from bot.core.errors import ReadableError, describe

#: Longest API answer read (a build is a few KiB).
MAX_ANSWER = 1024 * 1024
_BUILD_PAGE = re.compile(
    r"^(?P<root>https?://.+?)/t/(?P<tenant>[^/]+)/build/(?P<uuid>[0-9a-f-]{32,36})/?$", re.I
)
_CHUNK = 64 * 1024


class ZuulApiError(ReadableError):
    """Zuul's API did not say what was asked; the message names the URL and why."""


@dataclass(frozen=True)
class ZuulBuild:
    """A build as Zuul's API describes it, as far as the bot needs it."""

    uuid: str
    log_url: str


def build_api_url(page_url: str) -> str | None:
    """The API URL of a build page (``…/t/<tenant>/build/<uuid>``); None for any other URL."""
    page = _BUILD_PAGE.match(page_url)
    if page is None:
        return None
    return f"{page['root']}/api/tenant/{page['tenant']}/build/{page['uuid']}"


async def resolve_build_page(
    session: aiohttp.ClientSession,
    page_url: str,
    *,
    timeout: float,  # noqa: ASYNC109 - per-request aiohttp timeout, part of the contract
    ssl: bool = True,
) -> ZuulBuild | None:
    """The build a build page shows, from Zuul's API; None when ``page_url`` is no build page.

    Raises :class:`ZuulApiError` when Zuul does not answer in ``timeout`` seconds, answers an
    HTTP error, or has no http(s) log URL for the build (yet: a running build has none).
    """
    api = build_api_url(page_url)
    if api is None:
        return None
    uuid = api.rsplit("/", 1)[-1].lower()
    body = await _get(session, api, timeout, ssl)
    if body is None:
        raise ZuulApiError(f"{api}: no log_url for build {uuid}: Zuul does not know it (HTTP 404)")
    try:
        data: object = json.loads(body)
    except (ValueError, RecursionError):  # ValueError: not JSON, or not UTF-8
        data = None
    log_url = data.get("log_url") if isinstance(data, dict) else None
    if not isinstance(log_url, str) or urlsplit(log_url).scheme not in ("http", "https"):
        raise ZuulApiError(f"{api}: no log_url for build {uuid}")
    found = data.get("uuid") if isinstance(data, dict) else None
    return ZuulBuild(found.lower() if isinstance(found, str) and found else uuid, log_url)


async def _get(
    session: aiohttp.ClientSession,
    url: str,
    timeout: float,  # noqa: ASYNC109 - per-request aiohttp timeout
    ssl: bool,
) -> bytes | None:
    """The body of the answer, None for a 404; ZuulApiError for any other failure."""
    limit = aiohttp.ClientTimeout(total=timeout)
    try:
        async with session.get(url, timeout=limit, ssl=ssl) as response:
            if response.status == 404:
                return None
            if response.status >= 400:
                raise ZuulApiError(f"{url}: HTTP {response.status}")
            body = b""
            async for chunk in response.content.iter_chunked(_CHUNK):
                body += chunk
                if len(body) > MAX_ANSWER:
                    raise ZuulApiError(f"{url}: answer larger than {MAX_ANSWER} bytes")
            return body
    except TimeoutError:
        raise ZuulApiError(f"{url}: no answer in {timeout:g} s") from None
    except aiohttp.ClientError as exc:
        raise ZuulApiError(f"{url}: {describe(exc)}") from None
