"""Uncategorized failures grouped by what their logs say: exact fingerprints, then similarity.

Each build's *signal* is the set of templates of its error lines and console tail, less the
background noise (what successful builds print too) and less the lines no other failed build
printed (they cannot group anything, only split).

1. Lines: templates that differ only in text the normaliser cannot know is variable (a quoted
   instance name) are folded into the most frequent of them (rapidfuzz ``ratio``).
2. Exact: builds with the same set of lines form a group (their fingerprint).
3. Similar: groups, largest first, join the cluster whose seed set they resemble most. Lines are
   weighted by rarity among the failed builds (idf), so a traceback header or a generic "the job
   failed" line shared by every failure does not glue two different failures together, while
   one extra line on some builds does not split a failure in two (a group joins a cluster when
   it printed nearly all of the cluster's seed lines, by weight). Each group is compared with the
   clusters' *seeds*, never with the groups that joined them, so no chain of small steps merges
   unrelated failures. A cluster needs a line of its own: builds that share only what other
   clusters print too are one-offs.

A cluster's id hashes its core (the lines most of its builds print), so the same failure keeps
its id from one run to the next, whatever the numbers, hosts and paths in its lines.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime

from rapidfuzz import fuzz, process

from bot.intel.evidence import EvidenceLine, JobEvidence
from bot.intel.normalize import fingerprint

#: Two templates at or above this rapidfuzz ``ratio`` (0-100, over their words) are one line:
#: one word in 20 may differ.
LINE_SIMILARITY = 95.0
#: A group joins a cluster when it printed this (weighted) share of the cluster's seed lines.
JOB_SIMILARITY = 0.8
#: Lines printed by more than this share of a cluster's builds are its core (and its id).
CORE_SHARE = 0.5
#: Weight of a line every failed build prints: small, so such lines still break ties.
_FLOOR = 0.05


@dataclass(frozen=True)
class Cluster:
    """Failed builds that failed the same way."""

    id: str
    lines: tuple[str, ...]  # core templates, most distinctive first
    jobs: tuple[JobEvidence, ...]  # newest first
    weights: tuple[float, ...]  # how telling each of ``lines`` is (idf among failed builds)
    coverage: tuple[float, ...]  # share of the builds printing each of ``lines``
    files: tuple[tuple[str, ...], ...]  # the files each of ``lines`` was seen in
    samples: tuple[str, ...]  # each of ``lines`` as the newest build logged it

    @property
    def size(self) -> int:
        return len(self.jobs)

    @property
    def uuids(self) -> tuple[str, ...]:
        return tuple(job.build.uuid for job in self.jobs)

    @property
    def job_names(self) -> tuple[str, ...]:
        return _by_count(job.build.job for job in self.jobs)

    @property
    def projects(self) -> tuple[str, ...]:
        return _by_count(job.build.project for job in self.jobs if job.build.project)

    @property
    def first_seen(self) -> datetime:
        return self.jobs[-1].build.timestamp

    @property
    def last_seen(self) -> datetime:
        return self.jobs[0].build.timestamp

    @property
    def sample(self) -> str:
        return self.samples[0] if self.samples else ""


@dataclass(frozen=True)
class Clustering:
    clusters: tuple[Cluster, ...]  # largest first
    singletons: tuple[JobEvidence, ...]  # in no cluster of ``min_size``
    silent: tuple[JobEvidence, ...]  # nothing but noise in their error lines and console tail


def _by_count(values: Iterable[str]) -> tuple[str, ...]:
    counts = Counter(values)
    return tuple(sorted(counts, key=lambda v: (-counts[v], v)))


def signal(job: JobEvidence, noise: Set[str]) -> tuple[EvidenceLine, ...]:
    """The lines that may say why ``job`` failed: error lines and console tail, less noise.

    The tail matters for jobs that died without an error line (a killed script, a timeout).
    """
    return tuple(line for line in job.errors + job.tail if line.template not in noise)


def canonical_lines(
    counts: Mapping[str, int], threshold: float = LINE_SIMILARITY
) -> dict[str, str]:
    """Each template → the most frequent template it is (nearly) equal to.

    Compared word by word (rapidfuzz on token lists), not character by character: "attach" and
    "detach" are two failures, however long the line around them; one word in twenty differing
    (a name the normaliser could not know is variable) is the same line.
    """
    canon: list[str] = []
    canon_tokens: list[list[str]] = []
    mapping: dict[str, str] = {}
    for template in sorted(counts, key=lambda t: (-counts[t], t)):
        tokens = template.split()
        found = process.extractOne(tokens, canon_tokens, scorer=fuzz.ratio, score_cutoff=threshold)
        mapping[template] = canon[found[2]] if found else template
        if not found:
            canon.append(template)
            canon_tokens.append(tokens)
    return mapping


def shared_keys(lines_by_build: Mapping[str, set[str]]) -> dict[str, frozenset[str]]:
    """Each build's lines, less those no other build printed."""
    df = Counter(line for lines in lines_by_build.values() for line in lines)
    return {
        uuid: frozenset(line for line in lines if df[line] > 1)
        for uuid, lines in lines_by_build.items()
    }


def idf(keys: Sequence[frozenset[str]], builds: Sequence[int]) -> dict[str, float]:
    """Weight of each line: rare among the failed builds = telling (``builds[i]`` per key)."""
    df: Counter[str] = Counter()
    for key, n in zip(keys, builds, strict=True):
        df.update(dict.fromkeys(key, n))
    total = sum(builds)
    return {line: math.log((1 + total) / (1 + count)) + _FLOOR for line, count in df.items()}


