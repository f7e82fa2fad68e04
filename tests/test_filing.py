"""Filing a bug for a cluster that crossed the threshold, on the tracker stand-ins, then its
query proposed for the new bug to a local bare repository; never twice for one cluster (a second
look, a restart, a crash mid-request), nothing written in a dry run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config.feedback import FilingSettings
from bot.config.propose import ProposeSettings
from bot.intel import ClusterReport, find_clusters
from bot.lifecycle.filing import Filer, due_clusters
from bot.lifecycle.propose import Proposer
from bot.queries import QueryRepo
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.state import StateStore
from bot.trackers.writer import TrackerWriter
from tests.support.clusters import COUNTS, KNOWN_QUERY, documents, seed_builds
from tests.support.gerritrepo import QueryRemote
from tests.support.trackers import TrackerStandIn

NOW = datetime.now(UTC).timestamp()
UNCAT = "https://dash.example.org/uncategorized.html"
#: Clusters of 10 builds or more: libvirt (12), volume (11), vif (10); stack (9) is not due.
DUE = sum(count >= 10 for count in COUNTS.values())


@pytest.fixture
async def indexed(search: OpenSearchBackend) -> OpenSearchBackend:
    await bulk_index(search.client, documents(seed_builds(5)))
    return search


@pytest.fixture
async def standin() -> AsyncIterator[TrackerStandIn]:
    async with TrackerStandIn(github_token="ghp", jira_token="pat") as trackers:
        yield trackers


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    opened: list[StateStore] = []

    async def open_journal() -> StateStore:
        opened.append(await StateStore.open(tmp_path / "state.sqlite"))
        return opened[-1]

    yield open_journal
    for store in opened:
        await store.close()


@pytest.fixture
def remote(tmp_path: Path) -> QueryRemote:
    return QueryRemote(tmp_path, {"queries/1400905.yaml": "query: x\n"}, gerrit=True)


def filer(
    state: StateStore,
    writer: TrackerWriter,
    search: OpenSearchBackend,
    remote: QueryRemote | None = None,
    **settings: Any,
) -> Filer:
    values: dict[str, Any] = {
        "tracker": "github",
        "project": "org/ci-bugs",
        "dry_run": False,
        "days": 7,
        "labels": ["gate-failure", "recheckbot"],
    }

    async def clusters(days: int, queue: str | None) -> ClusterReport:
        return await find_clusters(search, [KNOWN_QUERY], days=days, queue=queue)

    return Filer(
        FilingSettings.model_validate(values | settings),
        state=state,
        writer=writer,
        clusters=clusters,
        repo=QueryRepo,
        proposer=Proposer(ProposeSettings(remote=remote.url if remote else None)),
        uncategorized_url=UNCAT,
    )


async def test_each_due_cluster_gets_one_bug_and_its_query_proposed(
    indexed: OpenSearchBackend,
    standin: TrackerStandIn,
    journal: Callable[[], Any],
    remote: QueryRemote,
) -> None:
    state = await journal()
    async with TrackerWriter(standin.settings()) as writer:
        run = await filer(state, writer, indexed, remote).run(NOW)
        again = await filer(state, writer, indexed, remote).run(NOW)
        restarted = await filer(await journal(), writer, indexed, remote).run(NOW)

    filed = standin.writes.filed
    assert len(filed) == len(run.results) == DUE
    assert set(again.results.values()) == set(restarted.results.values()) == {"already"}
    for cluster_id, result in run.results.items():
        bug = run.bugs[cluster_id]
        (found,) = [f for f in filed if f.title == bug.title]
        assert result == f"filed https://github.com/org/ci-bugs/issues/{found.key.split('#')[1]}"
        assert found.labels == ("gate-failure", "recheckbot")
        assert f"(cluster {cluster_id}, " in found.description
        assert UNCAT in found.description
        assert "Builds (newest first):\n  http" in found.description
    # Each filed bug's verified query went to review, as that bug's file.
    changes = remote.changes()
    assert len(changes) == len([p for p in run.proposals.values() if p.startswith("http")])
    assert len(changes) >= 1
    for change in changes:
        (added,) = set(remote.files(change.commits[0])) - {"queries/1400905.yaml"}
        number = added.removeprefix("queries/gh-org-ci-bugs-").removesuffix(".yaml")
        text = remote.show(change.commits[0], added)
        assert yaml.safe_load(text)["query"]
        assert f"github:org/ci-bugs#{number}" in {f.key for f in filed}
        assert change.url in run.proposals.values()
    rows = await state.filed_rows()
    assert {r.cluster for r in rows} == set(run.results)
    assert {r.state for r in rows} == {"filed"}


async def test_a_dry_run_files_nothing_and_journals_nothing(
    indexed: OpenSearchBackend,
    standin: TrackerStandIn,
    journal: Callable[[], Any],
    remote: QueryRemote,
) -> None:
    state = await journal()
    async with TrackerWriter(standin.settings()) as writer:
        run = await filer(state, writer, indexed, remote, dry_run=True).run(NOW)
    assert set(run.results.values()) == {"dry-run"}
    assert len(run.bugs) == DUE
    assert all(bug.title.startswith("CI failure: ") for bug in run.bugs.values())
    assert standin.writes.writes() == []
    assert await state.filed_rows() == []
    assert remote.changes() == []


async def test_a_rate_limit_files_later_and_once(
    indexed: OpenSearchBackend, standin: TrackerStandIn, journal: Callable[[], Any]
) -> None:
    state = await journal()
    standin.writes.rate_limit("github", 30)
    async with TrackerWriter(standin.settings()) as writer:
        run = await filer(state, writer, indexed, adopt=False).run(NOW)
        assert [r.split(":")[0] for r in run.results.values()] == ["deferred"]  # stops there
        assert await state.filed_rows() == []
        standin.writes.limited.clear()
        later = await filer(state, writer, indexed, adopt=False).run(NOW)
    assert len(later.results) == DUE
    assert all(result.startswith("filed ") for result in later.results.values())
    assert len(standin.writes.filed) == DUE


async def test_a_crash_mid_filing_never_files_that_cluster_again(
    indexed: OpenSearchBackend, standin: TrackerStandIn, journal: Callable[[], Any]
) -> None:
    state = await journal()
    report = await find_clusters(indexed, [KNOWN_QUERY], days=7, queue="gate")
    first = due_clusters(report, 10)[0]
    assert await state.claim_cluster(first.id, NOW)  # then the process died
    async with TrackerWriter(standin.settings()) as writer:
        run = await filer(await journal(), writer, indexed, adopt=False).run(NOW)
    assert run.results[first.id] == "already"
    assert len(standin.writes.filed) == DUE - 1


async def test_filing_on_jira_and_the_threshold(
    indexed: OpenSearchBackend, standin: TrackerStandIn, journal: Callable[[], Any]
) -> None:
    state = await journal()
    async with TrackerWriter(standin.settings()) as writer:
        settings: dict[str, Any] = {"tracker": "jira", "project": "OSPRH", "adopt": False}
        run = await filer(state, writer, indexed, min_builds=12, **settings).run(NOW)
    (filed,) = standin.writes.filed
    assert filed.key.startswith("jira:OSPRH-")
    assert list(run.results.values()) == [f"filed https://issues.redhat.com/browse/{filed.key[5:]}"]


def test_the_project_must_fit_the_tracker() -> None:
    with pytest.raises(ValueError, match="filing on github needs a GitHub org/repo"):
        FilingSettings(tracker="github", project="OSPRH")
    with pytest.raises(ValueError, match="filing on jira needs a Jira project key"):
        FilingSettings(tracker="jira")
