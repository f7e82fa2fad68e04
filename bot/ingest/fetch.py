"""Reading log trees over HTTP: timeouts, size caps, gunzip, and where a job's logs are."""

from __future__ import annotations

import json
import logging
import zlib
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.config.ingest import MIB, IngestSettings
from bot.core.errors import ReadableError
from bot.events.model import Job
from bot.events.zuul_api import ZuulApiError, resolve_build_page
from bot.ingest.logs import MANIFEST, index_links, listing_dirs, manifest_files

log = logging.getLogger(__name__)


class IngestError(ReadableError):
    """A job's logs could not be ingested; ``str()`` is one line for the user."""


_CHUNK = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


class LogFetcher:
    """GETs files of log trees with a timeout, a size cap and gunzip; a missing file is ``None``."""

    def __init__(self, session: aiohttp.ClientSession, settings: IngestSettings) -> None:
        self._session = session
        self._settings = settings
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout)

    async def get(self, url: str, limit: int | None = None) -> bytes | None:
        limit = limit or self._settings.max_file_bytes
        try:
            async with self._session.get(
                url, timeout=self._timeout, ssl=self._settings.verify_tls
            ) as response:
                # Swift (OpenDev's log storage) answers 403, not 404, for a missing object.
                if response.status in (403, 404):
                    return None
                if response.status >= 400:
                    raise IngestError(f"{url}: HTTP {response.status}")
                return await _read_capped(response, limit, url)
        except TimeoutError:
            raise IngestError(f"{url}: no answer in {self._settings.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise IngestError(f"{url}: {exc or type(exc).__name__}") from None

    async def get_text(self, url: str, limit: int | None = None) -> str | None:
        data = await self.get(url, limit)
        return None if data is None else data.decode("utf-8", errors="replace")

    async def zuul_log_url(self, url: str) -> str | None:
        """The log URL of a Zuul build page, from Zuul's API; None when ``url`` is no such page."""
        try:
            build = await resolve_build_page(
                self._session, url, timeout=self._settings.timeout, ssl=self._settings.verify_tls
            )
        except ZuulApiError as exc:
            raise IngestError(str(exc)) from None
        return build.log_url if build else None


async def _read_capped(response: aiohttp.ClientResponse, limit: int, url: str) -> bytes:
    """The body, gunzipped when it is raw gzip (``x.txt.gz`` served as is; a body sent with
    ``Content-Encoding: gzip`` aiohttp has inflated already), cut at ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    inflate: Any = None
    async for chunk in response.content.iter_chunked(_CHUNK):
        if inflate is None:
            inflate = zlib.decompressobj(wbits=31) if chunk[:2] == _GZIP_MAGIC else False
        # max_length bounds what one chunk may inflate to: a gzip bomb costs no more than limit.
        data = inflate.decompress(chunk, limit - size + 1) if inflate else chunk
        parts.append(data)
        size += len(data)
        if size > limit:
            log.warning("%s: larger than %d bytes; the rest is not indexed", url, limit)
            return _cut(b"".join(parts)[:limit])
    return b"".join(parts)


def _cut(data: bytes) -> bytes:
    """Drop the partial last line of a truncated file."""
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else data


async def log_root_for(job: Job, fetcher: LogFetcher) -> str:
    """The URL of the job's log tree, ending in "/".

    A Zuul build page (``…/t/<tenant>/build/<uuid>``, what newer Zuul links in its comments) is
    resolved through Zuul's API, whose ``/api/tenant/<tenant>/build/<uuid>`` has ``log_url``.
    """
    url = job.url
    if not url or urlsplit(url).scheme not in ("http", "https"):
        raise IngestError(f"job {job.name} has no http(s) log URL")
    url = await fetcher.zuul_log_url(url) or url
    # A link to a file of the tree (…/job-output.txt) stands for the tree.
    if not url.endswith("/") and "." in url.rsplit("/", 1)[-1]:
        return url.rsplit("/", 1)[0] + "/"
    return url if url.endswith("/") else url + "/"


async def tree_files(root: str, fetcher: LogFetcher, patterns: tuple[str, ...]) -> list[str]:
    """What the tree holds: its ``zuul-manifest.json``, else the directory listings of the
    root and of the directories the patterns name. Empty when neither exists."""
    text = await fetcher.get_text(root + MANIFEST)
    if text is not None:
        try:
            return manifest_files(json.loads(text))
        except (ValueError, AttributeError):
            log.warning("%s%s is not a Zuul manifest; reading directory listings", root, MANIFEST)
    found: list[str] = []
    for directory in listing_dirs(("", *patterns)):
        url = root + (directory + "/" if directory else "")
        try:
            page = await fetcher.get_text(url, 4 * MIB)
        except IngestError as exc:  # a listing is a hint; the console is tried regardless
            log.warning("no listing: %s", exc)
            continue
        found += index_links(page, url, root) if page else []
    return found
