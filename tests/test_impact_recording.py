"""Recheck comments and CI reports recognised in Gerrit events, and the watch path journaling
them (intake and pipeline, with the real impact journal): what the impact is counted from."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.bugs import jira, launchpad
from bot.events.model import FailedBuild
from bot.events.parse import Skip, parse_event
from bot.events.recheck import CiReport, Recheck, change_event, recheck_word
from bot.events.replay import ReplaySource
from bot.events.source import RawEvent
from bot.impact_store import ImpactJournal
from bot.intel.impact import gather_impact
from bot.state import StateStore
from bot.watch.intake import Intake
from bot.watch.outcome import JobResult, Outcome
from bot.watch.pipeline import Pipeline
from bot.watch.recording import ImpactRecorder, judged_build
from bot.watch.routing import parse_channels
from tests.support.events import SAMPLES, gerrit_fixture, sample
from tests.support.outlet import FakeOutlet

CI = ("zuul", "jenkins")
LP, JIRA = launchpad("1716008"), jira("OSPRH-9")


def event(comment: str, *, author: str = "jdev", change: Any = 904321, ps: Any = 4) -> RawEvent:
    data = {
        "type": "comment-added",
        "author": {"name": author.title(), "username": author},
        "comment": comment,
        "change": {"project": "openstack/nova", "number": change},
        "patchSet": {"number": ps},
        "eventCreatedOn": 1702052000,
    }
    return RawEvent("opendev", data)


@pytest.mark.parametrize(
    ("comment", "word"),
    [
        ("recheck", "recheck"),
        ("Patch Set 4:\n\nrecheck", "recheck"),
        ("Patch Set 4: Code-Review+1\n\nrecheck bug 1716008", "recheck"),
        ("Patch Set 4: Workflow+1 recheck", "recheck"),  # Zuul's pattern takes it too
        ("  Recheck: tempest timed out", "recheck"),
        ("Patch Set 2:\n\nreverify", "reverify"),
        ("please recheck", None),  # not at the start: Zuul does nothing
        ("Patch Set 4:\n\n(1 comment)\n\nrecheck", None),  # nor after inline comments
        ("Looks good", None),
        ("", None),
    ],
)
def test_recheck_words_as_zuul_triggers_on_them(comment: str, word: str | None) -> None:
    assert recheck_word(comment) == word


#: OpenDev's check pipeline trigger, as its zuul.yaml writes it: the reference for recheck_word.
ZUUL_TRIGGER = re.compile(r"(?i)^(Patch Set [0-9]+:)?( [\w\\+-]*)*(\n\n)?\s*(recheck|reverify)")
PIECES = [" ", "\n", "\t", "a", "+", "-", "\\", ":", "(", "recheck", "REVERIFY", "Patch Set 1:"]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=10).map("".join))
def test_recheck_word_agrees_with_zuuls_trigger(comment: str) -> None:
    found = ZUUL_TRIGGER.match(comment)
    assert recheck_word(comment) == (found[4].lower() if found else None)


def test_the_recorded_stream_has_one_recheck() -> None:
    lines = (SAMPLES / "stream.jsonl").read_text(encoding="utf-8").splitlines()
    found = []
    for line in lines:
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            found.append(change_event(RawEvent("opendev", data), CI))
    rechecks = [e for e in found if isinstance(e, Recheck)]
    assert rechecks == [Recheck("opendev", "904321", "4", 1702052000.0, "jdev", "recheck")]


def test_ci_reports_that_are_no_failed_build() -> None:
    passed = change_event(RawEvent("opendev", sample("zuul_build_succeeded.json")), CI)
    assert isinstance(passed, CiReport)
    assert passed.kind == "build succeeded"
    conflict = change_event(RawEvent("opendev", sample("zuul_merge_conflict.json")), CI)
    assert isinstance(conflict, CiReport)
    assert conflict.kind == "merge conflict"
    # ER's recorded Jenkins-era reports: every "Build succeeded." is one.
    reports = [change_event(RawEvent("review", e), CI) for e in gerrit_fixture()]
    assert sum(isinstance(r, CiReport) and r.kind == "build succeeded" for r in reports) == 7


def test_what_is_neither() -> None:
    assert change_event(event("Patch Set 1:\n\nStarting check jobs.", author="zuul"), CI) is None
    assert change_event(event("recheck", author="zuul"), CI) is None  # CI does not recheck
    assert change_event(event("recheck", change="12x"), CI) is None
    assert change_event(event("recheck", ps=None), CI) is None
    assert change_event(RawEvent("opendev", {"type": "patchset-created"}), CI) is None
    mqtt = RawEvent("mqtt", {"type": "comment-added", "comment": "recheck"}, kind="zuul-mqtt")
    assert change_event(mqtt, CI) is None
    older_gerrit = change_event(event("recheck", change="904321", ps="4"), CI)
    assert isinstance(older_gerrit, Recheck)
    assert (older_gerrit.change, older_gerrit.patchset) == ("904321", "4")


# --- the watch path writes the facts ----------------------------------------------------------


def gate_failure() -> tuple[RawEvent, FailedBuild]:
    raw = RawEvent("opendev", sample("zuul_gate_failed.json"))
    build = parse_event(raw, ci_accounts=CI)
    assert isinstance(build, FailedBuild)
    return raw, build


def verdict(build: FailedBuild) -> Outcome:
    """Both bugs on the failed job (``neutron-tempest-plugin-ovn ... FAILURE in 1h 48m 11s``)."""
    (job,) = build.failed_jobs
    return Outcome(jobs=(JobResult(job.name, (LP, JIRA), job.url),))


def test_a_verdict_becomes_facts_with_the_job_durations() -> None:
    _, build = gate_failure()
    fact, labels = judged_build(build, verdict(build))
    assert fact.key == "opendev/903210,3/gate@1702137600"
    assert [(j.name, j.seconds, j.bugs) for j in fact.jobs] == [
        ("neutron-tempest-plugin-ovn", 6491.0, ("launchpad:1716008", "jira:OSPRH-9"))
    ]
    assert [label.url for label in labels] == [LP.url, JIRA.url]


async def test_intake_and_pipeline_journal_a_rechecked_gate_failure(tmp_path: Path) -> None:
    raw, build = gate_failure()
    recheck = event("Patch Set 3:\n\nrecheck", change=903210, ps=3)
    recheck.data["eventCreatedOn"] = build.created + 600  # type: ignore[index]
    stray = event("recheck", change=903211, ps=3)  # another change
    replay = tmp_path / "events.jsonl"
    replay.write_text("\n".join(json.dumps(e.data) for e in (raw, recheck, stray, raw)) + "\n")

    path = tmp_path / "state.sqlite"
    state, journal = await StateStore.open(path), await ImpactJournal.open(path)
    recorder = ImpactRecorder(journal)

    async def judge(build: FailedBuild) -> Outcome:
        return verdict(build)

    routing = parse_channels({"neutron": {"projects": ["neutron"], "events": ["positive"]}})
    pipeline = Pipeline(
        state=state, judge=judge, routing=routing, outlet=FakeOutlet(), record=recorder.judged
    )
    intake = Intake(pipeline, lambda raw, ci: parse_event(raw, ci_accounts=ci), recorder.observe)
    await intake.pump(ReplaySource(replay, server="opendev", interval=0), CI)
    await pipeline.drain(grace=30)
    await pipeline.close()

    report = await gather_impact(journal, now=build.created + 3600)
    for key in ("launchpad:1716008", "jira:OSPRH-9"):
        found = report.get(key)
        assert found is not None
        figures = found.figures(1)
        assert (figures.failed_builds, figures.changes, figures.rechecks) == (1, 1, 1)
        assert (figures.ci_seconds, figures.gate_failures) == (6491.0, 1)
    facts = await journal.facts(0)
    assert len(facts.reports) == 1  # the report read twice is one
    assert len(facts.rechecks) == 2
    assert recorder.failures == 0
    await journal.close()
    await state.close()


async def test_a_journal_that_cannot_be_written_costs_no_event(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    journal = await ImpactJournal.open(path)
    recorder = ImpactRecorder(journal)
    with sqlite3.connect(path) as conn:  # every write fails from now on
        for table in ("impact_reports", "impact_rechecks", "impact_builds"):
            conn.execute(f"DROP TABLE {table}")
    raw, build = gate_failure()
    await recorder.observe(raw, build, CI)
    await recorder.observe(event("recheck"), Skip("not a CI account"), CI)
    await recorder.judged(build, verdict(build))
    assert recorder.failures == 3
    await journal.close()
