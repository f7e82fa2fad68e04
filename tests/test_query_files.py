"""A hostile query repo costs bounded time and memory and never blocks: query files are regular
files inside the repo, of bounded size, whose YAML aliases, query length, term count and
nesting are bounded before anything expensive runs; a file that is no query is never quoted.

Each case is a problem (``path: message``) of its own file; the other files still load.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.queries import load_queries
from bot.queries.files import MAX_FILE_BYTES
from bot.queries.reload import QueryWatcher, snapshot
from bot.queries.store import QueryStore
from bot.queries.syntax import MAX_QUERY_CHARS

GOOD = 'query: message:"fine" AND tags:"console"\n'
TOKEN = "ghp_s3cretTokenValue0123456789abcdef"


def repo_with(tmp_path: Path, **files: str | bytes) -> Path:
    """A repo directory with a good query (1000001) and ``files`` (name: content)."""
    repo = tmp_path / "queries"
    repo.mkdir()
    (repo / "1000001.yaml").write_text(GOOD, encoding="utf-8")
    for name, content in files.items():
        path = repo / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return repo


def problems(repo: Path) -> dict[str, str]:
    """Load ``repo``: the good query must be there; the problems by file name."""
    loaded = load_queries(repo)
    assert "1000001" in [q.id for q in loaded.queries]
    return {p.path.name: p.message for p in loaded.problems}


# --- bounded cost ---------------------------------------------------------------------------


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    big = 'query: message:"' + "a" * MAX_FILE_BYTES + '"\n'
    repo = repo_with(tmp_path, **{"1000002.yaml": big})
    size = len(big)
    assert problems(repo) == {
        "1000002.yaml": f"too big ({size} bytes; the limit is {MAX_FILE_BYTES})"
    }


def test_a_long_query_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, **{"1000002.yaml": 'query: message:"' + "a" * 20_000 + '"\n'})
    length = len('message:"' + "a" * 20_000 + '"')
    assert problems(repo) == {
        "1000002.yaml": f"query: query too long ({length} characters; the limit is"
        f" {MAX_QUERY_CHARS})"
    }


def test_too_many_terms_are_refused_before_they_are_parsed(tmp_path: Path) -> None:
    # luqum parses a long OR in quadratic time (100,000 terms: 71 s); these are counted first.
    terms = " ".join(f"t{n}" for n in range(1500))
    assert len(terms) < MAX_QUERY_CHARS
    repo = repo_with(tmp_path, **{"1000002.yaml": f"query: message:({terms})\n"})
    assert problems(repo) == {"1000002.yaml": "query: too many terms (more than 1024)"}


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    deep = "(" * 2000 + 'message:"x"' + ")" * 2000
    repo = repo_with(
        tmp_path,
        **{"1000002.yaml": f"query: '{deep}'\n", "1000003.yaml": "x: " + "[" * 50_000 + "\n"},
    )
    assert problems(repo) == {
        "1000002.yaml": "query: parentheses nested more than 100 deep",
        "1000003.yaml": "invalid YAML: nested too deeply",
    }


def test_yaml_aliases_that_expand_too_far_are_refused(tmp_path: Path) -> None:
    # 100 KB standing for 40 MB of query text, sent in every search.
    chunk = "x" * 10_000
    bomb = f"title: &a {chunk}\npattern:\n" + "  - *a\n" * 4000
    assert len(bomb) < 100_000
    loop = "pattern: &a [*a]\n"
    repo = repo_with(tmp_path, **{"1000002.yaml": bomb, "1000003.yaml": loop})
    assert problems(repo) == {
        "1000002.yaml": f"YAML aliases expand to more than {MAX_FILE_BYTES} characters",
        "1000003.yaml": "a YAML alias refers to the node that holds it",
    }


def test_modest_aliases_still_work(tmp_path: Path) -> None:
    text = "queries:\n  - id: a\n    pattern: x\n    tags: &t [console]\n"
    text += "  - id: b\n    pattern: y\n    tags: *t\n"
    path = tmp_path / "queries.yml"
    path.write_text(text, encoding="utf-8")
    loaded = load_queries(path)
    assert [q.id for q in loaded.queries] == ["a", "b"]
    assert loaded.problems == ()


# --- regular files inside the repo ----------------------------------------------------------


def test_symlinks_out_of_the_repo_are_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    repo = repo_with(tmp_path)
    (repo / "1000002.yaml").symlink_to("/dev/zero")
    (repo / "1000003.yaml").symlink_to(secret)
    (repo / "1000004.yaml").symlink_to(repo / "missing.yaml")
    outside = "is a symlink to a file outside the query repo; not read"
    found = problems(repo)
    assert found == {
        "1000002.yaml": outside,
        "1000003.yaml": outside,
        "1000004.yaml": "cannot read: No such file or directory",
    }
    assert TOKEN[:10] not in str(found)


def test_symlinks_inside_the_repo_are_read(tmp_path: Path) -> None:
    # A Kubernetes ConfigMap volume: every file is a symlink into ..data/ of the same directory.
    repo = tmp_path / "queries"
    (repo / "..2024_01_01").mkdir(parents=True)
    (repo / "..2024_01_01" / "1000001.yaml").write_text(GOOD, encoding="utf-8")
    (repo / "..data").symlink_to("..2024_01_01")
    (repo / "1000001.yaml").symlink_to("..data/1000001.yaml")
    loaded = load_queries(repo)
    assert [q.id for q in loaded.queries] == ["1000001"]
    assert loaded.problems == ()


def test_a_file_that_is_no_query_is_never_quoted(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, **{"token.yaml": TOKEN + "\n", "1000002.yaml": "12345678901\n"})
    found = problems(repo)
    assert found == {
        "token.yaml": "top level is text, not a mapping: expected 'query: ...'",
        "1000002.yaml": "top level is a number, not a mapping: expected 'query: ...'",
    }


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A repo holding a FIFO named like a query file; a blocked reader is let go at the end."""
    repo = repo_with(tmp_path)
    path = repo / "1000002.yaml"
    os.mkfifo(path)
    yield path
    # A reader still blocked on it (the bug) gets an end of file; without one, this fails.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


async def test_a_fifo_is_not_opened_for_reading(fifo: Path) -> None:
    # The guard only turns a hang into a failure; the load takes milliseconds.
    found = await asyncio.wait_for(asyncio.to_thread(problems, fifo.parent), timeout=60)
    assert found == {"1000002.yaml": "is a FIFO, not a regular file; not read"}


async def test_the_reloader_loads_around_a_fifo_and_outside_links(fifo: Path) -> None:
    (fifo.parent / "1000003.yaml").symlink_to("/dev/zero")
    seen = snapshot(fifo.parent)
    assert [name for name, *_ in seen] == ["", "1000001.yaml", "1000002.yaml", "1000003.yaml"]
    store = QueryStore()
    watcher = QueryWatcher(fifo.parent, store)
    loaded = await asyncio.wait_for(watcher.load(), timeout=60)
    assert loaded == 1
    assert [q.id for q in store.queries] == ["1000001"]
