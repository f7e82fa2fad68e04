"""The graph benchmark's data: queries of several shapes, and builds over the days whose log
lines carry their bugs (Zipf-distributed over the queries), ~25 logstash fields a line."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from bot.bugs import Bug
from bot.queries import Query
from bot.search.synth import matching_fields

ROUTINE_LINES = 5  # lines no query matches: they cost the server a scan, nobody bytes
JOBS = (
    "tempest-full-py3",
    "grenade",
    "nova-ceph-multistore",
    "neutron-tempest-plugin",
    "tox-py311",
)
PROJECTS = ("openstack/nova", "openstack/neutron", "openstack/cinder", "openstack/glance")
WORDS = (
    "timeout",
    "refused",
    "vif",
    "plugging",
    "volume",
    "detach",
    "rabbit",
    "mysql",
    "ssh",
    "dns",
)
TEMPLATES = (
    'message:"{p}" AND tags:"console"',
    'message:"{p}" AND tags:"screen-n-cpu.txt"',
    'message:"{p}" AND (tags:"console" OR tags:"job-output.txt")',
    'message:"{p}" AND build_name:"{job}"',
)


def make_queries(n: int, rng: random.Random) -> list[Query]:
    queries = []
    for i in range(n):
        phrase = f"E{i:04d} {rng.choice(WORDS)} {rng.choice(WORDS)} failed"
        lucene = TEMPLATES[i % len(TEMPLATES)].format(p=phrase, job=JOBS[i % len(JOBS)])
        qid = str(2_000_000 + i)
        ref = Bug("launchpad", qid, f"https://bugs.launchpad.net/bugs/{qid}")
        queries.append(Query(id=qid, lucene=lucene, bug=ref))
    return queries


def make_documents(
    queries: list[Query], total: int, days: int, now: datetime, rng: random.Random
) -> Iterator[dict[str, Any]]:
    """About ``total`` log lines: builds over ``days`` days, 80 % of them carrying a bug."""
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(queries))]
    produced = 0
    while produced < total:
        carried = rng.choices(queries, weights)[0] if rng.random() < 0.8 else None
        fields = dict(matching_fields(carried.lucene)) if carried else {}
        job = str(fields.pop("build_name", rng.choice(JOBS)))
        failed = carried is not None and rng.random() < 0.85
        start = now - timedelta(hours=rng.uniform(0.1, days * 24 - 0.5))
        base = build_fields(job, "FAILURE" if failed else "SUCCESS", rng)
        lines: list[dict[str, Any]] = [
            {"message": f"{rng.choice(WORDS)} step {n} ok: {uuid.UUID(int=rng.getrandbits(128))}"}
            for n in range(ROUTINE_LINES)
        ]
        if carried:
            repeats = min(max(int(rng.lognormvariate(2.3, 0.8)), 1), 200)
            lines += [{**fields, "loglevel": "ERROR"} for _ in range(repeats)]
        for n, line in enumerate(lines):
            when = start + timedelta(seconds=n * 3600 / len(lines))  # builds take about an hour
            yield {**base, **line, "@timestamp": when.isoformat(timespec="milliseconds")}
        produced += len(lines)


def build_fields(job: str, status: str, rng: random.Random) -> dict[str, Any]:
    """What ci-log-processing puts on every line of a build."""
    build = uuid.UUID(int=rng.getrandbits(128)).hex
    change = str(rng.randint(800000, 960000))
    patchset = str(rng.randint(1, 12))
    queue = rng.choice(("gate", "check", "check"))
    return {
        "build_uuid": build,
        "build_short_uuid": build[:7],
        "build_name": job,
        "build_status": status,
        "build_queue": queue,
        "build_branch": "master",
        "build_change": change,
        "build_patchset": patchset,
        "build_ref": f"refs/changes/{change[-2:]}/{change}/{patchset}",
        "build_newrev": uuid.UUID(int=rng.getrandbits(128)).hex + "00000000",
        "build_node": "ubuntu-jammy",
        "build_set": uuid.UUID(int=rng.getrandbits(128)).hex,
        "build_zuul_url": "N/A",
        "project": rng.choice(PROJECTS),
        "voting": "1",
        "tenant": "openstack",
        "node_provider": rng.choice(("rax-dfw", "ovh-bhs1", "vexxhost-ca-ymq-1")),
        "zuul_executor": f"ze0{rng.randint(1, 9)}.opendev.org",
        "log_url": f"https://logs.example.org/{change[-2:]}/{change}/{patchset}/{queue}/{job}/{build[:7]}/job-output.txt",
        "filename": "job-output.txt",
        "tags": ["console", "job-output.txt", "screen-n-cpu.txt"],
        "module": "zuul.executor",
        "loglevel": "INFO",
    }
