"""How long ``recheckbot run --demo`` takes to show its dashboard with a large query repo.

    python -m benchmarks.demo_start [--queries N] [--limit S]

Writes ``--queries`` query files into a temporary directory (the repository's own queries, the
74 upstream ones when ``../shared/upstream/queries`` is there, then variants of them with a
reworded phrase, so that every query is distinct and the demo's logs hit many of them), starts
``recheckbot run --demo --queries <dir>`` as a child process, and measures from its start until
the dashboard's list page and its graph JSON are served. The demo seeds its embedded server
first: that time is part of what a person waits for, and is printed on its own. The child is
stopped with Ctrl-C's signal, by its process id, once the dashboard is up (or after
``--limit`` seconds).

Last line: ``demo start: <n> queries, dashboard after <t> s (seeded after <s> s)``, or
``... no dashboard after <limit> s`` when it never came.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.queries import Query, load_queries

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT.parent / "shared" / "upstream" / "queries"
_PHRASE = re.compile(r'message:"((?:[^"\\]|\\.)*)"')
_BANNER = re.compile(r"dashboard: (http://\S+?)/?$")
#: Seconds between two looks at the dashboard.
POLL = 0.5
#: Lines of the demo's output shown when its dashboard never came.
TAIL = 40


def base_queries() -> list[Query]:
    """The repository's queries, then the upstream ones it does not have."""
    found = list(load_queries(ROOT / "queries").queries)
    if UPSTREAM.is_dir():
        known = {q.id for q in found}
        found += [q for q in load_queries(UPSTREAM).queries if q.id not in known]
    return found


def query_set(base: Sequence[Query], total: int) -> Iterator[Query]:
    """``base`` and then reworded variants of its queries that have a ``message:`` phrase,
    numbered as bugs ``5000000 + i``, up to ``total``."""
    yield from base[:total]
    worded = [q for q in base if _PHRASE.search(q.lucene)]
    for i in range(max(total - len(base), 0)):
        query = worded[i % len(worded)]
        phrase = _PHRASE.search(query.lucene)
        assert phrase is not None
        reworded = f'message:"{_reword(phrase.group(1), i)}"'
        lucene = query.lucene[: phrase.start()] + reworded + query.lucene[phrase.end() :]
        yield replace(query, id=str(5_000_000 + i), lucene=lucene)


def _reword(phrase: str, i: int) -> str:
    words = phrase.split(" ")
    words[len(words) // 2] = f"variant{i}"
    return " ".join(words)


def write_queries(queries: Iterator[Query], folder: Path) -> int:
    """One ER-format file per query; how many were written."""
    count = 0
    for query in queries:
        lines = [f"query: {json.dumps(query.lucene)}"]
        if query.suppress_graph:
            lines.append("suppress-graph: true")
        (folder / f"{query.id}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        count += 1
    return count


@dataclass
class Timeline:
    """Seconds from the child's start to what it printed and served."""

    seeded: float | None = None
    banner: float | None = None
    dashboard: float | None = None
    url: str | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL))


async def watch_output(stream: asyncio.StreamReader, started: float, line: Timeline) -> None:
    """Read the demo's output: when seeding ended and where the dashboard is."""
    while raw := await stream.readline():
        text = raw.decode(errors="replace").rstrip()
        line.tail.append(f"{time.monotonic() - started:6.1f} s  {text}")
        if "log documents" in text and "indexed" in text and line.seeded is None:
            line.seeded = time.monotonic() - started
        if found := _BANNER.search(text.strip()):
            line.url = found.group(1)
            line.banner = time.monotonic() - started


def served(url: str) -> bool:
    """The list page and a graph JSON with its bug list are served (blocking: in a thread)."""
    try:
        with urllib.request.urlopen(f"{url}/data/all.json", timeout=5) as reply:
            document = json.load(reply)
        with urllib.request.urlopen(f"{url}/", timeout=5) as reply:
            page = reply.read()
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return bool(document.get("buglist")) and b"<html" in page.lower()


async def wait_for_dashboard(started: float, line: Timeline, limit: float) -> None:
    while time.monotonic() - started < limit:
        url = line.url
        if url is not None and await asyncio.to_thread(served, url):
            line.dashboard = time.monotonic() - started
            return
        await asyncio.sleep(POLL)


async def run_demo(folder: Path, limit: float) -> Timeline:
    entry = "from bot.cli import main; main()"  # what the recheckbot script runs
    command = [sys.executable, "-c", entry, "run", "--demo", "--queries", str(folder)]
    started = time.monotonic()
    child = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,  # the console chat reads it: keep it open
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    line = Timeline()
    assert child.stdout is not None
    reader = asyncio.create_task(watch_output(child.stdout, started, line))
    try:
        await wait_for_dashboard(started, line, limit)
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(child.wait(), 60)
            except TimeoutError:
                child.kill()
                await child.wait()
        await reader
    return line


def report(count: int, line: Timeline, limit: float) -> str:
    seeded = f"seeded after {line.seeded:.1f} s" if line.seeded is not None else "never seeded"
    if line.dashboard is None:
        return f"demo start: {count} queries, no dashboard after {limit:.0f} s ({seeded})"
    return f"demo start: {count} queries, dashboard after {line.dashboard:.1f} s ({seeded})"


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.demo_start", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--queries", type=int, default=1000, help="query files in the repo")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds to wait at most")
    parser.add_argument("--verbose", action="store_true", help="show the demo's last lines")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="recheckbot-demo-queries-") as scratch:
        folder = Path(scratch)
        count = write_queries(query_set(base_queries(), args.queries), folder)
        line = await run_demo(folder, args.limit)
    if line.dashboard is None or args.verbose:
        print("\n".join(line.tail))
    if line.banner is not None:
        print(f"banner after {line.banner:.1f} s")
    print(report(count, line, args.limit))


if __name__ == "__main__":
    asyncio.run(main())
