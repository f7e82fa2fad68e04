"""Secrets stay secret: masked in every log record (at DEBUG too), in chat replies, in reprs;
TLS and SSH host keys verified by default; the web server binds loopback and serves nothing but
the dashboard.

The end-to-end test runs the bot as a real process with ``--debug`` against real servers, every
secret configured (IRC server and services passwords, Matrix password, search password, Gerrit
HTTP password and SSH key), makes it use them all, and greps everything it logged.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.chat.dispatcher import masked
from bot.config import (
    ConfigError,
    DashboardSettings,
    IrcSettings,
    MatrixSettings,
    SearchSettings,
    Settings,
    load_settings,
)
from bot.core.http import basic_token
from bot.core.logs import (
    MASK,
    RepeatFilter,
    SecretMask,
    install_secret_masking,
    mask,
)
from bot.dashboard.server import DashboardServer
from bot.search import SearchUnavailable
from bot.search.opensearch import OpenSearchBackend
from bot.transports.base import Incoming, Room, Text
from tests.support.botproc import BotProcess, IrcWatcher, secret_file, until, write_config
from tests.support.gerrit import GerritStandIn
from tests.support.peers import MatrixPeer, unique
from tests.support.scenario import Scenario
from tests.support.servers import IrcServer, SynapseServer, make_certificate

KEY = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDx0m9wN5Jp3wJ1d2xO6C0yJ2b3M9kZ1XhQmZ6cE4mN5gAAAJgAAAAAAAAA
-----END OPENSSH PRIVATE KEY-----"""


# --- masking, unit by unit ----------------------------------------------------------------------


def test_every_form_of_a_secret_is_masked() -> None:
    secrets = SecretMask(["s3cr3t pass/word", KEY, basic_token("bot", "hunter22")])
    assert secrets("login with s3cr3t pass/word ok") == f"login with {MASK} ok"
    assert secrets('{"password": "s3cr3t pass/word"}') == f'{{"password": "{MASK}"}}'
    assert secrets("?password=s3cr3t%20pass%2Fword") == f"?password={MASK}"
    assert "QyNTUxOQAAACDx0m9" not in secrets(repr(KEY))  # repr escapes the newlines
    line = KEY.splitlines()[2]
    assert secrets(f"bad key line {line!r}") == f"bad key line '{MASK}'"
    assert secrets("Authorization: Basic Ym90Omh1bnRlcjIy") == f"Authorization: Basic {MASK}"
    assert secrets("-----BEGIN OPENSSH PRIVATE KEY-----") == "-----BEGIN OPENSSH PRIVATE KEY-----"


def test_the_settings_give_every_secret_and_basic_auth_tokens() -> None:
    settings = Settings(
        search=SearchSettings(username="es", password="es-pass"),  # type: ignore[arg-type]
        irc=IrcSettings(server="irc.example.org", password="irc-pass"),  # type: ignore[arg-type]
    )
    found = settings.masked_values()
    assert {"es-pass", "irc-pass", basic_token("es", "es-pass")} <= set(found)
    assert "es-pass" not in repr(settings)


def test_masking_covers_every_record_message_args_and_exceptions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    undo = install_secret_masking(["pw-123456"])
    try:
        logger = logging.getLogger("some.library")
        with caplog.at_level(logging.DEBUG):
            logger.debug("POST /login %s", {"password": "pw-123456"})
            try:
                raise ConnectionError("refused for user:pw-123456@host")
            except ConnectionError:
                logger.exception("request failed")
            logger.warning("stack", stack_info=True, extra={"x": 1})
        assert "pw-123456" not in caplog.text
        assert caplog.text.count(MASK) >= 3  # the argument, the message, the traceback's line
        assert mask("reply: pw-123456") == f"reply: {MASK}"
    finally:
        undo()
    assert mask("pw-123456") == "pw-123456"  # the app's masking is undone when it ends


