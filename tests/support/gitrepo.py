"""Local git repositories for the query-source tests: a bare repository served over
``file://`` (the remote the bot fetches) and a clone that commits and pushes to it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

#: Who commits in the tests (no global git identity is needed).
IDENTITY = {
    "GIT_AUTHOR_NAME": "Query Author",
    "GIT_AUTHOR_EMAIL": "author@example.org",
    "GIT_COMMITTER_NAME": "Query Author",
    "GIT_COMMITTER_EMAIL": "author@example.org",
}


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **IDENTITY, "GIT_CONFIG_GLOBAL": os.devnull},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


class Remote:
    """A bare repository (``url``: file://) and a work tree that pushes to its ``branch``."""

    def __init__(self, home: Path, branch: str = "main") -> None:
        self.bare = home / "remote.git"
        self.work = home / "work"
        self.branch = branch
        git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(self.bare))
        git("init", "--quiet", f"--initial-branch={branch}", str(self.work))

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, files: Mapping[str, str | None], message: str = "queries") -> str:
        """Write (text) or remove (None) ``files``, commit, push; the new commit's sha."""
        for name, text in files.items():
            path = self.work / name
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "--quiet", self.url, f"HEAD:refs/heads/{self.branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


def query(message: str) -> str:
    """An ER query file matching the console line ``message``."""
    return f'query: >-\n  message:"{message}" AND tags:"console"\n'
