"""TripleO's unified query format (rdo-infra queries, tripleo-ci-health-queries).

One YAML file, ``queries:`` a list of entries; unknown keys are rejected. Each entry becomes a
:class:`~bot.queries.Query`:

- ``pattern`` (a string, or a list meaning all of them) → ``message:"..."`` phrases, ANDed;
  with ``regex: true`` → ``message:/.../``. Caveat: Lucene matches a regex against single
  (analyzed) terms of ``message``, not the whole line, and always anchored; a multi-word regex
  written for Python's ``re.search`` will not match. ``multiline: true``: log documents hold
  one line each, so only the first line of each pattern is searched.
- ``logstash`` (proposed extra): raw Lucene, instead of or ANDed with the patterns.
- ``tags`` (log tags, any of them) → ``(tags:"a" OR tags:"b")``.
- ``files`` (globs) → ``filename:`` terms, approximated (see :func:`filename_term`).
- ``url`` → the bug: the first link's tracker (by host); without one, the id's naming scheme
  (``1234567`` → Launchpad) or a tracker-less reference (:func:`bot.bugs.untracked`).
- ``name`` → title, ``category`` → a tag, ``suppress-graph`` as in ER.
- ``skip`` (proposed extra): consumers that ignore the entry; we do when it names us.

The other way, :func:`to_tripleo` writes ``pattern`` when a query is a plain AND of message
phrases (plus optional tags / file names), else ``logstash`` with the raw Lucene.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from bot.bugs import JIRA_BROWSE, Bug, guess_kind, ref_from_name, ref_from_url, untracked
from bot.queries import lucene
from bot.queries.erformat import parse_query_yaml
from bot.queries.model import Problem, Query, QueryError
from bot.queries.yamldoc import (
    Flag,
    Text,
    TextList,
    key_path,
    model_keys,
    model_problems,
    one_of,
    show,
    text_list,
)

#: ``skip`` entries that mean us.
SKIP_NAMES = frozenset({"elastic-recheck", "recheckbot"})
CATEGORIES = ("infra", "code")

_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _slug(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a bare bug number is a fine id
    if isinstance(value, str) and _SLUG.fullmatch(value):
        return value
    raise ValueError(f"must be a slug (letters, digits, '.', '_', '-'), not {show(value)}")


def _urls(value: object) -> tuple[str, ...]:
    urls = text_list(value)
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"must be http(s) URLs, not {show(url)}")
    return tuple(urls)


class TripleoEntry(BaseModel):
    """One entry of ``queries:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, BeforeValidator(_slug)]
    name: Text | None = None
    pattern: TextList = ()
    category: Annotated[str, BeforeValidator(one_of(*CATEGORIES))] | None = None
    url: Annotated[tuple[str, ...], BeforeValidator(_urls)] = ()
    tags: TextList = ()
    suppress_graph: Flag = Field(False, alias="suppress-graph")
    regex: Flag = False
    multiline: Flag = False
    files: TextList = ()
    logstash: Text | None = None
    skip: TextList = ()

    @model_validator(mode="after")
    def _needs_something_to_match(self) -> TripleoEntry:
        if not self.pattern and self.logstash is None:
            raise ValueError("required key is missing: 'pattern' (or 'logstash')")
        return self


def parse_tripleo(
    data: Mapping[str, Any], path: Path, *, jira_browse: str = JIRA_BROWSE
) -> tuple[list[Query], list[Problem]]:
    """The queries of a TripleO file's document, and the problems of the entries left out."""
    problems = [
        Problem(path, f"{key}: unknown key (a TripleO file holds only 'queries')")
        for key in data
        if key != "queries"
    ]
    entries = data.get("queries")
    if not isinstance(entries, list):
        return [], [*problems, Problem(path, f"queries: must be a list, not {show(entries)}")]
    queries = []
    for index, raw in enumerate(entries):
        query, entry_problems = _parse_entry(raw, index, path, jira_browse)
        problems += [Problem(path, p) for p in entry_problems]
        if query is not None:
            queries.append(query)
    return queries, problems


def _parse_entry(
    raw: object, index: int, path: Path, jira_browse: str
) -> tuple[Query | None, list[str]]:
    where = ("queries", index)
    if not isinstance(raw, dict):
        return None, [f"{key_path(where)}: must be a mapping, not {show(raw)}"]
    try:
        entry = TripleoEntry.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        return None, model_problems(exc, model_keys(TripleoEntry), where)
    if SKIP_NAMES & set(entry.skip):
        return None, []
    text, problems = entry_lucene(entry)
    if problems:
        return None, [f"{key_path(where)}.{p}" for p in problems]
    query = Query(
        id=entry.id,
        lucene=text,
        bug=entry_bug(entry, jira_browse),
        suppress_graph=entry.suppress_graph,
        title=entry.name,
        tags=(entry.category,) if entry.category else (),
        source=path,
        location=key_path(where),
    )
    return query, []


