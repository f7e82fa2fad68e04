"""ER's one-query-per-file format (and our extensions): a YAML document to a :class:`Query`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot.bugs import (
    JIRA_BROWSE,
    TRACKER_KINDS,
    Bug,
    TrackerKind,
    ref_from_id,
    ref_from_name,
    untracked,
)
from bot.queries import lucene
from bot.queries.model import Problem, Query, QueryError
from bot.queries.yamldoc import (
    Flag,
    Strings,
    Text,
    TextList,
    model_keys,
    model_problems,
    one_of,
    show,
    text_list,
)


def _bug_value(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError(f"must be a bug id or a tracker URL, not {show(value)}")


def _regex_value(value: object) -> bool | tuple[str, ...]:
    return value if isinstance(value, bool) else text_list(value)


class ErQueryFile(BaseModel):
    """The keys of a one-query file (ER's four plus our extensions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    query: Text | None = None
    pattern: TextList = ()
    regex: Annotated[bool | tuple[str, ...], BeforeValidator(_regex_value)] = False
    suppress_graph: Flag = Field(False, alias="suppress-graph")
    suppress_notification: Flag = Field(False, alias="suppress-notification")
    allow_nonvoting: Flag = Field(False, alias="allow-nonvoting")
    test_ids: Strings = ()
    bug: Annotated[str, BeforeValidator(_bug_value)] | None = None
    tracker: Annotated[str, BeforeValidator(one_of(*TRACKER_KINDS))] | None = None
    title: Text | None = None
    tags: TextList = ()
    owner: Text | None = None


#: Keys whose explicit ``null`` means something (``bug: null``: not filed yet).
_NULLABLE = frozenset({"bug"})


def parse_query_yaml(
    data: Mapping[str, Any], bug_id: str, path: Path, *, jira_browse: str = JIRA_BROWSE
) -> Query:
    """The query of one ER-style document; raises :class:`QueryError` listing all problems."""
    query, problems = parse_er(data, bug_id, jira_browse)
    if query is None:
        raise QueryError(*(Problem(path, p) for p in problems))
    return with_source(query, path)


def parse_er(
    data: Mapping[str, Any], name: str, jira_browse: str
) -> tuple[Query | None, list[str]]:
    problems = [f"{key}: is empty" for key, v in data.items() if v is None and key not in _NULLABLE]
    try:
        doc = ErQueryFile.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        return None, problems + model_problems(exc, model_keys(ErQueryFile))
    text, text_problems = _er_lucene(doc)
    if problems:  # an empty query: "missing" would say the same thing again
        text_problems = [p for p in text_problems if not p.startswith("required key")]
    bug, bug_problem = _er_bug(doc, name, "bug" in data, jira_browse)
    problems += text_problems + ([bug_problem] if bug_problem else [])
    if problems or bug is None:
        return None, problems
    query = Query(
        id=name,
        lucene=text,
        bug=bug,
        suppress_graph=doc.suppress_graph,
        suppress_notification=doc.suppress_notification,
        allow_nonvoting=doc.allow_nonvoting,
        test_ids=doc.test_ids,
        title=doc.title,
        tags=doc.tags,
        owner=doc.owner,
    )
    return query, []


def _er_lucene(doc: ErQueryFile) -> tuple[str, list[str]]:
    """The query text and its problems: ``query`` checked in full, generated parts for syntax.

    Regexes asked for with ``regex:`` are the author's explicit choice, so their cost is not
    flagged; in ``query:`` a regex is often an accident (an unquoted path).
    """
    if doc.regex is True and not doc.pattern:
        return "", ["regex: 'true' makes the 'pattern' entries regexes, but there is no pattern"]
    as_regex = doc.regex is True
    regexes = doc.regex if isinstance(doc.regex, tuple) else ()
    generated = [
        "message:" + (lucene.regex(p) if as_regex else lucene.quote(p)) for p in doc.pattern
    ] + ["message:" + lucene.regex(r) for r in regexes]
    written = doc.query.strip() if doc.query is not None else None
    if written is None:
        if not generated:
            return "", ["required key is missing: 'query' (or 'pattern' / 'regex')"]
        text = lucene.all_of(generated)
        bad = lucene.syntax_problem(text)
        return text, [f"pattern: {bad}"] if bad else []
    problems = [f"query: {p}" for p in lucene.lucene_problems(written)]
    text = lucene.all_of([lucene.group(written), *generated]) if generated else written
    return text, problems


def _er_bug(
    doc: ErQueryFile, name: str, bug_given: bool, jira_browse: str
) -> tuple[Bug | None, str | None]:
    kind = cast(TrackerKind | None, doc.tracker)
    if bug_given and doc.bug is None:
        return untracked(name), None
    if doc.bug is not None:
        ref = ref_from_id(doc.bug, kind, jira_browse=jira_browse)
        if ref is None and kind and doc.bug.startswith(("http://", "https://")):
            ref = Bug(kind, name, doc.bug)  # a tracker we know, hosted where we don't
        if ref is None:
            return None, f"bug: cannot tell the tracker of {doc.bug!r}; give its URL or a tracker:"
        return ref, None
    if kind:
        ref = ref_from_id(name, kind, jira_browse=jira_browse)
        return ref, None if ref else f"tracker: the file name {name!r} is no {kind} id; add bug:"
    ref = ref_from_name(name, jira_browse=jira_browse)
    if ref is None:
        return None, (
            f"the file name {name!r} says no bug: name it 1234567.yaml, KEY-123.yaml,"
            " rhbz123.yaml or gh-org-repo-123.yaml, or add bug: <URL>"
        )
    return ref, None


def with_source(query: Query, path: Path) -> Query:
    return replace(query, source=path)
