"""Proposals pushed by real git to a local bare repository over file://: as a Gerrit change
(the repository's hooks take ``refs/for/<branch>`` as Gerrit does, see tests.support.gerritrepo)
and as a branch."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config.propose import ProposeSettings
from bot.lifecycle.propose import (
    Change,
    ProposeError,
    Proposer,
    change_id,
    commands,
    commit_message,
    printed_url,
    push_ref,
)
from tests.support.gerritrepo import PROJECT, REVIEW, QueryRemote

SEED = {"queries/1541364.yaml": 'query: >-\n  message:"apt"\n', "README": "queries\n"}
NEW = 'query: >-\n  message:"Timed out waiting for a reply"\n'


def adding(text: str = NEW, slug: str = "adopt-1234567") -> Change:
    return Change({"queries/1234567.yaml": text}, "Add a query for bug 1234567", "why", slug)


@pytest.fixture
def gerrit_repo(tmp_path: Path) -> QueryRemote:
    return QueryRemote(tmp_path, SEED, gerrit=True)


@pytest.fixture
def plain_repo(tmp_path: Path) -> QueryRemote:
    return QueryRemote(tmp_path, SEED, gerrit=False)


async def test_a_gerrit_change_is_pushed_for_review_with_its_change_id(
    gerrit_repo: QueryRemote,
) -> None:
    settings = ProposeSettings(remote=gerrit_repo.url)
    master = gerrit_repo.head()

    proposed = await Proposer(settings).propose(adding())

    (change,) = gerrit_repo.changes()
    assert proposed.url == change.url == f"{REVIEW}/c/{PROJECT}/+/1"
    assert proposed.ref == "refs/for/master%topic=recheckbot"
    assert change.commits == (proposed.commit,)
    assert change.change_id == proposed.change_id == change_id(settings, adding())
    assert gerrit_repo.head() == master  # review first: the branch itself is untouched
    assert gerrit_repo.parent(proposed.commit) == master
    assert gerrit_repo.show(proposed.commit, "queries/1234567.yaml") == NEW
    message = gerrit_repo.message(proposed.commit)
    assert message.startswith("Add a query for bug 1234567\n\nwhy\n\n")
    assert message.rstrip().endswith(f"Change-Id: {proposed.change_id}")
    assert "refs/for/master" not in " ".join(gerrit_repo.refs())


async def test_proposing_the_same_again_is_a_new_patchset_of_the_same_change(
    gerrit_repo: QueryRemote,
) -> None:
    proposer = Proposer(ProposeSettings(remote=gerrit_repo.url))
    first = await proposer.propose(adding())
    second = await proposer.propose(adding(NEW + "title: better\n"))
    (change,) = gerrit_repo.changes()
    assert change.commits == (first.commit, second.commit)
    assert second.url == first.url
    assert "Updated Changes:" in second.output
    other = await proposer.propose(adding(slug="adopt-other"))
    assert other.url == f"{REVIEW}/c/{PROJECT}/+/2"


async def test_removing_files(gerrit_repo: QueryRemote) -> None:
    change = Change({"queries/1541364.yaml": None}, "Remove the query of bug 1541364", "", "rm")
    proposed = await Proposer(ProposeSettings(remote=gerrit_repo.url)).propose(change)
    assert gerrit_repo.files(proposed.commit) == ["README"]
    assert gerrit_repo.files(gerrit_repo.head()) == ["README", "queries/1541364.yaml"]


async def test_a_change_that_changes_nothing_is_refused(gerrit_repo: QueryRemote) -> None:
    same = Change({"queries/1541364.yaml": SEED["queries/1541364.yaml"]}, "Same", "", "same")
    with pytest.raises(ProposeError, match="has these files as proposed already"):
        await Proposer(ProposeSettings(remote=gerrit_repo.url)).propose(same)
    gone = Change({"queries/9.yaml": None}, "Remove 9", "", "rm-9")
    with pytest.raises(ProposeError, match=r"queries/9\.yaml: not in master"):
        await Proposer(ProposeSettings(remote=gerrit_repo.url)).propose(gone)
    assert gerrit_repo.changes() == []


async def test_a_branch_is_pushed_and_linked_from_the_template(plain_repo: QueryRemote) -> None:
    link = "https://git.example.org/queries/compare/master...{branch}"
    settings = ProposeSettings(method="branch", remote=plain_repo.url, link=link)
    proposed = await Proposer(settings).propose(adding())
    assert proposed.ref == "refs/heads/recheckbot/adopt-1234567"
    assert (
        proposed.url == "https://git.example.org/queries/compare/master...recheckbot/adopt-1234567"
    )
    assert plain_repo.show(proposed.ref, "queries/1234567.yaml") == NEW
    assert (
        plain_repo.show("refs/heads/master", "queries/1541364.yaml") == SEED["queries/1541364.yaml"]
    )


async def test_gerrit_refusing_the_push_is_a_readable_error(gerrit_repo: QueryRemote) -> None:
    # Gerrit does not let anyone push to the branch itself; the bot says what Gerrit said.
    settings = ProposeSettings(method="branch", remote=gerrit_repo.url, branch_prefix="x/")
    with pytest.raises(ProposeError, match="prohibited by Gerrit: not permitted: update"):
        await Proposer(settings).propose(adding())


async def test_an_unreachable_remote_is_a_readable_error(tmp_path: Path) -> None:
    settings = ProposeSettings(remote=(tmp_path / "nowhere.git").as_uri())
    with pytest.raises(ProposeError, match=r"git clone failed: .*Could not read from remote"):
        await Proposer(settings).propose(adding())


async def test_without_a_remote_nothing_is_pushed() -> None:
    with pytest.raises(ProposeError, match=r"no propose\.remote"):
        await Proposer(ProposeSettings()).propose(adding())


def test_the_dry_run_shows_every_command() -> None:
    settings = ProposeSettings(remote="ssh://bot@review.example.org:29418/openstack/queries")
    shown = commands(settings, adding())
    assert shown[0].startswith("git clone --depth 1 --branch master ssh://bot@review")
    assert shown[1] == "git add queries/1234567.yaml  # written as shown"
    assert change_id(settings, adding()) in shown[2]
    assert shown[-1] == (
        "git push ssh://bot@review.example.org:29418/openstack/queries "
        "HEAD:refs/for/master%topic=recheckbot"
    )
    assert commands(ProposeSettings(), adding())[-1].startswith("git push '<propose.remote>' ")


def test_change_ids_are_gerrits_shape_and_stable() -> None:
    settings = ProposeSettings(remote="file:///r.git")
    one = change_id(settings, adding())
    assert one == change_id(settings, adding("other text"))
    assert one != change_id(settings, adding(slug="adopt-other"))
    assert re.fullmatch(r"I[0-9a-f]{40}", one)
    assert commit_message(settings, adding()).endswith(f"\n\nChange-Id: {one}\n")
    assert push_ref(ProposeSettings(topic=None), adding()) == "refs/for/master"


def test_the_url_gerrit_prints_is_the_change() -> None:
    output = (
        "To ssh://review.example.org:29418/openstack/queries\n"
        "remote: Processing changes: refs: 1, new: 1, done\n"
        "remote: hint: see https://review.example.org/Documentation/user-upload.html\n"
        "remote:\n"
        "remote: New Changes:\n"
        "remote:   https://review.example.org/c/openstack/queries/+/901234 Add a query [NEW]\n"
    )
    assert printed_url(output) == "https://review.example.org/c/openstack/queries/+/901234"
    assert printed_url("To somewhere\n=\tHEAD:refs/heads/x\t[up to date]\n") is None
    github = "remote:      https://github.com/org/queries/pull/new/recheckbot/adopt-1\n"
    assert printed_url(github) == "https://github.com/org/queries/pull/new/recheckbot/adopt-1"


@pytest.mark.parametrize(
    "remote",
    ["https://user:pw@git.example.org/q.git", "-oProxyCommand=x", "ftp://x/y", "a b"],
)
def test_remotes_with_passwords_or_options_are_refused(remote: str) -> None:
    with pytest.raises(ValidationError, match="remote"):
        ProposeSettings(remote=remote)


def test_credentials_go_to_gits_environment_only(tmp_path: Path) -> None:
    settings = ProposeSettings(
        remote="https://git.example.org/q.git",
        http_username="bot",
        http_password="t0ken",
        ssh_key="-----BEGIN OPENSSH PRIVATE KEY-----\nkey\n-----END OPENSSH PRIVATE KEY-----",
        known_hosts=tmp_path / "known_hosts",
    )
    env = Proposer(settings)._environment(tmp_path)
    key = tmp_path / "ssh_key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert f"-i {key}" in env["GIT_SSH_COMMAND"]
    assert "StrictHostKeyChecking=yes" in env["GIT_SSH_COMMAND"]
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"] == "Authorization: Basic Ym90OnQwa2Vu"
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert not any("t0ken" in line for line in commands(settings, adding()))


async def test_proposals_run_one_after_another(gerrit_repo: QueryRemote) -> None:
    proposer = Proposer(ProposeSettings(remote=gerrit_repo.url))
    slugs = [f"adopt-{n}" for n in range(3)]
    changes = [Change({f"queries/{n}.yaml": NEW}, f"Add {n}", "", s) for n, s in enumerate(slugs)]
    done = await asyncio.gather(*(proposer.propose(c) for c in changes))
    assert sorted(p.url or "" for p in done) == [f"{REVIEW}/c/{PROJECT}/+/{n}" for n in (1, 2, 3)]