async def test_chat_replies_are_masked() -> None:
    said: list[Text] = []

    async def send(room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        said.append(text)

    undo = install_secret_masking(["tok-98765"])
    try:
        send = masked(send)
        await send(Room("irc", "#qa"), Text("error: http://u:tok-98765@es", "x tok-98765", None))
    finally:
        undo()
    assert said == [Text(f"error: http://{MASK}@es", f"x {MASK}", None)]


# --- credentials in URLs ----------------------------------------------------------------------


def test_credentials_in_the_search_url_become_a_secret() -> None:
    settings = load_settings(search={"url": "http://reader:PA%2FSS@search.example.org:9200"})
    search = settings.search
    assert search.url == "http://search.example.org:9200"  # what /healthz and !status show
    assert search.username == "reader"
    assert search.password is not None
    assert search.password.get_secret_value() == "PA/SS"
    assert {"PA/SS", basic_token("reader", "PA/SS")} <= set(settings.masked_values())
    assert "PA/SS" not in repr(settings)


def test_credentials_in_the_url_and_the_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RECHECKBOT_SEARCH__URL", "https://reader:hunter22@search.example.org")
    with pytest.raises(ConfigError) as caught:
        load_settings(search={"username": "other"})
    assert "url: holds credentials, and username is set too: give them once" in str(caught.value)
    assert "hunter22" not in str(caught.value)


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"search": {"kibana_url": "https://u:hunter22@kibana"}}, "search.kibana_url"),
        (
            {
                "gerrit": [
                    {"name": "g", "host": "h", "user": "u", "http_url": "https://u:hunter22@r"}
                ]
            },
            "gerrit.0.http_url",
        ),
        (
            {"matrix": {"homeserver": "https://u:hunter22@m", "user_id": "@b:m", "password": "x"}},
            "matrix.homeserver",
        ),
        ({"trackers": {"jira": {"url": "https://u:hunter22@jira"}}}, "trackers.jira.url"),
        ({"trackers": {"github": {"api_url": "https://hunter22@api"}}}, "trackers.github.api_url"),
        ({"dashboard": {"url": "https://u:hunter22@dash"}}, "dashboard.url"),
        ({"watch": {"uncategorized_url": "http://u:hunter22@x"}}, "watch.uncategorized_url"),
    ],
)
def test_other_urls_refuse_credentials_without_showing_them(
    settings: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**settings)
    message = str(caught.value)
    assert f"{key}: " in message
    assert "holds credentials; give them in the password settings" in message
    assert "hunter22" not in message


def test_credentials_of_any_url_are_masked_in_every_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    undo = install_secret_masking([])  # none configured: a URL from an event, a library...
    try:
        logger = logging.getLogger("some.library")
        with caplog.at_level(logging.DEBUG):
            logger.warning("GET %s failed", "https://bot:hunter22@gerrit.example.org/a/changes/")
            try:
                raise OSError("cannot reach ftp://anon:hunter33@mirror.example.org/x")
            except OSError:
                logger.exception("fetch failed")
        assert "hunter22" not in caplog.text
        assert "hunter33" not in caplog.text
        assert f"https://{MASK}@gerrit.example.org/a/changes/" in caplog.text
        assert mask("see http://u:p@h/x?q=a@b") == f"see http://{MASK}@h/x?q=a@b"
    finally:
        undo()


def test_a_repeated_warning_is_logged_once_per_window() -> None:
    clock = [0.0]
    repeat = RepeatFilter(window=60, clock=lambda: clock[0])

    def record(delay: float) -> logging.LogRecord:
        return logging.LogRecord(
            "bot.transports.irc", logging.WARNING, "", 0, "down; retry in %.1f s", (delay,), None
        )

    assert repeat.filter(record(1.0))
    assert not repeat.filter(record(2.0))  # the same warning, another delay
    assert not repeat.filter(record(4.0))
    clock[0] = 61
    again = record(8.0)
    assert repeat.filter(again)
    assert again.getMessage() == "down; retry in 8.0 s (and 2 more like it)"
    info = logging.LogRecord("x", logging.INFO, "", 0, "joined", None, None)
    assert repeat.filter(info)
    assert repeat.filter(info)


# --- verification on by default ------------------------------------------------------------------


def test_tls_verification_is_on_by_default() -> None:
    assert SearchSettings().verify_tls
    assert IrcSettings(server="irc.example.org").tls
    assert IrcSettings(server="irc.example.org").tls_verify
    matrix = MatrixSettings(
        homeserver="https://m.example.org",
        user_id="@bot:example.org",
        password="x",  # type: ignore[arg-type]
    )
    assert matrix.verify_tls


async def test_a_search_server_with_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()
    app.router.add_get("/_cluster/health", _green)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    url = f"https://127.0.0.1:{runner.addresses[0][1]}"
    try:
        backend = OpenSearchBackend(SearchSettings(url=url, retries=0))
        with pytest.raises(SearchUnavailable, match=r"(?i)certificate"):
            await backend.health()
        await backend.close()
        trusting = OpenSearchBackend(SearchSettings(url=url, retries=0, ca_file=cert))
        assert (await trusting.health())["status"] == "green"
        await trusting.close()
    finally:
        await runner.cleanup()


async def _green(request: web.Request) -> web.Response:
    return web.json_response({"status": "green"})


