"""What a demo dataset's jobs choose besides the main random sequence: a known bug's line in a
passing job, a query that stops hitting, a new error; and, without a draw, which queries fit a
job (a query naming tempest tests fits the jobs that run tempest).

These choices draw from a second random sequence (:attr:`Choices.extra`), so a dataset made
without them is the one made before they existed: the tests and the docs that count what the
demo replays stay true.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.queries import Query
from bot.search.synth import matching_fields

#: Share of the jobs (of queries naming no job or project) the stopped query takes before it stops.
STOPPED_SHARE = 1 / 3
#: Share of the unrecognized failures the new error takes once it started.
NEW_ERROR_SHARE = 0.7
#: The error that starts with ``new_error_days``: most unrecognized failures from then on.
NEW_ERROR = "ERROR: Timed out waiting for a reply to message ID 4f1c from the placement service"
#: The demo's jobs (and those queries name) that run tempest: they have test results.
TEMPEST_JOBS = frozenset(
    {"tempest-full-py3", "grenade", "nova-ceph-multistore", "nova-live-migration"}
)


def runs_tempest(job: str) -> bool:
    """Whether a demo job runs tempest (a unit-test or functional job does not)."""
    return job in TEMPEST_JOBS or job.startswith("tempest-")


@dataclass(frozen=True)
class Choices:
    """What a dataset's jobs pick from, besides the main random sequence: extra choices draw
    from a second sequence, so a dataset without them is the same as before they existed."""

    queries: list[Query]
    extra: random.Random
    passing_hits: float = 0.0
    stopped: str | None = None  # the query that stops hitting ...
    stopped_since: datetime | None = None  # ... from then on
    new_error_since: datetime | None = None  # when NEW_ERROR starts

    def query(self, chosen: Query, started: datetime) -> Query:
        """``chosen``, or another when it is the stopped query and the job ran since; before,
        the stopped query is a frequent one (it takes a third of the jobs of queries that name
        no job or project: the job and its buildset stay what they were)."""
        if self.stopped is None or self.stopped_since is None:
            return chosen
        if started >= self.stopped_since:
            if chosen.id != self.stopped:
                return chosen
            return next(q for q in self.queries if q.id != self.stopped and not names_build(q))
        if names_build(chosen) or self.extra.random() >= STOPPED_SHARE:
            return chosen
        return next(q for q in self.queries if q.id == self.stopped)

    def unknown_error(self, chosen: str, started: datetime) -> str:
        """``chosen``, or the new error now and then once it started."""
        if self.new_error_since is None or started < self.new_error_since:
            return chosen
        return NEW_ERROR if self.extra.random() < NEW_ERROR_SHARE else chosen

    def passing_bug(self, started: datetime) -> Query | None:
        """A known bug's query whose line a passing job carries, now and then."""
        if not self.passing_hits or self.extra.random() >= self.passing_hits:
            return None
        # Not those that name a project: a passing job cannot move its buildset elsewhere.
        fit = [q for q in self.queries if "project" not in matching_fields(q.lucene)]
        return self.query(self.extra.choice(fit), started) if fit else None

    def for_job(self, chosen: Query, job: str, uuid: str) -> Query:
        """``chosen``, unless its ``test_ids`` name tempest tests and ``job`` runs none: then
        another query that names no test, job or project (picked by the job's uuid, no draw),
        so that a bug's tests fail only where they ran. The job keeps its project and voting."""
        if not chosen.test_ids or names_build(chosen) or runs_tempest(job):
            return chosen
        fit = [
            q
            for q in self.queries
            if not q.test_ids
            and not names_build(q)
            and q.id != self.stopped
            and q.allow_nonvoting == chosen.allow_nonvoting
        ]
        return fit[int(uuid[:8], 16) % len(fit)] if fit else chosen


def names_build(query: Query) -> bool:
    """Whether the query names a job or a project: a line of it renames the job or moves it."""
    return bool({"build_name", "project"} & set(matching_fields(query.lucene)))


def stopped_query(queries: Sequence[Query]) -> str | None:
    """The id of the query that stops hitting with ``stopped_days``: the last the demo can make
    lines for that names no job or project (None: it needs another such query to use instead)."""
    usable = [q for q in queries if matching_fields(q.lucene).get("message")]
    plain = [q.id for q in usable if not names_build(q)]
    return max(plain) if len(plain) > 1 else None
