"""The three search backends against a real search server (osmem), with the same assertions.

- opensearch: straight to osmem.
- elasticsearch: through :class:`ForwardingProxy`, which rewrites the client's compatibility
  mimetypes (``application/vnd.elasticsearch+json; compatible-with=9``) to plain
  ``application/json``: osmem answers them with 406, real Elasticsearch accepts both. The product
  code stays untouched; only the wire is adapted, as a test concern.
- kibana: through :class:`KibanaStandIn`, a small stand-in for Kibana's console proxy API in
  front of osmem, because Kibana itself cannot run here.

Failure modes (refused credentials, unavailable server, login pages) use scripted stub servers.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import opensearchpy
import pytest

from bot.config import SearchSettings
from bot.search import SearchBackend, open_backend
from bot.search.base import SearchAuthError, SearchQueryError, SearchUnavailable
from bot.search.schema import index_mapping
from tests.support.http import (
    ForwardingProxy,
    KibanaStandIn,
    Reply,
    StubServer,
    strip_compat_mimetypes,
)

BACKENDS = ["opensearch", "elasticsearch", "kibana"]
INDEX = "logstash-2026.11.26"
BAD_QUERY = {"query": {"query_string": {"query": 'message:"unclosed'}}}
ES_PRODUCT = {"X-Elastic-Product": "Elasticsearch"}  # elasticsearch-py insists on it for 2xx
LOGIN_PAGE = "<!DOCTYPE html><html><head><title>Log in</title></head><body>SSO</body></html>"
EMPTY_SEARCH = {"took": 1, "timed_out": False, "hits": {"total": {"value": 0}, "hits": []}}


def _doc(uuid: str, name: str, status: str, message: str, minute: int) -> dict[str, Any]:
    return {
        "@timestamp": f"2026-11-26T10:{minute:02d}:00Z",
        "message": message,
        "filename": "job-output.txt",
        "build_uuid": uuid,
        "build_short_uuid": uuid[:7],
        "build_name": name,
        "build_status": status,
        "build_queue": "gate",
        "build_change": "123456",
        "build_patchset": "2",
        "project": "openstack/nova",
        "voting": "1",
    }


DOCS = [
    _doc("aaaaaaa1", "tempest-full", "FAILURE", "Traceback (most recent call last):", 1),
    _doc("aaaaaaa1", "tempest-full", "FAILURE", "Instance failed to spawn", 2),
    _doc("bbbbbbb2", "grenade", "FAILURE", "Timed out waiting for a reply to message ID", 3),
    _doc("bbbbbbb2", "grenade", "FAILURE", "Traceback (most recent call last):", 4),
    _doc("ccccccc3", "nova-next", "SUCCESS", "No valid host was found", 5),
    _doc("ccccccc3", "nova-next", "SUCCESS", "Ran 1000 tests", 6),
]


def query(lucene: str, **extra: Any) -> dict[str, Any]:
    return {"query": {"query_string": {"query": lucene, "default_operator": "AND"}}, **extra}


@pytest.fixture
def seeded_url(osmem_url: str) -> str:
    """This test's osmem clone with one daily index of :data:`DOCS`."""
    client = opensearchpy.OpenSearch(hosts=[osmem_url])
    try:
        client.indices.create(index=INDEX, body={"mappings": index_mapping()})
        for doc in DOCS:
            client.index(index=INDEX, body=doc)
        client.indices.refresh(index=INDEX)
    finally:
        client.close()
    return osmem_url


def settings_for(name: str, url: str, **extra: Any) -> SearchSettings:
    return SearchSettings.model_validate(
        {"backend": name, "url": url, "timeout": 30, "retries": 0, **extra}
    )


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, seeded_url: str) -> AsyncIterator[SearchBackend]:
    """Each backend in front of the same seeded server."""
    name: str = request.param
    async with contextlib.AsyncExitStack() as stack:
        url = seeded_url
        if name == "elasticsearch":
            proxy = ForwardingProxy(seeded_url, rewrite_request_headers=strip_compat_mimetypes)
            url = (await stack.enter_async_context(proxy)).url
        elif name == "kibana":
            url = (await stack.enter_async_context(KibanaStandIn(seeded_url))).url
        searcher = open_backend(settings_for(name, url))
        stack.push_async_callback(searcher.close)
        assert searcher.name == name
        yield searcher


