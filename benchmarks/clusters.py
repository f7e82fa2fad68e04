"""Clustering uncategorized failures: time and memory over ~2k uncategorized failed jobs.

    python -m benchmarks.clusters [--jobs N] [--patterns N] [--successes N] [--seed N]

The embedded search server is seeded with N failed gate jobs that no query explains, each
carrying one of ``--patterns`` failure patterns (Zipf-distributed: a few are frequent, many are
rare), whose lines vary in numbers, uuids, paths, hosts and times; plus benign error lines in half
of all builds, a generic "the job failed" line in every failed one, and successful builds.
:func:`bot.intel.find_clusters` then runs end to end: the uncategorized report, the evidence
msearch, clustering and the verification of each suggested query. Time is reported per phase,
memory as the Python heap peak (tracemalloc) and the process's peak RSS (getrusage). The
embedded server scans every document per query, so its share of the time says nothing about a
real cluster; the bot's own CPU (normalising, clustering) is what carries over.

Also the data generator the intel tests use (:class:`Pattern`, :func:`build_documents`).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import resource
import string
import sys
import time
import tracemalloc
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.demo.data import END_MARKER

# --- the data -------------------------------------------------------------------------------

PROJECTS = ("openstack/nova", "openstack/neutron", "openstack/cinder", "openstack/glance")
JOBS = ("tempest-full-py3", "grenade", "nova-ceph-multistore", "neutron-tempest-plugin")
_DISTROS = ("ubuntu-noble", "ubuntu-jammy", "centos-9-stream", "debian-bookworm")
_PROVIDERS = ("rax-dfw", "ovh-bhs1", "vexxhost-ca-ymq-1", "inmotion-iad3", "openmetal-iad3")
_DOMAINS = ("example.org", "ci.internal", "opendev.org", "novalocal")


def _hex(rng: random.Random) -> str:
    # A letter and a digit, as real ids nearly always have (all-digit ids normalise as numbers).
    body = "".join(rng.choice("0123456789abcdef") for _ in range(10))
    return rng.choice("abcdef") + body + rng.choice("0123456789")


FILLERS: dict[str, Callable[[random.Random], str]] = {
    "num": lambda r: str(r.randint(1, 99999)),
    "uuid": lambda r: str(uuid.UUID(int=r.getrandbits(128))),
    "ip": lambda r: ".".join(str(r.randint(1, 254)) for _ in range(4)),
    "host": lambda r: (
        f"{r.choice(('compute', 'ctl', 'net'))}-{r.randint(0, 99)}.{r.choice(_DOMAINS)}"
    ),
    "node": lambda r: f"{r.choice(_DISTROS)}-{r.choice(_PROVIDERS)}-{r.randint(10**9, 10**10 - 1)}",
    "path": lambda r: "/".join(
        ["", "tmp", "tmp" + "".join(r.choice(string.ascii_lowercase) for _ in range(8)), "disk"]
    ),
    "hex": _hex,
    "ts": lambda r: (
        f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:"
        f"{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999):03d}"
    ),
    "dur": lambda r: f"{r.uniform(1, 900):.2f}s",
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(template: str, rng: random.Random) -> str:
    """``template`` with each ``{kind}`` replaced by a fresh random value of that kind."""
    return _PLACEHOLDER.sub(lambda m: FILLERS[m.group(1)](rng), template)


@dataclass(frozen=True)
class Pattern:
    """A failure: the lines a failed build of it logs (templates with ``{kind}`` holes)."""

    name: str
    lines: tuple[str, ...]
    filename: str = "job-output.txt"
    loglevel: str = "INFO"
    at_end: bool = False  # logged last, just before the console's end (a job that just died)


#: Benign error lines: half of all builds print each, failed or not.
NOISE = (
    Pattern(
        "amqp",
        (
            "ERROR oslo.messaging._drivers.impl_rabbit [-] [{uuid}] AMQP server on {ip}:5672 is "
            "unreachable: timed out. Trying again in {num} seconds.",
        ),
        "screen-n-cpu.txt",
        "ERROR",
    ),
    Pattern(
        "benign-traceback",
        (
            "Traceback (most recent call last):",
            "ValueError: could not convert string to float: '{hex}' in {path}",
        ),
    ),
)
#: What Zuul prints when a job's main playbook fails, whatever the failure.
GENERIC_FAILURE = "ERROR: the main setup script run by this job failed - exit code: 1"
ROUTINE = (
    "TASK [devstack : Run devstack] took {dur}",
    "ok: [controller]",
    "Running tox environment py{num} on {node}",
)
RECAP = (
    "PLAY RECAP *********************************************************************",
    "controller : ok={num} changed={num} unreachable=0 failed={num} skipped={num} rescued=0",
)


@dataclass(frozen=True)
class SynthBuild:
    """One job run and the log lines it wrote."""

    uuid: str
    job: str
    project: str
    status: str  # SUCCESS | FAILURE
    started: datetime
    pattern: str | None = None  # the failure it carries
    queue: str = "gate"
    voting: bool = True
    lines: tuple[tuple[str, str, str], ...] = field(default=(), repr=False)  # message, file, level


def make_build(
    rng: random.Random,
    *,
    status: str,
    started: datetime,
    pattern: Pattern | None = None,
    job: str | None = None,
    queue: str = "gate",
    voting: bool = True,
) -> SynthBuild:
    """A build's lines: routine work, benign noise, then (failed) the pattern and the end."""
    lines = [(fill(text, rng), "job-output.txt", "INFO") for text in ROUTINE]
    for noise in NOISE:
        if rng.random() < 0.5:
            lines += [(fill(t, rng), noise.filename, noise.loglevel) for t in noise.lines]
    if pattern is not None and not pattern.at_end:
        lines += [(fill(t, rng), pattern.filename, pattern.loglevel) for t in pattern.lines]
    if status == "FAILURE":
        lines.append((GENERIC_FAILURE, "job-output.txt", "INFO"))
    if pattern is not None and pattern.at_end:
        lines += [(fill(t, rng), pattern.filename, pattern.loglevel) for t in pattern.lines]
    lines += [(fill(text, rng), "job-output.txt", "INFO") for text in RECAP]
    return SynthBuild(
        uuid=uuid.UUID(int=rng.getrandbits(128)).hex,
        job=job or rng.choice(JOBS),
        project=rng.choice(PROJECTS),
        status=status,
        started=started,
        pattern=pattern.name if pattern else None,
        queue=queue,
        voting=voting,
        lines=tuple(lines),
    )


