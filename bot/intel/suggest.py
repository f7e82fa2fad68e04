"""A query for each cluster, checked against the search server before anyone sees it.

Candidates are the cluster's most distinctive core lines (see :mod:`bot.intel.cluster`), each cut
down to its longest run of words that no mask interrupts: that text is literally in every build
that printed the line, so a ``message:"..."`` phrase on it finds them all. When a line's builds
all logged it in one file, ``filename:`` narrows the query (cheaper, and more precise).

Each candidate is then measured over the last N days, all candidates of all clusters in one
msearch: builds hit by status (ER's rule: more than ~10 % successful builds = too broad), the
cluster's builds hit (recall), and the failed builds of the report's universe hit (a query that
also hits other clusters' failures would misfile them). The best candidate that passes is the
suggestion; clusters with none that passes get a second round of candidates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.bugs import untracked
from bot.intel.cluster import Cluster
from bot.intel.evidence import msearch_all
from bot.intel.normalize import MASK
from bot.intel.uncategorized import failed_builds_filter
from bot.queries import Query
from bot.queries.lucene import lucene_problems, quote
from bot.queries.tripleo import er_yaml
from bot.search.base import Response, SearchBackend
from bot.search.stats import query_string, since

#: ER's rule of thumb: a query whose hits are more than ~10 % successful builds is too broad.
MAX_SUCCESS_SHARE = 0.10
#: Share of the cluster's builds the query must hit.
MIN_RECALL = 0.9
#: Share of the failed builds it hits (in the report's queue) that must be the cluster's own.
MIN_SPECIFICITY = 0.9
#: Candidates per cluster and round; a second round only for clusters the first did not solve.
CANDIDATES = 3
ROUNDS = 2
MAX_PHRASE_WORDS = 10
MIN_PHRASE_WORDS = 2
MIN_PHRASE_CHARS = 12
#: Words that say nothing about which failure it is (log levels, placeholders).
_GENERIC = frozenset(
    {"error", "errors", "warning", "info", "debug", "critical", "trace", "fatal", "none", "null"}
)
_WORD = re.compile(r"[^\W_]{2,}")
#: Characters that always end a word for Lucene's standard tokenizer (UAX#29).
_SPLITS = frozenset('[](){}<>",;=!?/\\|#$%^&*+~-@')


@dataclass(frozen=True)
class Candidate:
    lucene: str
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class Measured:
    """What a candidate hit over the window (builds, not log lines)."""

    cluster_hits: int
    cluster_size: int
    failure: int  # failed builds, any queue
    success: int  # successful builds, any queue
    universe: int  # failed builds of the report's universe (queue, voting)
    took_ms: int | None = None

    @property
    def recall(self) -> float:
        return self.cluster_hits / self.cluster_size if self.cluster_size else 0.0

    @property
    def success_share(self) -> float:
        hit = self.failure + self.success
        return self.success / hit if hit else 0.0

    @property
    def precision(self) -> float:
        """Share of the builds it hits that failed."""
        hit = self.failure + self.success
        return self.failure / hit if hit else 0.0

    @property
    def specificity(self) -> float:
        return self.cluster_hits / self.universe if self.universe else 0.0


@dataclass(frozen=True)
class Suggestion:
    """The verified query for a cluster, or why there is none."""

    cluster_id: str
    days: int
    query: Query | None = None
    measured: Measured | None = None  # of ``query``, or of the best rejected candidate
    reason: str = ""  # why nothing passed

    @property
    def verified(self) -> bool:
        return self.query is not None

    @property
    def yaml(self) -> str:
        """The ER-format file to commit as ``queries/<id>.yaml`` (empty when unverified)."""
        return er_yaml(self.query) if self.query else ""


# --- candidates: pure -----------------------------------------------------------------------


def phrase_runs(template: str) -> list[list[str]]:
    """Runs of text of ``template`` that no mask interrupts, as tokens.

    A token holding a mask keeps what a search would see as whole words around it: ``[req-<UUID>``
    ends a run with ``[req-``. It is cut only after a character that always splits words in
    Lucene's standard tokenizer (not after ``.``/``:``/``_``, which may join them).
    """
    runs: list[list[str]] = [[]]
    for token in template.split():
        masks = list(MASK.finditer(token))
        if not masks:
            runs[-1].append(token)
            continue
        head = _cut_after_break(token[: masks[0].start()])
        tail = _cut_before_break(token[masks[-1].end() :])
        if head:
            runs[-1].append(head)
        runs.append([tail] if tail else [])
    return [run for run in runs if run]


def _cut_after_break(text: str) -> str:
    """``text`` up to its last word-splitting character (all of it: "" when there is none)."""
    cut = max((i for i, c in enumerate(text) if c in _SPLITS), default=-1)
    return text[: cut + 1]


def _cut_before_break(text: str) -> str:
    cut = next((i for i, c in enumerate(text) if c in _SPLITS), len(text))
    return text[cut:]


def _words(tokens: Sequence[str]) -> int:
    """Words of two letters or more (``nova.compute.manager`` is three)."""
    return sum(len(_WORD.findall(token)) for token in tokens)


def _trim(run: list[str]) -> list[str]:
    """The run without generic or wordless tokens at its ends, at most MAX_PHRASE_WORDS long."""

    def dull(token: str) -> bool:
        return not _WORD.search(token) or token.strip("[]():,.'\"").lower() in _GENERIC

    start, end = 0, len(run)
    while start < end and dull(run[start]):
        start += 1
    while end > start and dull(run[end - 1]):
        end -= 1
    return run[start:end][:MAX_PHRASE_WORDS]


def line_phrases(template: str) -> list[str]:
    """The template's unmasked runs of words that say something, best (longest) first."""
    runs = [_trim(run) for run in phrase_runs(template)]
    runs = [run for run in runs if _words(run) >= MIN_PHRASE_WORDS]
    runs.sort(key=lambda run: (-_words(run), -len(" ".join(run))))
    phrases = [" ".join(run) for run in runs]
    return [p for p in phrases if len(p) >= MIN_PHRASE_CHARS]


def _clause(phrases: Sequence[str], files: Sequence[str]) -> str:
    clauses = [f"message:{quote(p)}" for p in phrases]
    if len(files) == 1:
        clauses.append(f"filename:{quote(files[0])}")
    return " AND ".join(clauses)


def candidates(cluster: Cluster) -> list[Candidate]:
    """Queries from the core lines, most promising first: each line's best phrase, then its
    two best together (one line each: a query matches one log document, so phrases of two
    lines never meet). Lines most builds print come first; among them the rarest (most
    telling), then the longest phrase.
    """
    phrases_of = [line_phrases(line)[:2] for line in cluster.lines]

    def order(i: int) -> tuple[bool, float, int]:
        words = sum(_words(p.split()) for p in phrases_of[i][:1])
        return (cluster.coverage[i] < MIN_RECALL, -round(cluster.weights[i], 6), -words)

    found: dict[str, Candidate] = {}
    for i in sorted(range(len(cluster.lines)), key=order):
        for width in (1, 2):
            phrases = phrases_of[i][:width]
            lucene = _clause(phrases, cluster.files[i])
            if len(phrases) == width and lucene not in found and not lucene_problems(lucene):
                found[lucene] = Candidate(lucene, tuple(phrases))
    return list(found.values())[: CANDIDATES * ROUNDS]


# --- measuring: pure bodies and parsing -----------------------------------------------------


def _distinct_builds() -> dict[str, Any]:
    return {"builds": {"cardinality": {"field": "build_uuid", "precision_threshold": 40000}}}


def verify_body(
    lucene: str, uuids: Sequence[str], *, days: int, queue: str | None
) -> dict[str, Any]:
    """Builds ``lucene`` hits in the window: by status, of the cluster, of the failure universe."""
    universe = {"bool": {"filter": failed_builds_filter(days, queue)}}
    return {
        "size": 0,
        "query": {"bool": {"must": [query_string(lucene)], "filter": [since(days)]}},
        "aggs": {
            "status": {"terms": {"field": "build_status", "size": 10}, "aggs": _distinct_builds()},
            "cluster": {
                "filter": {"terms": {"build_uuid": list(uuids)}},
                "aggs": _distinct_builds(),
            },
            "universe": {"filter": universe, "aggs": _distinct_builds()},
        },
    }


def parse_verify(response: Response, cluster_size: int) -> Measured | None:
    """The measures, or None when the server refused this one search."""
    if "error" in response or "aggregations" not in response:
        return None
    aggs = response["aggregations"]
    status = {str(b["key"]): int(b["builds"]["value"]) for b in aggs["status"]["buckets"]}
    took = response.get("took")
    return Measured(
        cluster_hits=min(cluster_size, int(aggs["cluster"]["builds"]["value"])),
        cluster_size=cluster_size,
        failure=status.get("FAILURE", 0),
        success=status.get("SUCCESS", 0),
        universe=int(aggs["universe"]["builds"]["value"]),
        took_ms=int(took) if isinstance(took, int | float) else None,
    )


def rejection(measured: Measured) -> str | None:
    """Why a measured candidate may not be suggested, or None when it may."""
    if measured.recall < MIN_RECALL:
        return f"hits {measured.cluster_hits} of the cluster's {measured.cluster_size} builds"
    if measured.success_share > MAX_SUCCESS_SHARE:
        return f"{measured.success_share:.0%} of the builds it hits succeeded (limit 10 %)"
    if measured.specificity < MIN_SPECIFICITY:
        others = measured.universe - measured.cluster_hits
        return f"also hits {others} failed builds outside the cluster"
    return None


def _rank(item: tuple[Candidate, Measured]) -> tuple[bool, float, float, float, int]:
    candidate, measured = item
    # Misfiling other failures is worse than missing a few of the cluster's builds.
    return (
        rejection(measured) is None,
        measured.specificity,
        measured.recall,
        -measured.success_share,
        -len(candidate.lucene),
    )


def choose(cluster: Cluster, tried: Sequence[tuple[Candidate, Measured]], days: int) -> Suggestion:
    """The best passing candidate as a query, or the best rejected one and why."""
    if not tried:
        return Suggestion(cluster.id, days, reason="no line of the cluster has a telling phrase")
    candidate, measured = max(tried, key=_rank)
    reason = rejection(measured)
    if reason is not None:
        return Suggestion(cluster.id, days, measured=measured, reason=reason)
    return Suggestion(cluster.id, days, query=as_query(cluster, candidate), measured=measured)


def as_query(cluster: Cluster, candidate: Candidate) -> Query:
    title = candidate.phrases[0][:100]
    return Query(id=cluster.id, lucene=candidate.lucene, bug=untracked(cluster.id), title=title)


# --- the round trips ------------------------------------------------------------------------


async def measure(
    backend: SearchBackend,
    tries: Sequence[tuple[Cluster, Candidate]],
    *,
    days: int,
    queue: str | None,
) -> list[Measured | None]:
    """Each candidate's measures (as its query will run: ``voting:1`` implied), one msearch."""
    bodies = [
        verify_body(as_query(c, cand).effective, c.uuids, days=days, queue=queue)
        for c, cand in tries
    ]
    responses = await msearch_all(backend, bodies)
    return [parse_verify(r, c.size) for r, (c, _) in zip(responses, tries, strict=True)]


async def suggest(
    backend: SearchBackend,
    clusters: Sequence[Cluster],
    *,
    days: int,
    queue: str | None,
) -> dict[str, Suggestion]:
    """A verified suggestion (or the reason for none) per cluster id."""
    tried: dict[str, list[tuple[Candidate, Measured]]] = {c.id: [] for c in clusters}
    every = {c.id: candidates(c) for c in clusters}
    todo = list(clusters)
    for n in range(ROUNDS):
        batch = {c.id: every[c.id][n * CANDIDATES : (n + 1) * CANDIDATES] for c in todo}
        await _round(backend, todo, batch, tried, days=days, queue=queue)
        todo = [c for c in todo if not _passed(tried[c.id])]
    return {c.id: choose(c, tried[c.id], days) for c in clusters}


async def _round(
    backend: SearchBackend,
    clusters: Sequence[Cluster],
    candidates_by_id: Mapping[str, Sequence[Candidate]],
    tried: dict[str, list[tuple[Candidate, Measured]]],
    *,
    days: int,
    queue: str | None,
) -> None:
    tries = [(c, cand) for c in clusters for cand in candidates_by_id.get(c.id, ())]
    if not tries:
        return
    for (cluster, cand), measured in zip(
        tries, await measure(backend, tries, days=days, queue=queue), strict=True
    ):
        if measured is not None:
            tried[cluster.id].append((cand, measured))


def _passed(tried: Sequence[tuple[Candidate, Measured]]) -> bool:
    return any(rejection(m) is None for _, m in tried)
