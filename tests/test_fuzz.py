"""Property-based fuzzing of everything that parses input from outside: Gerrit events and stream
lines, query files, channels.yaml, chat command lines. No exception may escape but the documented
ones (:class:`~bot.queries.QueryError`, :class:`~bot.config.ConfigError`, ``Rejected``), and the
event parser may not even fall back on its catch-all (that would be a parser bug).

``make test`` runs a short pass (profile ``ci``); ``make fuzz`` runs
``HYPOTHESIS_PROFILE=fuzz`` with 5000 examples per test (a few minutes).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chat.command import Rejected
from bot.chat.invocation import parse_invocation, text_problem
from bot.chat.options import split_options
from bot.config import ConfigError
from bot.events.convert import to_failed_build
from bot.events.decode import BadLine, decode_event
from bot.events.model import FailedBuild
from bot.events.parse import Skip, parse_event
from bot.events.source import RawEvent
from bot.queries import QueryError, load_queries, parse_query_yaml
from bot.transports.ircformat import strip_formatting
from bot.watch.routing import load_channels, parse_channels

settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=5_000, deadline=None, suppress_health_check=list(HealthCheck)
)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# --- strategies ----------------------------------------------------------------------------------

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
words = st.sampled_from(
    ["tempest-full", "grenade", "ERROR", "FAILURE", "SUCCESS", "gate", "check", "(non-voting)",
     "in", "1h", "02m", "3s", "RETRY_LIMIT", "TIMED_OUT", "-", ":", "https://", "http://",
     "logs.example.org/12/34/5/gate/job/abc1234/", "zuul.example.org/t/openstack/build/"
     "0123456789abcdef0123456789abcdef"]
)  # fmt: skip
headers = st.sampled_from(
    ["Build failed (gate pipeline).", "Build failed.", "Build succeeded (check pipeline).",
     "Patch Set 3: Verified-2", "Merge Failed.", "This change depends on a change that failed",
     "(2 comments)", "Starting gate jobs.", ""]
)  # fmt: skip
job_lines = st.builds(
    lambda name, url, result, rest: f"- {name} {url} : {result}{rest}",
    st.text(min_size=0, max_size=20) | words,
    st.text(max_size=40) | words.map(lambda w: f"https://{w}"),
    st.sampled_from(["FAILURE", "SUCCESS", "POST_FAILURE", "NODE_FAILURE", "SKIPPED", "x"]),
    st.lists(words, max_size=4).map(lambda ws: " " + " ".join(ws) if ws else ""),
)
comments = st.lists(headers | job_lines | st.text(max_size=60), max_size=12).map("\n".join)
changes = st.fixed_dictionaries(
    {},
    optional={
        "project": st.text(max_size=20) | json_values,
        "number": st.integers() | st.text(max_size=8) | json_values,
        "branch": st.text(max_size=10),
        "url": st.text(max_size=30),
    },
)
events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["comment-added", "patchset-created"]) | st.text(max_size=10),
        "author": st.fixed_dictionaries({"username": st.sampled_from(["zuul", "jenkins", "x"])})
        | json_values,
        "comment": comments | json_values,
    },
    optional={
        "change": changes | json_values,
        "patchSet": st.fixed_dictionaries({}, optional={"number": st.integers() | json_values}),
        "eventCreatedOn": st.integers() | st.floats() | st.text(max_size=12),
    },
)
lucene = st.lists(
    st.sampled_from(
        ['message:"', '"', "(", ")", " AND ", " OR ", " NOT ", "tags:console", "*", "?", "\\",
         "~2", "^3", "[", "]", "{", "}", " TO ", "/re.*x/", "build_name:", "voting:1", "-", "+",
         ":", " ", "field", "Traceback", "&&", "||", "!"]
    ) | st.text(max_size=8),
    max_size=25,
).map("".join)  # fmt: skip
query_docs = st.dictionaries(
    st.sampled_from(
        ["query", "bug", "title", "tags", "owner", "tracker", "suppress-graph",
         "suppress-notification", "allow-nonvoting", "test_ids", "pattern", "regex", "other"]
    ),
    lucene | json_values,
    max_size=6,
)  # fmt: skip
channel_cfg = st.fixed_dictionaries(
    {},
    optional={
        key: json_values | st.lists(st.text(max_size=10), max_size=3)
        for key in ("projects", "events", "branches", "jobs", "teams", "bugs", "queues")
    }
    | {"transport": st.sampled_from(["irc", "matrix", "console", "x"]) | json_values}
    | {"room": st.text(max_size=20) | json_values, "gerrit": st.text(max_size=8)},
)
channels_docs = st.dictionaries(st.text(max_size=12), channel_cfg | json_values, max_size=4).map(
    lambda chans: {"channels": chans}
) | st.dictionaries(st.text(max_size=12), json_values, max_size=4)


# --- events --------------------------------------------------------------------------------------


@PROFILE
@given(events | st.dictionaries(st.text(max_size=10), json_values))
def test_any_event_parses_to_a_build_or_a_reason(data: dict[str, Any]) -> None:
    result = parse_event(RawEvent("gerrit", data), ci_accounts=["zuul", "jenkins"])
    assert isinstance(result, FailedBuild | Skip)
    if isinstance(result, Skip):
        assert not result.reason.startswith("internal error"), result.reason
    else:
        assert result.failed_jobs


@PROFILE
@given(st.text() | st.binary() | json_values.map(json.dumps) | events.map(json.dumps))
def test_any_stream_line_parses_or_is_refused_with_a_reason(line: str | bytes) -> None:
    result = decode_event(line)
    assert result is None or isinstance(result, BadLine | dict)
    if isinstance(result, dict):
        assert isinstance(result["type"], str)
    elif isinstance(result, BadLine):
        assert result.reason


@PROFILE
@given(st.sampled_from(["gerrit", "zuul-mqtt", "", "gerrit-ssh"]), json_values)
def test_any_raw_event_of_any_kind_converts_or_is_skipped(kind: str, data: Any) -> None:
    result = to_failed_build(RawEvent("s", data, kind=kind), ["zuul"])
    assert isinstance(result, FailedBuild | Skip)
    if isinstance(result, Skip):
        assert not result.reason.startswith("internal error"), result.reason


# --- query files ---------------------------------------------------------------------------------


@PROFILE
@given(query_docs, st.text(min_size=1, max_size=12))
def test_any_query_document_gives_a_query_or_query_error(doc: dict[str, Any], bug: str) -> None:
    try:
        query = parse_query_yaml(doc, bug, Path(f"{bug}.yaml"))
    except QueryError as exc:
        problem = str(exc)
    else:
        problem = query.lucene  # a query always has its text
    assert problem


@PROFILE
@given(st.lists(query_docs.map(yaml.safe_dump) | st.text(max_size=80), min_size=1, max_size=4))
def test_any_query_repo_loads_with_problems_never_exceptions(files: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(files):
            (Path(tmp) / f"{1000 + i}.yaml").write_text(text, encoding="utf-8")
        repo = load_queries(Path(tmp))
    assert len(repo.queries) + len({p.path for p in repo.problems}) >= 1


# --- channels.yaml -------------------------------------------------------------------------------


@PROFILE
@given(channels_docs)
def test_any_channels_mapping_routes_or_is_a_config_error(doc: dict[str, Any]) -> None:
    problem = "channels.yaml: "
    try:
        routing = parse_channels(doc)
    except ConfigError as exc:
        problem = str(exc)
    else:
        assert all(room.id for room in routing.rooms)
    assert problem.startswith("channels.yaml: ")  # errors name the file


@PROFILE
@given(channels_docs.map(yaml.safe_dump) | st.text(max_size=120))
def test_any_channels_file_loads_or_is_a_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "channels.yaml"
        path.write_text(text, encoding="utf-8")
        problem = str(path)
        try:
            load_channels(path)
        except ConfigError as exc:
            problem = str(exc)
    assert problem.startswith(str(path))  # errors name the file


# --- chat command lines --------------------------------------------------------------------------

command_lines = st.builds(
    lambda head, words, tail: head + " ".join(words) + tail,
    st.sampled_from(["!", "recheckbot: ", "RecheckBot, ", "", "!!", "\x02!"]),
    st.lists(
        st.sampled_from(["query", "uncat", "--days", "--days=3", "—days", '"', '"a b"', "\\"])
        | st.text(max_size=10),
        max_size=6,
    ),
    st.text(max_size=10),
)


@PROFILE
@given(command_lines | st.text())
def test_any_chat_line_is_a_command_or_not(text: str) -> None:
    clean = strip_formatting(text)
    problem = text_problem(clean, 400)
    assert problem is None or problem.strip()
    found = parse_invocation(clean, "!", ["recheckbot"])
    if found is not None:
        assert found.name == found.name.lower()
        try:
            _, options = split_options(found.args, ["days", "queue"])
        except Rejected as exc:
            options, reason = {}, str(exc)
        else:
            reason = "accepted"
        assert set(options) <= {"days", "queue"}
        assert reason  # a refusal always says why