def build_documents(build: SynthBuild) -> Iterator[dict[str, Any]]:
    """The build's log documents, logstash-style (see :func:`bot.demo.data.job_documents`)."""
    log_url = f"https://logs.example.org/{build.queue}/{build.job}/{build.uuid[:7]}/"
    base = {
        "build_name": build.job,
        "build_status": build.status,
        "build_queue": build.queue,
        "build_branch": "master",
        "build_change": str(900000 + int(build.uuid[:4], 16)),
        "build_patchset": "1",
        "build_uuid": build.uuid,
        "build_short_uuid": build.uuid[:7],
        "project": build.project,
        "voting": "1" if build.voting else "0",
        "log_url": log_url + "job-output.txt",
        "node_provider": "synth-cloud",
    }
    every = [*build.lines, (END_MARKER, "job-output.txt", "INFO")]
    for second, (message, filename, level) in enumerate(every):
        tags = ["console", filename] if filename == "job-output.txt" else [filename]
        yield {
            **base,
            "message": message,
            "filename": filename,
            "tags": tags,
            "loglevel": level,
            "@timestamp": (build.started + timedelta(seconds=second)).isoformat(),
        }


# --- many patterns, for the benchmark -------------------------------------------------------

_MODULES = ("nova.compute.manager", "neutron.agent.l3", "cinder.volume.manager", "glance.api")
_VERBS = ("attach", "detach", "resize", "migrate", "snapshot", "rebuild", "plug", "bind")
_OBJECTS = ("volume", "port", "instance", "image", "router", "network", "share", "backup")
_SHAPES = (
    Pattern(
        "service",
        (
            "{ts} {num} ERROR {module} [req-{uuid} None None] Failed to {verb} {obj} {uuid} on "
            "host={node}: {Obj}{Verb}Failed: {obj} is in state error after {dur}",
        ),
        "screen-n-cpu.txt",
        "ERROR",
    ),
    Pattern(
        "test",
        (
            "tempest.api.{obj}.test_{obj}_{verb}.{Obj}{Verb}Test.test_{verb}_{obj}[id-{uuid}] "
            "[{dur}] ... FAILED",
            "tempest.lib.exceptions.TimeoutException: Request timed out. Details: {obj} {uuid} "
            "did not {verb} within the required time ({num} s) on {host}",
        ),
    ),
    Pattern(
        "console",
        (
            "fatal: [controller]: FAILED! => could not {verb} {obj} at {path} from {ip}: "
            "{Obj}Error {hex}",
        ),
    ),
    Pattern(
        "tail",
        (
            "+ ./stack.sh:{verb}_{obj}:{num} : exit_trap",
            "stack.sh exited with status {num} while trying to {verb} the {obj} on {host}",
        ),
        at_end=True,
    ),
)


def make_patterns(n: int, rng: random.Random) -> list[Pattern]:
    """``n`` distinct patterns: shapes crossed with modules, verbs and objects."""
    # Distinct (shape, verb, object): two patterns that differ only in the logging module
    # are one failure to a reader, and (rightly) to the clusterer.
    combos = [(s, v, o) for s in _SHAPES for v in _VERBS for o in _OBJECTS]
    found = []
    for i, (shape, verb, obj) in enumerate(rng.sample(combos, n)):
        module = rng.choice(_MODULES)
        words = {
            "module": module,
            "verb": verb,
            "obj": obj,
            "Verb": verb.title(),
            "Obj": obj.title(),
        }
        lines = tuple(_fill_words(line, words) for line in shape.lines)
        found.append(
            Pattern(f"p{i:02d}-{shape.name}", lines, shape.filename, shape.loglevel, shape.at_end)
        )
    return found


