"""Classification on a real osmem server when one build or one query is bad: the others are
classified as ever, and the bad one is set apart with its reason."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from bot.bugs import Bug
from bot.queries import Query
from bot.queries.store import QueryStore
from bot.search.base import Body, Response, SearchQueryError
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


# --- a query the server refuses -----------------------------------------------------------

#: osmem refuses this as OpenSearch does (Lucene's parser wants a number after "^"). The repo
#: loader refuses it too now; here it stands for whatever a server refuses that got in.
REFUSED = query("1000009", 'message:"mirror unreachable"^')
FIXED = query("1000009", 'message:"mirror unreachable"')
QUOTA = query("1000001", 'message:"disk quota exceeded"')
OTHERS = [query(str(1000010 + n), f'message:"nothing like {n}"') for n in range(13)]


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_refused_query_is_set_apart_and_the_rest_classify(
    search: OpenSearchBackend, caplog: pytest.LogCaptureFixture
) -> None:
    await bulk_index(
        search.client,
        log_docs("a", 1, ["mirror unreachable", "disk quota exceeded"], change="3101")
        + log_docs("b", 2, ["disk quota exceeded"], change="3102"),
    )
    first, second = (
        recent_build(make_job("a", 1), change="3101"),
        recent_build(make_job("b", 2), change="3102"),
    )
    store = QueryStore([*OTHERS[:6], REFUSED, MIRROR, QUOTA, *OTHERS[6:]])
    counting = CountingBackend(search)
    classifier = Classifier(store)
    verdict = await classifier.classify(first, counting)
    assert verdict.bugs == ("1000001", "1000002")
    assert list(classifier.quarantined) == ["1000009"]
    assert classifier.quarantined["1000009"].startswith("Failed to parse query [")
    # Refused, one probe without queries, a bisection of 22 queries, and the answer.
    assert counting.searches <= 1 + 1 + 2 * 5 + 1
    [logged] = errors(caplog)
    assert logged.startswith("query 1000009 left out until it changes: the search server refuses")

    # Left out of later requests: one request each, no more probing, no more error lines.
    before = counting.searches
    assert (await classifier.classify(second, counting)).bugs == ("1000001",)
    assert counting.searches == before + 1
    assert "1000009" not in json.dumps(counting.bodies[-1])
    store.replace([*store.queries])  # a reload that does not change it: still left out
    await classifier.classify(second, counting)
    assert counting.searches == before + 2
    assert len(errors(caplog)) == 1

    assert len(classifier.queries) == len(store) - 1
    store.replace([*store.queries, query("1000099", 'message:"brand new"')])  # another changes
    assert "1000099" in classifier.queries.by_id
    assert list(classifier.quarantined) == ["1000009"]

    # The repo changes it: it is in again.
    store.replace([FIXED if q.id == REFUSED.id else q for q in store.queries])
    assert len(classifier.queries) == len(store)
    assert classifier.quarantined == {}
    assert (await classifier.classify(first, counting)).bugs == ("1000001", "1000002", "1000009")


async def test_builds_refused_at_once_search_for_the_culprit_once(
    search: OpenSearchBackend, caplog: pytest.LogCaptureFixture
) -> None:
    # osmem parses a query only when a document reaches it: every build has some.
    docs = log_docs("c", 3, ["mirror unreachable"], change="3103")
    for n in range(3):
        docs += log_docs(f"d{n}", 10 + n, ["fine"], change=str(3110 + n))
    await bulk_index(search.client, docs)
    builds = [recent_build(make_job("c", 3), change="3103")] + [
        recent_build(make_job(f"d{n}", 10 + n), change=str(3110 + n)) for n in range(3)
    ]
    counting = CountingBackend(search)
    classifier = Classifier([REFUSED, MIRROR, *OTHERS[:2]], batch_jobs=1)  # a request each
    verdicts = await asyncio.gather(*(classifier.classify(b, counting) for b in builds))
    assert [v.bugs for v in verdicts] == [("1000002",), (), (), ()]
    assert list(classifier.quarantined) == ["1000009"]
    assert len(errors(caplog)) == 1
    # 4 refused, then one search for the culprit (1 + 2 + 2), then 4 answers.
    assert counting.searches == 4 + 5 + 4


class RefusingEverything(CountingBackend):
    """A server that refuses every classification request, whatever its queries."""

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        self.searches += 1
        raise SearchQueryError("search server rejected the request (400): too_many_buckets")


async def test_a_refusal_no_query_explains_is_raised_not_quarantined(
    search: OpenSearchBackend,
) -> None:
    refusing = RefusingEverything(search)
    classifier = Classifier([MIRROR, QUOTA])
    with pytest.raises(SearchQueryError, match="too_many_buckets"):
        await classifier.classify(recent_build(make_job("e", 4)), refusing)
    assert classifier.quarantined == {}
    assert refusing.searches == 2  # the request, and one probe without queries


async def test_a_refused_query_that_says_script_keeps_the_pruning(
    search: OpenSearchBackend,
) -> None:
    await bulk_index(search.client, log_docs("f", 5, ["mirror unreachable"], change="3105"))
    javascript = query("1000008", 'message:"javascript error"^')  # "script" in the refusal
    counting = CountingBackend(search)
    classifier = Classifier([javascript, MIRROR])
    verdict = await classifier.classify(recent_build(make_job("f", 5), change="3105"), counting)
    assert verdict.bugs == ("1000002",)
    assert list(classifier.quarantined) == ["1000008"]
    assert "bucket_selector" in json.dumps(counting.bodies[-1])  # still pruned
