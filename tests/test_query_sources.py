"""Query sources: settings, merging (first listed wins), git sync into the cache, and the
reloader following each source — against bare repositories over ``file://``."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import ConfigError, load_settings
from bot.config.queries import QuerySource
from bot.queries.cache import SourceCache
from bot.queries.git import Git, GitError, credentials, run_git
from bot.queries.reload import QueryWatcher
from bot.queries.sources import configured, load_sources, locate, writable
from bot.queries.store import QueryStore
from bot.queries.sync import QuerySync, report, sync_all, sync_source
from tests.support.gitrepo import Remote, query

GOOD = {"queries/1000001.yaml": query("disk quota exceeded")}
BROKEN = "query: message:(unbalanced\n"


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "upstream")


def git_source(remote: Remote, name: str = "upstream", **extra: object) -> QuerySource:
    return QuerySource.model_validate({"name": name, "git": remote.url, **extra})


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sources", "error"),
    [
        ([{"name": "a", "git": "http://git.example.org/q"}], "query_sources.0.git: must be an"),
        ([{"name": "a", "git": "https://u:pw@git.example.org/q"}], "holds a password"),
        ([{"name": "a", "git": "-oProxyCommand=x@host:path"}], "query_sources.0.git"),
        ([{"name": "a", "dir": "/q"}, {"name": "a", "dir": "/r"}], "a given twice"),
        ([{"name": "../up", "dir": "/q"}], "query_sources.0.name"),
        ([{"name": "a", "git": "file:///q.git", "path": "../etc"}], "inside the repository"),
        ([{"name": "a", "git": "file:///q.git", "branch": "--upload-pack=x"}], "no branch"),
        ([{"name": "a"}], "give either git"),
        ([{"name": "a", "dir": "/q", "writable": True}], "writable needs a git source"),
        (
            [
                {"name": "a", "git": "file:///a.git", "writable": True},
                {"name": "b", "git": "file:///b.git", "writable": True},
            ],
            "one writable source at most",
        ),
    ],
)
def test_bad_sources_are_refused_with_their_key(sources: list[object], error: str) -> None:
    with pytest.raises(ConfigError, match=error) as caught:
        load_settings(None, query_sources=sources)
    assert "pw" not in str(caught.value)


def test_without_sources_the_queries_directory_is_the_one_source(tmp_path: Path) -> None:
    settings = load_settings(None, queries=tmp_path / "q", state=tmp_path / "s" / "db.sqlite")
    (source,) = configured(settings)
    assert (source.name, source.dir, source.git) == ("queries", tmp_path / "q", None)
    assert settings.query_cache == tmp_path / "s" / "query-cache"
    forms = ["git@review.example.org:ci/queries", "ssh://review.example.org:29418/q", "https://x/q"]
    for url in forms:
        assert load_settings(None, query_sources=[{"name": "a", "git": url}]).query_sources


def test_a_source_reads_its_secrets_from_files_and_logs_never_show_them(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret-token\n")
    settings = load_settings(
        None,
        query_sources=[
            {"name": "a", "git": "file:///a.git"},
            {
                "name": "b",
                "git": "https://git.example.org/q",
                "username": "bot",
                "password_file": str(tmp_path / "token"),
                "writable": True,
                "push": {"to": "branch", "url": "git@git.example.org:q"},
            },
        ],
    )
    source = writable(settings)
    assert source is not None
    assert source.name == "b"
    assert source.password is not None
    assert source.password.get_secret_value() == "s3cret-token"
    assert "s3cret-token" in settings.masked_values()
    assert "Ym90OnMzY3JldC10b2tlbg==" in settings.masked_values()  # the header git is given
    assert (source.push.to, source.push.url) == ("branch", "git@git.example.org:q")


# --- merging -----------------------------------------------------------------------------------


def test_the_first_source_wins_a_bug_and_the_other_is_shadowed(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "1000001.yaml").write_text(query("from the first"))
    (second / "1000001.yaml").write_text(query("from the second"))
    (second / "1000002.yaml").write_text(query("only in the second"))
    # The same Launchpad bug under another query id is the same bug.
    (second / "other.yaml").write_text(query("same bug, other name") + "bug: 1000001\n")
    sources = [QuerySource(name="one", dir=first), QuerySource(name="two", dir=second)]
    merged = load_sources(locate(sources, tmp_path / "cache"))
    assert sorted(q.id for q in merged.repo) == ["1000001", "1000002"]
    assert merged.repo.get("1000001").lucene.startswith('message:"from the first"')  # type: ignore[union-attr]
    assert sorted(s.query.id for s in merged.shadowed) == ["1000001", "other"]
    assert merged.shadowed_in("two") == 2
    problem = next(s.problem() for s in merged.shadowed if s.query.id == "1000001")
    assert str(problem) == (
        f"{second / '1000001.yaml'}: bug 1000001 is shadowed by source 'one' (1000001.yaml); "
        "this one from 'two' is not used"
    )


# --- syncing -----------------------------------------------------------------------------------


async def test_sync_takes_good_commits_and_keeps_bad_ones_back(
    remote: Remote, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    source = git_source(remote)
    first = remote.commit(GOOD)
    taken = await sync_source(source, cache)
    assert (taken.status, taken.commit, taken.problems) == ("updated", first, ())
    again = await sync_source(source, cache)
    assert (again.status, again.commit) == ("unchanged", first)

    bad = remote.commit({"queries/1000002.yaml": BROKEN, "queries/1000003.yaml": query("new")})
    kept = await sync_source(source, cache)
    assert (kept.status, kept.commit, kept.fetched) == ("kept-previous", first, bad)
    assert len(kept.problems) == 1
    assert kept.problems[0].startswith("1000002.yaml: query: ")
    merged = load_sources(locate([source], cache))
    assert [q.id for q in merged.repo] == ["1000001"]  # the old commit's queries, still
    assert not (cache / "upstream" / "trees" / bad).exists()
    # The same bad commit is known: not checked out again, the same problems reported.
    assert await sync_source(source, cache) == kept

    fixed = remote.commit({"queries/1000002.yaml": query("repaired")})
    done = await sync_source(source, cache)
    assert (done.status, done.commit) == ("updated", fixed)
    merged = load_sources(locate([source], cache))
    assert sorted(q.id for q in merged.repo) == ["1000001", "1000002", "1000003"]
    # The commit before stays on disk (a reader may be loading it); older ones go.
    assert sorted(p.name for p in (cache / "upstream" / "trees").iterdir()) == sorted(
        [first, fixed]
    )
    # Shallow: the cache holds the commits it fetched, not the history between them.
    shallow = (cache / "upstream" / "git" / "shallow").read_text().split()
    assert fixed in shallow


async def test_a_branch_and_a_path_of_the_source(remote: Remote, tmp_path: Path) -> None:
    remote.commit({"README": "main has no queries\n"})
    stable = Remote(tmp_path / "other", branch="stable")
    stable.bare = remote.bare  # push the other branch to the same remote
    sha = stable.commit({"ci/er/1000001.yaml": query("on the stable branch")})
    source = git_source(remote, branch="stable", path="ci/er")
    outcome = await sync_source(source, tmp_path / "cache")
    assert (outcome.status, outcome.commit) == ("updated", sha)
    (found,) = load_sources(locate([source], tmp_path / "cache")).repo
    assert found.lucene.startswith('message:"on the stable branch"')

    missing = await sync_source(git_source(remote, name="main"), tmp_path / "cache")
    assert missing.status == "kept-previous"
    assert missing.commit is None
    assert missing.problems == (f"queries: not in commit {missing.fetched[:7]}",)  # type: ignore[index]


async def test_an_unreachable_remote_keeps_the_commit_in_use(
    remote: Remote, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = remote.commit(GOOD)
    await sync_source(git_source(remote), cache)
    gone = git_source(remote).model_copy(update={"git": (tmp_path / "nowhere.git").as_uri()})
    outcome = await sync_source(gone, cache)
    assert (outcome.status, outcome.commit) == ("error", first)
    assert "nowhere.git" in outcome.problems[0]
    assert SourceCache(cache, "upstream").read().error
    assert [q.id for q in load_sources(locate([gone], cache)).repo] == ["1000001"]


async def test_sync_report_is_the_documented_json(remote: Remote, tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / "1000001.yaml").write_text(query("shadowed by upstream"))
    (local / "1000009.yaml").write_text(query("local only"))
    sha = remote.commit(GOOD)
    sources = [git_source(remote), QuerySource(name="local", dir=local)]
    outcomes = await sync_all(sources, tmp_path / "cache")
    merged = load_sources(locate(sources, tmp_path / "cache"))
    assert json.loads(json.dumps(report(outcomes, merged))) == {
        "sources": [
            {"name": "upstream", "commit": sha, "queries": 1, "status": "updated", "problems": []},
            {"name": "local", "commit": None, "queries": 2, "status": "unchanged", "problems": []},
        ],
        "total": 2,
    }


async def test_the_reloader_follows_a_source_to_its_new_commit(
    remote: Remote, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    sources = [git_source(remote)]
    store = QueryStore()
    watcher = QueryWatcher(lambda: locate(sources, cache), store)
    assert await watcher.load() == 0  # never synced: nothing yet, and no error
    remote.commit(GOOD)
    await sync_all(sources, cache)
    assert await watcher.check()
    assert list(store.by_id) == ["1000001"]
    remote.commit({"queries/1000002.yaml": BROKEN})
    await sync_all(sources, cache)
    assert not await watcher.check()  # kept back: the commit in use did not move
    remote.commit({"queries/1000002.yaml": query("fixed")})
    await sync_all(sources, cache)
    assert await watcher.check()
    assert sorted(store.by_id) == ["1000001", "1000002"]


async def test_a_sync_joins_the_one_running_and_tells_what_it_did(
    remote: Remote, tmp_path: Path
) -> None:
    remote.commit(GOOD)
    seen: list[list[str]] = []

    async def after(outcomes: list[object]) -> None:
        seen.append([o.status for o in outcomes])  # type: ignore[attr-defined]

    sync = QuerySync([git_source(remote)], tmp_path / "cache", after=after)
    first, second = await asyncio.gather(sync.run(), sync.run())
    assert first is second
    assert seen == [["updated"]]
    assert sync.runs == 1
    await sync.close()


async def test_two_processes_share_a_cache_one_at_a_time(remote: Remote, tmp_path: Path) -> None:
    remote.commit(GOOD)
    source = git_source(remote)
    results = await asyncio.gather(*(sync_source(source, tmp_path / "cache") for _ in range(3)))
    assert sorted(r.status for r in results) == ["unchanged", "unchanged", "updated"]


# --- git ---------------------------------------------------------------------------------------


async def test_a_git_command_that_hangs_is_ended() -> None:
    with pytest.raises(GitError, match=r"took longer than 0\.2 s"):
        await run_git(["sleep", "30"], os.environ, 0.2)


async def test_git_failures_are_its_own_last_complaint(tmp_path: Path) -> None:
    with pytest.raises(GitError) as caught:
        await Git(tmp_path / "none.git").run("rev-parse", "HEAD")
    assert str(caught.value).startswith("git rev-parse: fatal: not a git repository")


def test_credentials_reach_git_only_through_its_environment(tmp_path: Path) -> None:
    https = QuerySource(
        name="a", git="https://git.example.org/q", username="bot", password=SecretStr("s3cret")
    )
    with credentials(https) as env:
        assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
        assert env["GIT_CONFIG_VALUE_0"] == "Authorization: Basic Ym90OnMzY3JldA=="
    ssh = QuerySource(
        name="b",
        git="git@review.example.org:q",
        ssh_key=SecretStr("-----BEGIN KEY-----\nabc\n-----END KEY-----\n"),
        known_hosts=tmp_path / "known_hosts",
    )
    with credentials(ssh) as env:
        command = env["GIT_SSH_COMMAND"].split()
        key = Path(command[command.index("-i") + 1])
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert key.read_text().endswith("-----END KEY-----\n")
        assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in command
        assert "BatchMode=yes" in command
    assert not key.exists()
