"""Classification on a real osmem server when one build or one query is bad: the others are
classified as ever, and the bad one is set apart with its reason."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.bugs import Bug
from bot.queries import Query
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.watch.classify import Classifier
from tests.support.builds import log_docs, make_job, recent_build
from tests.support.search import CountingBackend

#: What a millisecond eventCreatedOn became before parsing caught it, still in old journals.
YEAR_33658 = 1e12


def query(qid: str, lucene: str, **options: Any) -> Query:
    bug = Bug("launchpad", qid, f"https://bugs.launchpad.net/bugs/{qid}")
    return Query(id=qid, lucene=lucene, bug=bug, **options)


MIRROR = query("1000002", 'message:"mirror unreachable"')


async def test_an_unsearchable_build_is_not_ready_alone(search: OpenSearchBackend) -> None:
    await bulk_index(search.client, log_docs("good", 1, ["mirror unreachable"], change="3001"))
    good = recent_build(make_job("good", 1), change="3001")
    bad = recent_build(make_job("bad", 2), change="3002", created=YEAR_33658)
    counting = CountingBackend(search)
    classifier = Classifier([MIRROR])
    # Asked for in the same turn: they would share one request.
    good_verdict, bad_verdict = await asyncio.gather(
        classifier.classify(good, counting), classifier.classify(bad, counting)
    )
    assert good_verdict.bugs == ("1000002",)
    assert good_verdict.ready
    [job] = bad_verdict.jobs
    assert (job.status, job.bugs) == ("not-ready", ())
    assert "out of range" in job.missing[0]
    assert counting.round_trips == 1