# --- the web server -----------------------------------------------------------------------------


async def test_the_dashboard_binds_loopback_and_serves_only_the_dashboard(tmp_path: Path) -> None:
    assert DashboardSettings().host == "127.0.0.1"
    (tmp_path / "config.yaml").write_text("password: x")
    server = DashboardServer(DashboardSettings(port=0, output=tmp_path / "web"))
    await server.start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            for path in ("/../config.yaml", "/%2e%2e/config.yaml", "/..%2fconfig.yaml"):
                async with http.get(server.url + path) as reply:
                    assert reply.status == 404, path
            for path in ("/etc/passwd", "/%2fetc%2fpasswd", "//etc/passwd"):
                async with http.get(server.url + path) as reply:
                    assert reply.status == 404, path
    finally:
        await server.close()


# --- the whole bot, --debug, every secret configured --------------------------------------------


async def test_no_secret_reaches_the_logs_of_a_debug_run(
    tmp_path: Path,
    osmem_url: str,
    irc_server_factory: Callable[..., IrcServer],
    synapse_server: SynapseServer,
) -> None:
    irc_password = f"irc-server-{unique('')}"
    irc = irc_server_factory(password=irc_password)
    services_password = f"nickserv-{unique('')}"
    matrix_password = f"matrix-{unique('')}"
    search_password = f"search-{unique('')}"
    name = unique("recheckbot")
    user_id = synapse_server.register(name, matrix_password)
    alice = await MatrixPeer(synapse_server).login()
    room = await alice.create_room(user_id)
    channel = unique("#nova")
    async with GerritStandIn(http_password=f"gerrit-{unique('')}") as gerrit:
        run = Scenario(tmp_path, gerrit, osmem_url)
        build = run.buildset("openstack/nova", "tempest-full-py3", "1541364")
        await run.index_logs(build)
        irc_settings: dict[str, Any] = {
            "server": irc.host,
            "port": irc.port,
            "tls": False,
            "nick": unique("rb"),
            "server_password_file": secret_file(tmp_path, "irc_server", irc_password),
            "password_file": secret_file(tmp_path, "irc_services", services_password),
            "send_interval": 0.01,
        }
        config = write_config(
            tmp_path,
            search_url=osmem_url,
            gerrit=gerrit,
            channels={
                channel: {"projects": ["nova"], "events": ["positive"]},
                "m": {
                    "transport": "matrix",
                    "room": room,
                    "projects": ["all"],
                    "events": ["positive"],
                },
            },
            queries=run.queries,
            irc=irc_settings,
            matrix={
                "homeserver": synapse_server.url,
                "user_id": user_id,
                "password_file": secret_file(tmp_path, "matrix", matrix_password),
            },
            search={
                "username": "recheckbot",
                "password_file": secret_file(tmp_path, "search", search_password),
            },
        )
        watcher = await IrcWatcher(irc, channel, password=irc_password).connect()
        bot = BotProcess(config, tmp_path / "bot.log")
        try:
            await bot.start()
            await gerrit.wait_for_streams(1, seconds=30)
            await bot.wait_health(lambda h: all(h.get("transports", {}).values()), "connected")
            await run.publish(build)
            await until(lambda: watcher.count(channel, build.change) == 1, "the announcement")
            assert watcher.peer is not None
            watcher.peer.conn.privmsg(channel, "!status")  # a reply quoting the search server
            await watcher.peer.expect("pubmsg", lambda e: e.target == channel)
            await gerrit.disconnect()  # the reconnect catches up with events-log (HTTP auth)
            await gerrit.wait_for_streams(2, seconds=30)
            await until(lambda: gerrit.events_log_requests != [], "the events-log catch-up")
            assert await bot.stop() == 0
        finally:
            bot.kill()
            watcher.close()
            await alice.client.close()
        secrets = {
            "IRC server password": irc_password,
            "IRC services password": services_password,
            "Matrix password": matrix_password,
            "search password": search_password,
            "search basic auth": basic_token("recheckbot", search_password),
            "Gerrit HTTP password": gerrit.http_password,
            "Gerrit basic auth": basic_token(gerrit.user, gerrit.http_password),
        }
        key = gerrit.client_key.export_private_key().decode()
        secrets |= {
            f"SSH key line {i}": line
            for i, line in enumerate(key.splitlines())
            if not line.startswith("-----")
        }
    logged = bot.text()
    assert "DEBUG" in logged  # a debug run: the clients' request logging was on
    assert MASK in logged  # and something secret did try to get into it
    leaked = [what for what, secret in secrets.items() if secret in logged]
    assert leaked == []
