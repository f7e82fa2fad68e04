"""Real servers for the transport and source tests: ngIRCd, Synapse and mosquitto on 127.0.0.1.

Each server is a process this module started (``Popen``), on a free port, with its files in a
pytest temp dir. Readiness is polled with a deadline; ``restart()`` stops the process by its own
PID and starts it again on the same port (for reconnect tests); teardown sends SIGTERM to the
PIDs started here and nothing else.

Synapse lives in a venv of its own (it pins Twisted): ``$RECHECKBOT_SYNAPSE_PYTHON`` or
``<repo>/.venv-synapse/bin/python``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import ROOT, require_program

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nobody listens on right now (a tiny race with other processes; fine on a test box)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def tcp_ready(port: int) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
        except OSError:
            return False
        return True

    return probe


def http_ready(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    return probe


class ServerProcess:
    """One server process we own: start, wait until ready, stop by PID, restart."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        ready: Callable[[], bool],
        log: Path,
        deadline: float = 30.0,
        interval: float = 0.02,
    ) -> None:
        self.name, self.argv, self.ready, self.log = name, argv, ready, log
        self.deadline, self.interval = deadline, interval
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        end = time.monotonic() + self.deadline
        while not self.ready():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}; see {self.log}"
                )
            if time.monotonic() > end:
                self.stop()
                raise RuntimeError(f"{self.name} not ready after {self.deadline}s; see {self.log}")
            time.sleep(self.interval)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # our own PID only
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()


class Server:
    """A server run by its :class:`ServerProcess`: started, stopped and restarted with it."""

    process: ServerProcess

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self.process.stop()

    def restart(self) -> None:
        self.process.restart()


# --- ngIRCd -------------------------------------------------------------------------------------

NGIRCD_CONF = """\
[Global]
\tName = irc.test.local
\tInfo = recheckbot test server
\tAdminInfo1 = test
\tAdminInfo2 = test
\tAdminEMail = test@localhost
\tListen = 127.0.0.1
\tPorts = {port}
\tMotdPhrase = test
{password}
[Limits]
\tMaxConnections = 0
\tMaxConnectionsIP = 0
\tMaxJoins = 0
\tMaxNickLength = 30
\tMaxPenaltyTime = 0
\tPingTimeout = 120
\tPongTimeout = 20
[Options]
\tPAM = no
\tIdent = no
\tDNS = no
\tIncludeDir = {include}
{ssl}
"""


class IrcServer(Server):
    """An ngIRCd of our own; ``port`` stays the same across restarts."""

    def __init__(self, workdir: Path, password: str | None = None, tls: bool = False) -> None:
        binary = require_program("ngircd")
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "conf.d").mkdir(exist_ok=True)
        self.host, self.port = HOST, free_port()
        self.cert: Path | None = None
        ssl, plain_port = "", self.port
        if tls:  # the plain listener moves to a port of its own; ``port`` speaks TLS only
            plain_port = free_port()
            self.cert, key = make_certificate(workdir)
            ssl = f"[SSL]\n\tCertFile = {self.cert}\n\tKeyFile = {key}\n\tPorts = {self.port}\n"
        self.plain_port = plain_port
        conf = workdir / "ngircd.conf"
        conf.write_text(
            NGIRCD_CONF.format(
                port=plain_port,
                include=workdir / "conf.d",
                password=f"\tPassword = {password}" if password else "",
                ssl=ssl,
            )
        )
        argv = [binary, "-n", "-f", str(conf)]
        self.process = ServerProcess("ngircd", argv, tcp_ready(self.port), workdir / "ngircd.log")