# --- the same assertions for every backend, against the real server -----------------------


async def test_query_string_search_returns_expected_hits(backend: SearchBackend) -> None:
    result = await backend.search(query('message:"Traceback" AND build_status:FAILURE', size=10))
    uuids = sorted(hit["_source"]["build_uuid"] for hit in result["hits"]["hits"])
    assert uuids == ["aaaaaaa1", "bbbbbbb2"]


async def test_filters_aggregation_counts_per_filter(backend: SearchBackend) -> None:
    filters = {
        "traceback": {"query_string": {"query": 'message:"Traceback"'}},
        "rpc_timeout": {"query_string": {"query": 'message:"Timed out waiting for a reply"'}},
        "no_host": {"query_string": {"query": 'message:"No valid host"'}},
        "nothing": {"query_string": {"query": 'message:"kernel panic"'}},
    }
    body = {"size": 0, "aggs": {"bugs": {"filters": {"filters": filters}}}}
    buckets = (await backend.search(body))["aggregations"]["bugs"]["buckets"]
    counts = {name: bucket["doc_count"] for name, bucket in buckets.items()}
    assert counts == {"traceback": 2, "rpc_timeout": 1, "no_host": 1, "nothing": 0}


async def test_msearch_returns_one_response_per_body(backend: SearchBackend) -> None:
    bodies = [
        query("message:Traceback", size=0),
        query("build_status:SUCCESS", size=0),
        query("build_name:grenade", size=0),
    ]
    responses = await backend.msearch(bodies, index="logstash-*")
    assert [r["hits"]["total"]["value"] for r in responses] == [2, 2, 2]


async def test_health_reports_a_status(backend: SearchBackend) -> None:
    health = await backend.health()
    assert health["status"] in {"green", "yellow", "red"}


async def test_malformed_lucene_raises_query_error_with_server_reason(
    backend: SearchBackend, seeded_url: str
) -> None:
    reason = _direct_error_reason(seeded_url, BAD_QUERY)
    with pytest.raises(SearchQueryError, match="400") as caught:
        await backend.search(BAD_QUERY)
    assert reason in str(caught.value)


def _direct_error_reason(url: str, body: dict[str, Any]) -> str:
    """What the server itself says about ``body`` (its first root cause)."""
    client = opensearchpy.OpenSearch(hosts=[url])
    try:
        client.search(index="logstash-*", body=body)
    except opensearchpy.RequestError as exc:
        info: dict[str, Any] = exc.info  # type: ignore[assignment]
        return str(info["error"]["root_cause"][0]["reason"])
    finally:
        client.close()
    raise AssertionError("the server accepted a malformed query")


@pytest.mark.parametrize("name", BACKENDS)
async def test_unreachable_server_is_unavailable_quickly(name: str) -> None:
    searcher = open_backend(settings_for(name, "http://127.0.0.1:1", retries=1, timeout=5))
    started = time.monotonic()
    with pytest.raises(SearchUnavailable, match=r"127\.0\.0\.1:1 unreachable"):
        await searcher.search(query("message:x"))
    await searcher.close()
    assert time.monotonic() - started < 3


TIMED_OUT = {
    "opensearch": "did not answer in time",
    "elasticsearch": "did not answer in time",
    "kibana": r"did not answer within 0\.2 s",
}


@pytest.mark.parametrize("name", BACKENDS)
async def test_slow_server_times_out_as_unavailable(name: str) -> None:
    async with StubServer(Reply(200, EMPTY_SEARCH, headers=ES_PRODUCT, delay=5)) as stub:
        searcher = open_backend(settings_for(name, stub.url, timeout=0.2, retries=1))
        started = time.monotonic()
        with pytest.raises(SearchUnavailable, match=TIMED_OUT[name]):
            await searcher.search(query("message:x"))
        await searcher.close()
    assert time.monotonic() - started < 2
    assert stub.requests == 2


# --- failures scripted by stub servers ---------------------------------------------------------

