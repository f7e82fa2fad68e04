"""``recheckbot run --demo`` (what ``make run`` starts), as a user runs it: a real process.

It must announce the demo's known failures on the terminal, answer a chat command typed on
stdin, serve the dashboard with /healthz and /metrics on 127.0.0.1, and stop cleanly on Ctrl-C.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.cli import recheckbot
from tests.support.paths import ROOT


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
        deadline = time.monotonic() + timeout
        for line in self.seen:
            if found := re.search(pattern, line):
                return found
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found
        raise AssertionError(f"no line matching {pattern!r}; got:\n" + "\n".join(self.seen))


@pytest.fixture
def demo() -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    proc = subprocess.Popen(
        [*recheckbot(), "run", "--demo"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield proc, Lines(proc)
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def test_demo_announces_answers_serves_and_stops(demo: tuple[subprocess.Popen[str], Lines]) -> None:
    proc, lines = demo
    url = lines.wait_for(r"dashboard: (http://127\.0\.0\.1:\d+)/").group(1)
    found = lines.wait_for(r"^\[demo\] openstack/\S+ change: \S+ failed because of: .*bugs/\d+")
    assert "https://bugs.launchpad.net/bugs/" in found.string

    assert proc.stdin is not None
    proc.stdin.write("!status\n")
    proc.stdin.flush()
    lines.wait_for(r"^\[console\] up \d+ s · search: (green|yellow)")

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