def entry_lucene(entry: TripleoEntry) -> tuple[str, list[str]]:
    """The Lucene text of an entry, and problems as ``key: message``."""
    patterns = [_pattern_clause(p, entry.regex, entry.multiline) for p in entry.pattern]
    filters = []
    if entry.tags:
        filters.append(lucene.any_of(f"tags:{lucene.quote(t)}" for t in entry.tags))
    terms = [term for glob in entry.files if (term := filename_term(glob))]
    if terms:
        filters.append(lucene.any_of(f"filename:{t}" for t in terms))
    problems: list[str] = []
    raw: list[str] = []
    if entry.logstash is not None:
        written = entry.logstash.strip()
        problems += [f"logstash: {p}" for p in lucene.lucene_problems(written)]
        # Parenthesized when ANDed with more, or a top-level OR in it would swallow the rest.
        raw.append(lucene.group(written) if patterns or filters else written)
    text = lucene.all_of([*patterns, *raw, *filters])
    if not problems and (bad := lucene.syntax_problem(text)):
        problems.append(f"pattern: {bad}")  # only a regex pattern can break the syntax
    return text, problems


def _pattern_clause(pattern: str, regex: bool, multiline: bool) -> str:
    if multiline:
        # One document per log line: the first line is the closest we can search for.
        pattern = next((line for line in pattern.splitlines() if line.strip()), pattern)
    return "message:" + (lucene.regex(pattern) if regex else lucene.quote(pattern))


def filename_term(glob: str) -> str | None:
    """A Lucene term for a file glob, or ``None`` when only a leading wildcard could say it.

    ``filename`` holds the path relative to the build's log root (``job-output.txt``,
    ``logs/syslog.txt``), and Lucene wildcards are fine inside a term but slow at its start.
    Approximations:

    - leading "any directory" parts (``*/``, ``**/``) are dropped, so ``*/job-output.txt*``
      becomes ``job-output.txt*``: the file at the top of the log tree, not deeper down;
    - a glob still starting with a wildcard (``*.log``) yields nothing, so the entry is not
      limited by it (it matches more);
    - ``*`` inside the term also matches ``/`` (a glob's does not), and a character class
      (``[ab]``) becomes ``?``.

    ``tags`` (the base name, set by the log shipper) is the reliable way to say "this file
    anywhere".
    """
    parts = glob.strip().lstrip("/").split("/")
    while len(parts) > 1 and parts[0] in ("*", "**"):
        parts.pop(0)
    rest = re.sub(r"\[[^\]]*\]", "?", "/".join(parts))
    if not rest or rest[0] in "*?":
        return None
    if not _has_wildcard(rest):
        return lucene.quote(rest)
    return lucene.escape_term(rest, keep_wildcards=True)


def _has_wildcard(text: str) -> bool:
    return any(char in text for char in "*?[")


def entry_bug(entry: TripleoEntry, jira_browse: str = JIRA_BROWSE) -> Bug:
    """The bug of an entry: its first ``url``, else what its id looks like, else none."""
    if entry.url:
        first = entry.url[0]
        return ref_from_url(first, jira_browse=jira_browse) or Bug(
            guess_kind(entry.id), entry.id, first
        )
    return ref_from_name(entry.id, jira_browse=jira_browse) or untracked(entry.id)


# --- writing --------------------------------------------------------------------------------


def to_tripleo(queries: Iterable[Query]) -> dict[str, Any]:
    """A TripleO document (``{"queries": [...]}``) for ``queries``; see :func:`lost_in_tripleo`."""
    return {"queries": [tripleo_entry(q) for q in queries]}


def tripleo_entry(query: Query) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": query.id}
    if query.title:
        entry["name"] = query.title
    entry |= _match_keys(query.lucene)
    category = next((t for t in query.tags if t in CATEGORIES), None)
    if category:
        entry["category"] = category
    if query.bug.tracked:
        entry["url"] = bug_link(query.bug)
    if query.suppress_graph:
        entry["suppress-graph"] = True
    return entry


def _match_keys(text: str) -> dict[str, Any]:
    plain = lucene.plain_query(text)
    # TripleO's regex flag is all-or-nothing, so phrases and regexes together need logstash.
    if plain is None or (plain.messages and plain.regexes):
        return {"logstash": text}
    keys: dict[str, Any] = {"pattern": _one_or_list(plain.messages or plain.regexes)}
    if plain.regexes:
        keys["regex"] = True
    if plain.tags:
        keys["tags"] = _one_or_list(plain.tags)
    if plain.filenames:
        keys["files"] = _one_or_list(plain.filenames)
    return keys