SECURITY_401 = {
    "error": {
        "root_cause": [{"type": "security_exception", "reason": "unable to authenticate user"}],
        "type": "security_exception",
        "reason": "unable to authenticate user",
    },
    "status": 401,
}


@pytest.mark.parametrize("name", BACKENDS)
async def test_refused_credentials_raise_auth_error_without_retry(name: str) -> None:
    async with StubServer(Reply(401, SECURITY_401)) as stub:
        searcher = open_backend(
            settings_for(name, stub.url, username="u", password="bad", retries=2)
        )
        with pytest.raises(SearchAuthError, match="unable to authenticate user"):
            await searcher.search(query("message:x"))
        await searcher.close()
    assert stub.requests == 1  # bad credentials will not get better


@pytest.mark.parametrize("name", BACKENDS)
async def test_server_errors_are_retried_then_unavailable(name: str) -> None:
    down = {"error": {"type": "unavailable", "reason": "cluster is busy"}, "status": 503}
    async with StubServer(Reply(503, down)) as stub:
        searcher = open_backend(settings_for(name, stub.url, retries=2))
        with pytest.raises(SearchUnavailable, match=r"503.*cluster is busy"):
            await searcher.health()
        await searcher.close()
    assert stub.requests == 3  # retries + 1


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        (
            {"username": "reader", "password": "s3cret"},
            "Basic " + base64.b64encode(b"reader:s3cret").decode(),
        ),
        ({"api_key": "a2V5aWQ6a2V5"}, "ApiKey a2V5aWQ6a2V5"),
    ],
)
async def test_credentials_are_sent(name: str, credentials: dict[str, str], expected: str) -> None:
    async with StubServer(Reply(200, EMPTY_SEARCH, headers=ES_PRODUCT)) as stub:
        searcher = open_backend(settings_for(name, stub.url, **credentials))
        await searcher.search(query("message:x"))
        await searcher.close()
    assert stub.seen[0].headers["authorization"] == expected


@pytest.mark.parametrize("name", ["elasticsearch", "kibana"])
async def test_api_key_wins_over_basic_auth(name: str) -> None:
    both = {"username": "reader", "password": "s3cret", "api_key": "a2V5"}
    async with StubServer(Reply(200, EMPTY_SEARCH, headers=ES_PRODUCT)) as stub:
        searcher = open_backend(settings_for(name, stub.url, **both))
        await searcher.search(query("message:x"))
        await searcher.close()
    assert stub.seen[0].headers["authorization"] == "ApiKey a2V5"


@pytest.mark.parametrize("name", ["opensearch", "elasticsearch"])
@pytest.mark.parametrize("content_type", ["text/html", "application/octet-stream"])
async def test_a_reply_that_is_not_json_is_a_clear_error(name: str, content_type: str) -> None:
    page = Reply(200, LOGIN_PAGE, content_type, headers=ES_PRODUCT)
    async with StubServer(page) as stub:
        searcher = open_backend(settings_for(name, stub.url))
        with pytest.raises(SearchQueryError, match="not JSON"):
            await searcher.search(query("message:x"))
        await searcher.close()


async def test_elasticsearch_backend_names_a_non_elasticsearch_server() -> None:
    async with StubServer(Reply(200, EMPTY_SEARCH)) as stub:  # no X-Elastic-Product header
        searcher = open_backend(settings_for("elasticsearch", stub.url))
        with pytest.raises(SearchQueryError, match="not an Elasticsearch server"):
            await searcher.search(query("message:x"))
        await searcher.close()


async def test_elasticsearch_backend_straight_to_opensearch_says_what_to_do(
    seeded_url: str,
) -> None:
    searcher = open_backend(settings_for("elasticsearch", seeded_url))
    with pytest.raises(SearchQueryError, match=r"406.*compatible-with.*use backend: opensearch"):
        await searcher.search(query("message:x"))
    await searcher.close()