def _fill_words(template: str, words: dict[str, str]) -> str:
    """The pattern's own words in; the ``{num}``-style holes stay for :func:`fill`."""
    return _PLACEHOLDER.sub(lambda m: words.get(m.group(1), m.group(0)), template)


def zipf_counts(total: int, n: int, s: float = 1.1) -> list[int]:
    """``total`` split over ``n`` patterns, the k-th getting a share ∝ 1/k^s (each at least 1)."""
    weights = [1 / (k + 1) ** s for k in range(n)]
    scale = (total - n) / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    counts[0] += total - sum(counts)
    return counts


def dataset(jobs: int, patterns: int, successes: int, seed: int) -> list[SynthBuild]:
    rng = random.Random(seed)
    now = datetime.now(UTC)

    def when() -> datetime:
        return now - timedelta(minutes=rng.uniform(30, 4 * 24 * 60))

    chosen = make_patterns(patterns, rng)
    builds = [
        make_build(rng, status="FAILURE", started=when(), pattern=pattern)
        for pattern, count in zip(chosen, zipf_counts(jobs, patterns), strict=True)
        for _ in range(count)
    ]
    builds += [make_build(rng, status="SUCCESS", started=when()) for _ in range(successes)]
    return builds


# --- the run --------------------------------------------------------------------------------


@dataclass
class Phases:
    """Seconds per phase, timed by wrapping the library's functions."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def wrap(self, module: Any, name: str, label: str) -> None:
        inner = getattr(module, name)

        if asyncio.iscoroutinefunction(inner):

            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await inner(*args, **kwargs)
                finally:
                    self.seconds[label] += time.perf_counter() - start

            setattr(module, name, timed_async)
        else:

            def timed(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return inner(*args, **kwargs)
                finally:
                    self.seconds[label] += time.perf_counter() - start

            setattr(module, name, timed)


def purity(report: Any, builds: Sequence[SynthBuild]) -> tuple[float, int]:
    """Share of clustered builds whose pattern is their cluster's majority; patterns split."""
    truth = {b.uuid: b.pattern for b in builds}
    right = total = 0
    homes: dict[str | None, set[str]] = {}
    for cluster in report.clusters:
        names = Counter(truth[u] for u in cluster.uuids)
        right += names.most_common(1)[0][1]
        total += cluster.size
        for name in names:
            homes.setdefault(name, set()).add(cluster.id)
    split = sum(1 for ids in homes.values() if len(ids) > 1)
    return (right / total if total else 1.0), split


async def run(args: argparse.Namespace) -> None:
    import bot.intel as intel
    from bot.intel import evidence
    from bot.search.embedded import EmbeddedSearch
    from bot.search.indexing import bulk_index
    from bot.search.opensearch import OpenSearchBackend

    builds = dataset(args.jobs, args.patterns, args.successes, args.seed)
    docs = [doc for build in builds for doc in build_documents(build)]
    print(
        f"data: {args.jobs} failed jobs, {args.patterns} patterns, {args.successes} successful "
        f"builds, {len(docs)} documents",
        file=sys.stderr,
    )
    phases = Phases()
    phases.wrap(intel, "uncategorized", "uncategorized report (server)")
    phases.wrap(intel, "fetch_evidence", "evidence msearch + parsing")
    phases.wrap(evidence, "normalize", "  of which normalising (bot CPU)")
    phases.wrap(intel, "cluster_jobs", "clustering (bot CPU)")
    phases.wrap(intel, "suggest", "suggest + verify (server)")
    async with await EmbeddedSearch.start() as search:
        backend = OpenSearchBackend(search.settings())
        try:
            await bulk_index(backend.client, docs)
            del docs
            tracemalloc.start()
            start = time.perf_counter()
            report = await intel.find_clusters(backend, [], days=5, queue="gate")
            elapsed = time.perf_counter() - start
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            await backend.close()
    for label, seconds in phases.seconds.items():
        print(f"  {label:36s} {seconds:7.2f} s")
    right, split = purity(report, builds)
    verified = sum(1 for s in report.suggestions.values() if s.verified)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"  {len(report.clusters)} clusters ({report.singletons} one-off builds), purity "
        f"{right:.1%}, {split} pattern(s) split, {verified} verified suggestions"
    )
    print(
        f"  python heap peak {peak / 2**20:.1f} MB (tracemalloc), process peak RSS {rss:.0f} MB"
        " (bot only; the server is another process)"
    )
    print(f"clusters: {report.uncategorized} jobs in {elapsed:.1f} s, peak {peak / 2**20:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--patterns", type=int, default=40)
    parser.add_argument("--successes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
