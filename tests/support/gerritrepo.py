"""Local query repositories for proposals: a bare git repository served over ``file://``, and,
for the Gerrit method, hooks that make a push to ``refs/for/<branch>`` behave as Gerrit's does.

Gerrit cannot be installed here, and the SSH stand-in (:mod:`tests.support.gerrit`) speaks only
Gerrit's own commands; what the bot relies on in a push is reproduced by two hooks, run by git's
real ``receive-pack``:

* ``pre-receive`` refuses a commit pushed to ``refs/for/*`` whose message has no ``Change-Id:
  I<40 hex>`` footer, with Gerrit's message ("ERROR: commit …: missing Change-Id in message
  footer"), and any push to ``refs/heads/*`` of the target branch (Gerrit's "prohibited by
  Gerrit: not permitted: update").
* ``post-receive`` files the commit as ``refs/changes/NN/<change>/<patchset>`` (a new change
  for a new Change-Id, a new patchset for a known one), deletes the ``refs/for/*`` ref (Gerrit
  never creates it, so the next push is not a non-fast-forward), and prints Gerrit's
  ``New Changes:`` / ``Updated Changes:`` block with the change's URL.

:class:`QueryRemote` makes such a repository with a first commit of query files, and reads back
what was pushed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REVIEW = "http://review.test"
PROJECT = "openstack/recheck-queries"

_PRE_RECEIVE = r"""
import re, subprocess, sys
ZERO = "0" * 40
for line in sys.stdin:
    old, new, ref = line.split()
    if ref.startswith("refs/heads/") and sys.argv[1:] == ["gerrit"]:
        print(f"prohibited by Gerrit: not permitted: update {ref}")
        sys.exit(1)
    if not ref.startswith("refs/for/") or new == ZERO:
        continue
    message = subprocess.run(["git", "log", "-1", "--format=%B", new],
                             capture_output=True, text=True, check=True).stdout
    footer = message.strip().split("\n\n")[-1]
    if not re.search(r"^Change-Id: I[0-9a-f]{40}$", footer, re.M):
        print(f"ERROR: commit {new[:7]}: missing Change-Id in message footer")
        sys.exit(1)
"""

_POST_RECEIVE = r"""
import json, re, subprocess, sys
from pathlib import Path
state = Path("gerrit-changes.json")
changes = json.loads(state.read_text()) if state.exists() else {}
for line in sys.stdin:
    old, new, ref = line.split()
    if not ref.startswith("refs/for/"):
        continue
    message = subprocess.run(["git", "log", "-1", "--format=%B", new],
                             capture_output=True, text=True, check=True).stdout
    change_id = re.search(r"^Change-Id: (I[0-9a-f]{40})$", message, re.M).group(1)
    known = change_id in changes
    entry = changes.setdefault(change_id, {"number": len(changes) + 1, "commits": []})
    entry["commits"].append(new)
    number, patchset = entry["number"], len(entry["commits"])
    subprocess.run(["git", "update-ref", f"refs/changes/{number % 100:02d}/{number}/{patchset}",
                    new], check=True)
    subprocess.run(["git", "update-ref", "-d", ref], check=True)
    subject = message.splitlines()[0]
    print("")
    print("Updated Changes:" if known else "New Changes:")
    print(f"  REVIEW/c/PROJECT/+/{number} {subject}" + ("" if known else " [NEW]"))
    print("")
state.write_text(json.dumps(changes))
"""


@dataclass(frozen=True)
class GerritChange:
    number: int
    change_id: str
    commits: tuple[str, ...]  # a commit per patchset, oldest first

    @property
    def url(self) -> str:
        return f"{REVIEW}/c/{PROJECT}/+/{self.number}"


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


class QueryRemote:
    """A bare query repository on disk; ``gerrit``: it takes pushes as Gerrit does."""

    def __init__(self, root: Path, files: dict[str, str], *, gerrit: bool, branch: str = "master"):
        self.path = root / "queries.git"
        self.branch = branch
        self.gerrit = gerrit
        git(root, "init", "-q", "--bare", "-b", branch, str(self.path))
        seed = root / "seed"
        git(root, "init", "-q", "-b", branch, str(seed))
        for name, text in files.items():
            (seed / name).parent.mkdir(parents=True, exist_ok=True)
            (seed / name).write_text(text)
        git(seed, "add", ".")
        git(seed, "-c", "user.name=seed", "-c", "user.email=seed@test", "commit", "-qm", "seed")
        git(seed, "push", "-q", self.url, f"{branch}:refs/heads/{branch}")
        self._hook("pre-receive", _PRE_RECEIVE, ["gerrit"] if gerrit else [])
        if gerrit:
            script = _POST_RECEIVE.replace("REVIEW", REVIEW).replace("PROJECT", PROJECT)
            self._hook("post-receive", script, [])

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def _hook(self, name: str, script: str, args: list[str]) -> None:
        hook = self.path / "hooks" / name
        runner = self.path / "hooks" / f"{name}.py"
        runner.write_text(script)
        hook.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{runner}" {" ".join(args)}\n')
        hook.chmod(0o755)

    def changes(self) -> list[GerritChange]:
        state = self.path / "gerrit-changes.json"
        found = json.loads(state.read_text()) if state.exists() else {}
        return [
            GerritChange(entry["number"], change_id, tuple(entry["commits"]))
            for change_id, entry in found.items()
        ]

    def refs(self) -> list[str]:
        return git(self.path, "for-each-ref", "--format=%(refname)").split()

    def show(self, rev: str, path: str) -> str:
        return git(self.path, "show", f"{rev}:{path}")

    def message(self, rev: str) -> str:
        return git(self.path, "log", "-1", "--format=%B", rev)

    def files(self, rev: str) -> list[str]:
        return git(self.path, "ls-tree", "-r", "--name-only", rev).split()

    def parent(self, rev: str) -> str:
        return git(self.path, "rev-parse", f"{rev}^").strip()

    def head(self) -> str:
        return git(self.path, "rev-parse", f"refs/heads/{self.branch}").strip()