def _one_or_list(values: tuple[str, ...]) -> str | list[str]:
    return values[0] if len(values) == 1 else list(values)


def bug_link(ref: Bug) -> str:
    """The URL to write for a bug (Launchpad's with the project, when known)."""
    if ref.kind == "launchpad" and ref.project:
        return f"https://bugs.launchpad.net/{ref.project}/+bug/{ref.id}"
    return ref.url


def lost_in_tripleo(query: Query) -> list[str]:
    """What of ``query`` TripleO's format cannot hold (for a warning when converting)."""
    lost = [
        name
        for name, value in (
            ("suppress-notification", query.suppress_notification),
            ("allow-nonvoting", query.allow_nonvoting),
            ("test_ids", query.test_ids),
            ("owner", query.owner),
            ("tags", [t for t in query.tags if t not in CATEGORIES]),
        )
        if value
    ]
    return [f"{query.id}: {name} has no TripleO key; dropped" for name in lost]


def tripleo_yaml(queries: Iterable[Query]) -> str:
    """The TripleO file text for ``queries``."""
    return yaml.safe_dump(to_tripleo(queries), sort_keys=False, allow_unicode=True, width=100)


def to_er_files(queries: Iterable[Query]) -> dict[str, str]:
    """One ER-style file per query: ``{"<id>.yaml": text}``."""
    return {f"{q.id}.yaml": er_yaml(q) for q in queries}


def er_yaml(query: Query) -> str:
    """The text of ``query``'s ER-style file: ``query: >-`` first, as ER's files have it."""
    doc = er_document(query)
    text = _folded("query", doc.pop("query")) if "query" in doc else ""
    if doc:
        text += yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    return text


def er_document(query: Query) -> dict[str, Any]:
    """The keys of ``query``'s ER-style file (``pattern``/``regex`` for message regexes)."""
    doc = _er_match_keys(query.lucene)
    doc |= _er_bug_keys(query)
    optional = (
        ("title", query.title),
        ("tags", list(query.tags)),
        ("owner", query.owner),
        ("suppress-graph", query.suppress_graph),
        ("suppress-notification", query.suppress_notification),
        ("allow-nonvoting", query.allow_nonvoting),
        ("test_ids", list(query.test_ids)),
    )
    return doc | {key: value for key, value in optional if value}


def _er_match_keys(text: str) -> dict[str, Any]:
    # In ``query:`` a message regex is flagged as costly; written as ``regex:`` it is the
    # author's explicit choice, so regexes from TripleO entries stay regexes.
    plain = lucene.plain_query(text)
    if plain is None or not plain.regexes:
        return {"query": text}
    doc: dict[str, Any] = {}
    filters = [lucene.any_of(f"tags:{lucene.quote(t)}" for t in plain.tags)] if plain.tags else []
    if plain.filenames:
        terms = (filename_term(f) or lucene.quote(f) for f in plain.filenames)
        filters.append(lucene.any_of(f"filename:{t}" for t in terms))
    if filters:
        doc["query"] = lucene.all_of(filters)
    if plain.messages:
        doc["pattern"] = list(plain.messages)
    doc["regex"] = list(plain.regexes)
    return doc


def _er_bug_keys(query: Query) -> dict[str, Any]:
    """The fewest of ``bug:``/``tracker:`` that make the file name give back ``query.bug``."""
    link = bug_link(query.bug)
    tracked: list[dict[str, Any]] = [{"bug": link}, {"bug": link, "tracker": query.bug.kind}]
    candidates: list[dict[str, Any]] = [{}, *(tracked if query.bug.tracked else [{"bug": None}])]
    for keys in candidates:
        try:
            found = parse_query_yaml({"query": 'message:"x"', **keys}, query.id, Path())
        except QueryError:
            continue
        if found.bug == query.bug:
            return keys
    return candidates[-1]


def _folded(key: str, value: str) -> str:
    """``key: >-`` with ``value`` broken after each AND (``|2-`` for multi-line values).

    Each form is used only if YAML reads it back as exactly ``value``.
    """
    lines = re.split(r"(?<= AND) (?=\S)", value) if "\n" not in value else value.split("\n")
    style = ">-" if "\n" not in value else "|2-"
    text = f"{key}: {style}\n" + "".join(f"  {line}\n" for line in lines)
    try:
        if yaml.safe_load(text) == {key: value}:
            return text
    except yaml.YAMLError:
        pass
    return yaml.safe_dump({key: value}, allow_unicode=True, width=100)