def make_certificate(workdir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the tests trust it as their CA)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = workdir / "cert.pem", workdir / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="session")
def irc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    """One ngIRCd for the session; tests isolate themselves with unique channels and nicks."""
    server = IrcServer(tmp_path_factory.mktemp("ngircd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def irc_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., IrcServer]]:
    """Start an ngIRCd of this test's own (password, TLS, or to be restarted); stopped after."""
    started: list[IrcServer] = []

    def start(**kwargs: Any) -> IrcServer:
        server = IrcServer(tmp_path_factory.mktemp("ngircd"), **kwargs)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


# --- Synapse ------------------------------------------------------------------------------------

_UNLIMITED = {"per_second": 10000, "burst_count": 100000}
_RATE_LIMITS = {
    **{
        name: dict(_UNLIMITED)
        for name in (
            "rc_message",
            "rc_registration",
            "rc_registration_token_validity",
            "rc_admin_redaction",
            "rc_3pid_validation",
            "rc_third_party_invite",
            "rc_media_create",
            "rc_delayed_event_mgmt",
            "rc_room_creation",
            "rc_reports",
            "rc_user_directory",
            "rc_joins_per_room",
        )
    },
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_presence": {"per_user": _UNLIMITED},
}


def synapse_python() -> str:
    """The Synapse venv's python; skip without it on a laptop, fail under CI."""
    env = os.environ.get("RECHECKBOT_SYNAPSE_PYTHON")
    path = Path(env) if env else ROOT / ".venv-synapse" / "bin" / "python"
    if path.is_file():
        return str(path)
    if os.environ.get("CI") == "true":
        pytest.fail(f"Synapse venv python {path} is missing, and CI must run the real server")
    pytest.skip(f"Synapse venv python {path} is missing (set RECHECKBOT_SYNAPSE_PYTHON)")


class SynapseServer(Server):
    """A Synapse homeserver with SQLite, rate limits off; ``url`` stays the same on restart."""

    def __init__(self, workdir: Path) -> None:
        python = synapse_python()
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.config = workdir / "homeserver.yaml"
        self._generate(python, workdir)
        self.secret = str(yaml.safe_load(self.config.read_text())["registration_shared_secret"])
        argv = [python, "-m", "synapse.app.homeserver", "-c", str(self.config)]
        ready = http_ready(self.url + "/_matrix/client/versions")
        self.process = ServerProcess("synapse", argv, ready, workdir / "stdout.log", 90, 0.05)

    def _generate(self, python: str, workdir: Path) -> None:
        subprocess.run(
            [
                python,
                *("-m", "synapse.app.homeserver", "--server-name", "localhost"),
                *("--config-path", str(self.config), "--data-directory", str(workdir / "data")),
                *("--generate-config", "--report-stats=no"),
            ],
            cwd=workdir,
            check=True,
            capture_output=True,
        )
        config = yaml.safe_load(self.config.read_text())
        config["listeners"] = [
            {
                "port": self.port,
                "bind_addresses": [HOST],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ]
        config |= {"trusted_key_servers": [], "suppress_key_server_warning": True}
        config |= {"enable_registration": False, "presence": {"enabled": False}}
        config |= {"url_preview_enabled": False, "bcrypt_rounds": 4, **_RATE_LIMITS}
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        log_config = Path(config["log_config"])
        log_config.write_text(log_config.read_text().replace("level: INFO", "level: WARNING"))

    def register(self, username: str, password: str) -> str:
        """Create a user with the shared-secret admin API; returns the user id."""
        url = self.url + "/_synapse/admin/v1/register"
        with urllib.request.urlopen(url, timeout=10) as response:
            nonce = json.load(response)["nonce"]
        mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), username.encode(), password.encode()]))
        mac.update(b"\x00notadmin")
        body = {"nonce": nonce, "username": username, "password": password, "admin": False}
        body["mac"] = mac.hexdigest()
        request = urllib.request.Request(
            url, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(json.load(response)["user_id"])


@pytest.fixture(scope="session")
def synapse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    """One Synapse for the session; tests isolate themselves with unique users and rooms."""
    server = SynapseServer(tmp_path_factory.mktemp("synapse"))
    server.start()
    yield server
    server.stop()


# --- mosquitto ----------------------------------------------------------------------------------


class Mosquitto(Server):
    """A mosquitto MQTT broker (what Zuul's MQTT reporter publishes to), anonymous, in memory."""

    def __init__(self, workdir: Path) -> None:
        binary = require_program("mosquitto")
        self.port = free_port()
        conf = workdir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} {HOST}\nallow_anonymous true\npersistence false\n")
        argv = [binary, "-c", str(conf)]
        self.process = ServerProcess(
            "mosquitto", argv, tcp_ready(self.port), workdir / "mosquitto.log"
        )