async def test_kibana_requests_follow_the_console_proxy_api(seeded_url: str) -> None:
    async with KibanaStandIn(seeded_url, xsrf_header="osd-xsrf") as kibana:
        searcher = open_backend(
            settings_for("kibana", kibana.url, kibana_flavor="opensearch-dashboards")
        )
        await searcher.search(query("message:x"))
        await searcher.msearch([query("message:x"), query("message:y")])
        await searcher.close()
    search, msearch = kibana.seen
    assert search.path_qs.startswith("/api/console/proxy?")
    assert "path=logstash-*/_search" in search.path_qs
    assert "method=POST" in search.path_qs
    assert search.headers["osd-xsrf"] == "true"
    assert search.headers["content-type"] == "application/json"
    assert msearch.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(line) for line in msearch.body.splitlines()][::2] == [
        {"index": "logstash-*"}
    ] * 2


async def test_kibana_own_errors_carry_its_message(seeded_url: str) -> None:
    async with KibanaStandIn(seeded_url, xsrf_header="osd-xsrf") as dashboards:
        searcher = open_backend(settings_for("kibana", dashboards.url, kibana_flavor="kibana"))
        with pytest.raises(SearchQueryError, match="must contain a osd-xsrf header"):
            await searcher.search(query("message:x"))
        await searcher.close()


@pytest.mark.parametrize(
    ("reply", "error", "match"),
    [
        (Reply(200, LOGIN_PAGE, "text/html"), SearchAuthError, "HTML page.*login page"),
        (Reply(302, headers={"Location": "/login?next=%2Fapp"}), SearchAuthError, "login page"),
        (Reply(301, headers={"Location": "https://other/"}), SearchQueryError, "redirected"),
        (Reply(502, "<html>502 Bad Gateway</html>", "text/html"), SearchUnavailable, "502"),
        (Reply(200, "x" * 500), SearchQueryError, "not JSON .200.: 'x{100}'$"),
        (Reply(200, [1, 2]), SearchQueryError, "not an object"),
    ],
)
async def test_kibana_replies_that_are_not_search_results(
    reply: Reply, error: type[Exception], match: str
) -> None:
    async with StubServer(reply) as stub:
        searcher = open_backend(settings_for("kibana", stub.url))
        with pytest.raises(error, match=match):
            await searcher.search(query("message:x"))
        await searcher.close()


@pytest.mark.parametrize("name", BACKENDS)
async def test_constructing_a_backend_does_no_io(name: str) -> None:
    searcher = open_backend(settings_for(name, "http://127.0.0.1:1"))
    await searcher.close()  # closing an unused backend is fine too


# --- the proxy itself (the benchmarks rely on its counters) ------------------------------------


async def test_forwarding_proxy_counts_round_trips_bytes_and_delays(seeded_url: str) -> None:
    async with ForwardingProxy(seeded_url, delay=0.05) as proxy:
        searcher = open_backend(settings_for("opensearch", proxy.url))
        body = query("message:Traceback")
        started = time.monotonic()
        result = await searcher.search(body)
        assert time.monotonic() - started >= 0.05
        assert result["hits"]["total"]["value"] == 2
        assert proxy.requests == 1
        assert proxy.bytes_sent == len(json.dumps(body, separators=(",", ":")))
        assert proxy.bytes_received > 200
        proxy.reset()
        assert (proxy.requests, proxy.bytes_sent, proxy.bytes_received) == (0, 0, 0)
        await searcher.close()


async def test_forwarding_proxy_passes_compressed_bodies_unchanged(seeded_url: str) -> None:
    """Bytes are counted as on the wire: gzip stays gzip both ways."""
    body = query(" OR ".join(f'message:"phrase number {n}"' for n in range(200)), size=0)
    async with ForwardingProxy(seeded_url) as proxy:
        client = opensearchpy.AsyncOpenSearch(hosts=[proxy.url], http_compress=True)
        try:
            result = await client.search(index="logstash-*", body=body)
        finally:
            await client.close()
    assert result["hits"]["total"]["value"] == 0
    assert 0 < proxy.bytes_sent < len(json.dumps(body)) / 4


def test_strip_compat_mimetypes() -> None:
    headers = {
        "Accept": "application/vnd.elasticsearch+json; compatible-with=9",
        "Content-Type": "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
        "X-Other": "kept",
    }
    assert strip_compat_mimetypes(headers) == {
        "Accept": "application/json",
        "Content-Type": "application/x-ndjson",
        "X-Other": "kept",
    }
