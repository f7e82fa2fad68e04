"""The evidence of a verdict: the lines each matching query hit, from the classification request
itself (both document layouts, on a real osmem server), cut and cleaned where they are read."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.bugs import Bug
from bot.queries import Query
from bot.search.base import Body, Response, SearchQueryError
from bot.search.lines import LINE_FIELDS, MAX_CHARS, LogLine, clean, read_hits, read_line
from bot.search.opensearch import OpenSearchBackend
from bot.search.schema import Schema
from bot.watch.classify import LINES_PER_QUERY, Classifier, classify_body
from tests.support.builds import (
    LOG_HOST,
    NOW,
    WriteLogs,
    job_url,
    log_docs,
    make_job,
    recent_build,
    uuid_of,
)
from tests.support.search import CountingBackend

MIRROR = "1000002"
QUOTA = "1000001"
QUIET = "1000005"


def query(qid: str, lucene: str, **options: Any) -> Query:
    bug = Bug("launchpad", qid, f"https://bugs.launchpad.net/bugs/{qid}")
    return Query(id=qid, lucene=lucene, bug=bug, **options)


QUERIES = [
    query(QUOTA, 'message:"disk quota exceeded"'),
    query(MIRROR, 'message:"mirror unreachable"'),
    query("1000003", 'message:"never logged by anyone"'),
    query(QUIET, 'message:"Requirement" AND message:"does not match"', suppress_notification=True),
]


class ScriptRefusing(CountingBackend):
    """A cluster that forbids inline scripts: no bucket_selector, every query's bucket returns."""

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        if "bucket_selector" in str(body):
            self.searches += 1
            raise SearchQueryError("search server rejected the request (400): scripts disabled")
        return await super().search(body, index=index)


# --- the request and the reading of lines: pure -------------------------------------------------


def test_each_query_bucket_asks_for_its_first_lines_with_only_the_fields_shown() -> None:
    body = classify_body(recent_build(make_job("a", 1)), QUERIES)
    per_build = body["aggs"]["jobs"]["aggs"]["build"]["aggs"]
    lines = per_build["q"]["aggs"]["lines"]["top_hits"]
    assert lines == {
        "size": LINES_PER_QUERY,
        "sort": [{"@timestamp": {"order": "asc"}}],
        "_source": list(LINE_FIELDS),
    }
    assert "hit" in per_build["q"]["aggs"]  # still pruned to the queries that hit
    unpruned = classify_body(recent_build(make_job("a", 1)), QUERIES, prune=False)
    assert unpruned["aggs"]["jobs"]["aggs"]["build"]["aggs"]["q"]["aggs"] == {
        "lines": {"top_hits": lines}
    }
    assert {"end", "files"} <= set(per_build)  # readiness in the same request


def test_a_line_from_either_layout() -> None:
    er = {
        "message": "mirror unreachable",
        "filename": "logs/syslog.txt",
        "log_url": f"{LOG_HOST}/x/grenade/abcdef0/console.html",
        "@timestamp": "2024-05-01T10:00:00Z",
    }
    logsender = {
        "message": "mirror unreachable",
        "log_url": f"{LOG_HOST}/x/grenade/abcdef0/logs/syslog.txt",
        "@timestamp": "2024-05-01T10:00:00Z",
    }
    expected = LogLine(
        "mirror unreachable",
        "logs/syslog.txt",
        f"{LOG_HOST}/x/grenade/abcdef0/logs/syslog.txt",
        "2024-05-01T10:00:00Z",
    )
    assert read_line(er) == expected
    # No filename field: the file's name is the last part of its own log URL.
    assert read_line(logsender) == LogLine(
        "mirror unreachable", "syslog.txt", expected.url, expected.logged
    )
    legacy = {"@message": "old", "@fields": {"filename": "console.html"}}
    assert read_line(legacy) == LogLine("old", "console.html")


def test_hostile_lines_are_cut_and_lose_their_control_characters() -> None:
    text = "\x1b[31mERROR\x1b[0m mirror\r\nPRIVMSG #x :owned\u202e txt.exe\x00\x07 " + "y" * 1000
    cleaned = clean(text)
    assert cleaned.startswith("ERROR mirror PRIVMSG #x :owned txt.exe yyy")
    assert len(cleaned) == MAX_CHARS
    assert cleaned.endswith("…")
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in cleaned)
    hits = {"hits": {"hits": [{"_source": {"message": text}}, {"_source": {"message": "\r\n"}}]}}
    assert read_hits(hits) == (LogLine(cleaned),)  # a line with nothing left is dropped
    javascript = read_line({"message": "x", "log_url": "javascript:alert(1)//" + "a" * 3000})
    assert javascript.url is None  # too long to be a log server's


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=400),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_FIELDS = st.sampled_from([*LINE_FIELDS, "@message", "@fields", "tags"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_FIELDS, _VALUES, max_size=5))
def test_any_hit_reads_as_a_short_printable_line(source: dict[str, Any]) -> None:
    line = read_line(source)
    for text in (line.message, line.file, line.logged):
        assert len(text) <= MAX_CHARS
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in text)


