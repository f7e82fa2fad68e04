"""``recheckbot run --demo`` (what ``make run`` starts), as a user runs it: a real process.

It must announce the demo's known failures on the terminal, answer chat commands typed on
stdin (about failures and about test results), serve the dashboard (its Tests page too) with
/healthz and /metrics on 127.0.0.1, and stop cleanly on Ctrl-C.
The dashboard and the embedded search server take the ports the settings give them (a free one
each when none is set), and the start says where they are and how to talk and stop.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from tests.support.cli import recheckbot
from tests.support.paths import ROOT
from tests.support.servers import free_port


class Lines:
    """The process's stdout, read on a thread so the test can wait with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first line matching ``pattern``, seen already or within ``timeout``."""
        return self.wait_for_all(pattern, 1, timeout)[0]

    def wait_for_all(self, pattern: str, count: int, timeout: float = 60) -> list[re.Match[str]]:
        """The first ``count`` lines matching ``pattern``, waiting up to ``timeout`` for them."""
        deadline = time.monotonic() + timeout
        found = [m for line in self.seen if (m := re.search(pattern, line))]
        while len(found) < count and time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if match := re.search(pattern, line):
                found.append(match)
        if len(found) < count:
            raise AssertionError(
                f"{len(found)} of {count} lines matching {pattern!r}; got:\n" + "\n".join(self.seen)
            )
        return found[:count]


Demo = tuple[subprocess.Popen[str], Lines]


@pytest.fixture
def start_demo() -> Iterator[Callable[..., Demo]]:
    """Starts ``recheckbot run --demo [args]`` with extra environment; stops what it started."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Demo:
        proc = subprocess.Popen(
            [*recheckbot(), "run", "--demo", *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(proc)
        return proc, Lines(proc)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_demo_announces_answers_serves_and_stops(start_demo: Callable[..., Demo]) -> None:
    proc, lines = start_demo()
    url = lines.wait_for(r"dashboard: (http://127\.0\.0\.1:\d+)/").group(1)
    lines.wait_for(r"type !help and press Enter; no prompt is shown")
    lines.wait_for(r"stop: Ctrl-C")
    found = lines.wait_for(
        r"^\[demo\] openstack/\S+ change: \S+ failed in the (check|gate) queue because of: "
        r".*bugs/\d+"
    )
    assert "https://bugs.launchpad.net/bugs/" in found.string
    # Titles from the demo's tracker stand-in.
    lines.wait_for(r'^\[demo\] .* because of: .*bugs/\d+ "[^"]+"')
    # The weekly digest, once at start: the judged history's costs, rechecks among them.
    lines.wait_for(r"^\[demo\] weekly digest for demo: the 7 days to ")
    lines.wait_for(r"^\[demo\] 1\. bug \d+ \(.+\): \d+ failed builds?, .*, [1-9]\d* rechecks?, ")
    lines.wait_for(r"^\[demo\] new uncategorized failures: c-[0-9a-f]+ \(")
    lines.wait_for(r"^\[demo\] stopped hitting \(no hit in 7 d, hits before\): bug \d+ \(")

    assert proc.stdin is not None
    proc.stdin.write("!status\n!top\n!query 1541364\n")
    proc.stdin.flush()
    lines.wait_for(r"^\[console\] up \d+ s · search: (green|yellow)")
    lines.wait_for(r"^\[console\] 1\. bug \d+ .*, [1-9]\d* rechecks?, \d+ .*CI, .*/bug/\d+$")
    # Passing builds hit by the query: no longer 100 % failures.
    rate = lines.wait_for(r"^\[console\] bug 1541364 over 7 d: .* failed \((\d+)%\)")
    assert int(rate.group(1)) < 100
    # The test results: the flaky tests, and a known bug's test (its query's test_ids).
    proc.stdin.write("!flaky\n!test test_volume_backup_create\n")
    proc.stdin.flush()
    lines.wait_for(r"^\[console\] flakiest tests over 7 d")
    lines.wait_for(r"^\[console\] 1\. \w+\.test_\w+: went green on \d+ rechecks?, failed \d+ of ")
    lines.wait_for(r"^\[console\] tempest\.api\.volume\.\S+ over 7 d: [1-9]\d* failed of \d+ runs")
    lines.wait_for(r"^\[console\] last failure: \S+ · known bugs: 1745168 ")
    assert '<li class="test"' in page_when_built(f"{url}/tests.html")

    with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
        health = json.load(response)
    assert health["transports"] == {"console": True}
    assert health["events_received"] >= 1
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert re.search(r"^recheckbot_events_received_total [1-9]", metrics, re.M)

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    lines.wait_for(r"recheckbot demo: stopped\.", timeout=5)


def test_demo_keeps_the_ports_the_settings_give(start_demo: Callable[..., Demo]) -> None:
    dashboard, search = free_port(), free_port()
    proc, lines = start_demo(
        env={
            "RECHECKBOT_DASHBOARD__PORT": str(dashboard),
            "RECHECKBOT_SEARCH__URL": f"http://127.0.0.1:{search}",
        }
    )
    lines.wait_for(rf"dashboard: http://127\.0\.0\.1:{dashboard}/$")
    lines.wait_for(rf"ssh -L {dashboard}:127\.0\.0\.1:{dashboard} ")
    lines.wait_for(rf"search server: http://127\.0\.0\.1:{search} ")
    with urllib.request.urlopen(f"http://127.0.0.1:{dashboard}/healthz", timeout=10) as response:
        assert json.load(response)["transports"] == {"console": True}
    with urllib.request.urlopen(f"http://127.0.0.1:{search}/", timeout=10) as response:
        assert "version" in json.load(response)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0


def page_when_built(url: str, timeout: float = 60) -> str:
    """The page at ``url`` once the dashboard's refresh has written it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return str(response.read().decode())
        except urllib.error.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_the_dashboard_port_flag_wins(start_demo: Callable[..., Demo]) -> None:
    port = free_port()
    proc, lines = start_demo("--port", str(port), env={"RECHECKBOT_DASHBOARD__PORT": "1"})
    lines.wait_for(rf"dashboard: http://127\.0\.0\.1:{port}/$")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0


def test_a_scripted_console_session_within_the_rate_limits(
    start_demo: Callable[..., Demo],
) -> None:
    """The issue's session: a malformed query refused without using up the bucket, an unknown
    command answered, then five lookups in a minute all answered. The console is the operator
    (an admin): it draws from the room's bucket, as any room does."""
    proc, lines = start_demo()
    lines.wait_for(r"type !help and press Enter")
    assert proc.stdin is not None
    script = ["!query message:*rror", "!nosuch", *["!query 1541364"] * 5]
    proc.stdin.write("".join(f"{line}\n" for line in script))
    proc.stdin.flush()
    lines.wait_for(r"^\[console\] bad query: leading wildcard in 'message:\*rror'")
    lines.wait_for(r"^\[console\] unknown command !nosuch; !help lists them")
    lines.wait_for_all(r"^\[console\] bug 1541364 over 7 d: \d+ hits", 5)
    assert not [line for line in lines.seen if "please wait" in line]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