def similarity(group: frozenset[str], seed: frozenset[str], weight: Mapping[str, float]) -> float:
    """Weighted share of the cluster's seed lines that ``group`` printed too.

    Directional on purpose: builds that print everything a failure prints, plus a line (a
    rare warning), are that failure; builds that print only what the failure shares with
    others (the generic "job failed") are not.
    """
    total = sum(weight[line] for line in seed)
    return sum(weight[line] for line in group & seed) / total if total > 0 else 0.0


def own_lines(seed: frozenset[str], seeds: Sequence[frozenset[str]]) -> frozenset[str]:
    """Lines of ``seed`` in no other seed. Builds that share only lines other clusters print
    too (the generic "the job failed") failed in ways that have nothing in common.
    """
    others = frozenset().union(*(other for other in seeds if other is not seed))
    return seed - others


def merge_groups(
    groups: Mapping[frozenset[str], list[JobEvidence]],
    weight: Mapping[str, float],
    threshold: float = JOB_SIMILARITY,
) -> list[tuple[frozenset[str], list[JobEvidence]]]:
    """Groups → clusters: (seed set, builds). Largest groups seed first; deterministic."""

    def order(key: frozenset[str]) -> tuple[int, float, list[str]]:
        return (-len(groups[key]), -sum(weight[line] for line in key), sorted(key))

    clusters: list[tuple[frozenset[str], list[JobEvidence]]] = []
    for key in sorted(groups, key=order):
        scores = [similarity(key, seed, weight) for seed, _ in clusters]
        best = max(range(len(scores)), key=scores.__getitem__, default=None)
        if best is not None and scores[best] >= threshold:
            clusters[best][1].extend(groups[key])
        else:
            clusters.append((key, list(groups[key])))
    return clusters


def cluster_jobs(
    jobs: Sequence[JobEvidence],
    noise: Set[str] = frozenset(),
    *,
    min_size: int = 2,
    line_similarity: float = LINE_SIMILARITY,
    job_similarity: float = JOB_SIMILARITY,
) -> Clustering:
    """Group failed builds by their signal lines (see the module doc)."""
    signals = {job.build.uuid: signal(job, noise) for job in jobs}
    canon = canonical_lines(
        Counter(t for lines in signals.values() for t in {line.template for line in lines}),
        line_similarity,
    )
    keys = shared_keys(
        {uuid: {canon[line.template] for line in lines} for uuid, lines in signals.items()}
    )
    groups: dict[frozenset[str], list[JobEvidence]] = defaultdict(list)
    for job in jobs:
        if keys[job.build.uuid]:
            groups[keys[job.build.uuid]].append(job)
    weight = idf(list(groups.keys()), [len(members) for members in groups.values()])
    clusters: list[Cluster] = []
    singletons = [job for job in jobs if signals[job.build.uuid] and not keys[job.build.uuid]]
    merged = merge_groups(groups, weight, job_similarity)
    for seed, members in merged:
        if len(members) < min_size or not own_lines(seed, [other for other, _ in merged]):
            singletons += members
            continue
        used = {c.id for c in clusters}
        clusters.append(describe(seed, members, keys, signals, canon, weight, used))
    clusters.sort(key=lambda c: (-c.size, -c.last_seen.timestamp(), c.id))
    silent = tuple(job for job in jobs if not signals[job.build.uuid])
    return Clustering(tuple(clusters), tuple(_newest_first(singletons)), silent)


def describe(
    seed: frozenset[str],
    members: Sequence[JobEvidence],
    keys: Mapping[str, frozenset[str]],
    signals: Mapping[str, tuple[EvidenceLine, ...]],
    canon: Mapping[str, str],
    weight: Mapping[str, float],
    used: Set[str],
) -> Cluster:
    """A cluster of ``members``: its core lines, id, samples and files."""
    jobs = _newest_first(members)
    carried = Counter(line for job in jobs for line in keys[job.build.uuid])
    core = [line for line, n in carried.items() if n > CORE_SHARE * len(jobs)] or sorted(seed)
    core.sort(key=lambda line: (-weight[line], -carried[line], line))
    samples: dict[str, str] = {}
    files: dict[str, set[str]] = defaultdict(set)
    for job in jobs:
        for line in signals[job.build.uuid]:
            name = canon[line.template]
            samples.setdefault(name, line.message)
            if line.filename:
                files[name].add(line.filename)
    return Cluster(
        id=cluster_id(core, used),
        lines=tuple(core),
        jobs=tuple(jobs),
        weights=tuple(weight[line] for line in core),
        coverage=tuple(carried[line] / len(jobs) for line in core),
        files=tuple(tuple(sorted(files[line])) for line in core),
        samples=tuple(samples[line] for line in core),
    )


def cluster_id(core: Sequence[str], used: Set[str] = frozenset()) -> str:
    """``c-`` and 6 hex digits of the core's fingerprint (more if another cluster has those)."""
    digest = fingerprint(core)
    for width in range(6, len(digest) + 1, 2):
        found = f"c-{digest[:width]}"
        if found not in used:
            return found
    return f"c-{digest}"


def _newest_first(jobs: Sequence[JobEvidence]) -> list[JobEvidence]:
    return sorted(jobs, key=lambda job: (job.build.timestamp, job.build.uuid), reverse=True)