# --- on osmem, in both layouts ------------------------------------------------------------------


async def test_the_lines_come_in_the_one_classification_round_trip(
    search: OpenSearchBackend, write_logs: WriteLogs, schema: Schema
) -> None:
    mirror = [f"ERROR: mirror unreachable, attempt {n}" for n in range(1, 6)]
    later = NOW - timedelta(minutes=20)  # after the console's lines
    await write_logs(
        log_docs("grenade", 2, ["starting", *mirror[:2]])
        + log_docs("grenade", 2, mirror[2:], filename="logs/grenade.sh.txt", end=None, when=later)
        + log_docs("tox-py3", 3, ["OSError: disk quota exceeded", "Requirement x does not match"])
    )
    build = recent_build(make_job("grenade", 2), make_job("tox-py3", 3))
    counting = CountingBackend(search)
    verdict = await Classifier(QUERIES).classify(build, counting)
    assert counting.round_trips == 1
    grenade, tox = verdict.jobs
    assert grenade.bugs == (MIRROR,)
    assert list(grenade.lines) == [MIRROR]
    # The first lines the query hit, oldest first, at most three, each with its file.
    first = grenade.lines[MIRROR]
    assert [line.message for line in first] == mirror[:3]
    assert [line.file for line in first] == [
        "job-output.txt",
        "job-output.txt",
        "logs/grenade.sh.txt",
    ]
    assert first[0].url == job_url("grenade", 2) + "job-output.txt"
    assert first[2].url == job_url("grenade", 2) + "logs/grenade.sh.txt"
    assert all(line.logged for line in first)
    # A suppressed query keeps its line too (shown by the CLI, never announced).
    assert (tox.bugs, tox.suppressed) == ((QUOTA,), (QUIET,))
    assert [line.message for line in tox.lines[QUOTA]] == ["OSError: disk quota exceeded"]
    assert [line.message for line in tox.lines[QUIET]] == ["Requirement x does not match"]
    assert uuid_of(2) == grenade.build_uuid


async def test_lines_from_the_logs_are_clean_in_the_verdict(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    hostile = "\x1b[1;31mERROR\x1b[0m: mirror unreachable\r\nNOTICE #chan :" + "z" * 2000
    await write_logs(log_docs("grenade", 2, [hostile]))
    verdict = await Classifier(QUERIES).classify(recent_build(make_job("grenade", 2)), search)
    (line,) = verdict.jobs[0].lines[MIRROR]
    assert line.message.startswith("ERROR: mirror unreachable NOTICE #chan :zzz")
    assert len(line.message) == MAX_CHARS


async def test_without_pruning_the_lines_are_the_same(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    await write_logs(log_docs("grenade", 2, ["mirror unreachable", "disk quota exceeded"]))
    build = recent_build(make_job("grenade", 2))
    pruned = await Classifier(QUERIES).classify(build, search)
    refusing = ScriptRefusing(search)
    unpruned = await Classifier(QUERIES).classify(build, refusing)
    assert refusing.searches == 2  # refused once, then without the script
    assert unpruned.jobs[0].lines == pruned.jobs[0].lines
    assert set(pruned.jobs[0].lines) == {QUOTA, MIRROR}  # not the queries that did not hit


async def test_builds_classified_together_keep_their_own_lines(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    await write_logs(
        log_docs("grenade", 2, ["mirror unreachable from build one"])
        + log_docs("grenade", 3, ["mirror unreachable from build two"], change="2002")
    )
    one = recent_build(make_job("grenade", 2))
    two = recent_build(make_job("grenade", 3), change="2002")
    counting = CountingBackend(search)
    classifier = Classifier(QUERIES)
    first, second = await asyncio.gather(
        classifier.classify(one, counting), classifier.classify(two, counting)
    )
    assert counting.round_trips == 1  # asked in the same turn: one request for both
    assert first.jobs[0].lines[MIRROR][0].message == "mirror unreachable from build one"
    assert second.jobs[0].lines[MIRROR][0].message == "mirror unreachable from build two"
