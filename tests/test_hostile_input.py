"""Malformed and abusive commands: each gets a clear reason, and the bot keeps answering.

Every case runs through the real dispatcher and commands against a real search server; after
each, a plain ``!help`` must still work, and the refusal must be in the audit table.
"""

from __future__ import annotations

import pytest

from bot.config.chat import RateLimit
from tests.support.chat import MATRIX_ROOM, SETTINGS, ChatHarness, FakeServices

MANY_TERMS = "message:(" + " OR ".join(f"t{n}" for n in range(25)) + ")"

HOSTILE = [
    # size
    ("!query " + "a" * 100_000, "that message is too long (100007 characters; the limit is 1000)"),
    ('!query message:"' + "a" * 400 + '"', "query too long (410 characters; the limit is 300)"),
    ("!query " + MANY_TERMS, "not allowed from chat: too many terms (25; the limit is 20)"),
    # syntax
    ('!query message:"unbalanced', "bad query: syntax error at column 9: unclosed quote"),
    ("!query (message:foo", "bad query: syntax error at column 1: unclosed '('"),
    ("!query message:foo)", "bad query: syntax error at column 12: unexpected ')'"),
    ("!query message:foo AND", "bad query: syntax error at column 16: nothing after 'AND'"),
    ("!query message:x:y", "bad query: unknown field 'x'"),
    ("!query message:build_name:x", "not allowed from chat: a field inside a field (message:build"),
    # match-everything and injection
    ("!query *", "bad query: '*' matches every document"),
    ("!query *:*", "bad query: '*:*' matches every document"),
    ("!query foo) OR (*", "bad query: syntax error at column 4: unexpected ')' (no '(' to close)"),
    ("!query message:x OR _exists_:message", "bad query: unknown field '_exists_'"),
    ("!query build_status:*", 'not allowed from chat: "build_status:*" matches every document'),
    ("!query NOT message:foo", "bad query: only NOT clauses: the query matches nearly every"),
    ("!query message:a && message:b", "not allowed from chat: &&, || and ! — write AND, OR"),
    ("!query hostname:x", 'not allowed from chat: field "hostname" (searchable: message,'),
    # costly forms
    ("!query message:*ing", "bad query: leading wildcard in 'message:*ing' is slow"),
    ("!query build_name:?empest", "bad query: leading wildcard in 'build_name:?empest'"),
    ("!query message:ab*", 'wildcard in "message:ab*": put at least 3 characters before it'),
    ("!query /.*/", "bad query: regex /.*/ on every field is slow"),
    ("!query build_name:/.*/", "not allowed from chat: regular expressions (/…/) scan every term"),
    ("!query message:foo~10", "bad query: fuzzy match"),
    ('!query message:"a b"~500', 'not allowed from chat: phrase slop "…"~500 (the limit is 5)'),
    ("!query build_change:[0 TO 99999999999]", "not allowed from chat: ranges ([a TO b], >x)"),
    ("!query @timestamp:[now-100y TO now]", 'not allowed from chat: field "@timestamp"'),
    # options
    ("!query message:foo --days 100000", "--days must be between 1 and 14 for non-admins"),
    ("!query message:foo --days -1", "--days must be between 1 and 14 for non-admins"),
    ("!query message:foo --days " + "9" * 900, "--days must be between 1 and 14"),
    ("!query message:foo --days 1e9", '--days takes a whole number of days, not "1e9"'),
    ("!query message:foo --evil", "unknown option --evil (options: --days)"),
    ("!query message:foo --days", "--days needs a value"),
    ("!query", "usage: !query <lucene | bug id> [--days N]"),
    ("!query --days 3", "usage: !query <lucene | bug id> [--days N]"),
    # control characters, IRC codes that are no formatting, unicode tricks
    ("!query message:foo\x00", "control characters (U+0000) are not allowed in commands"),
    ("!query message:foo\r\nPRIVMSG #x :owned", "control characters (U+000D) are not allowed"),
    ("!query \x01ACTION message:foo\x01", "control characters (U+0001) are not allowed"),
    ('!query message:"\u202egnp.exe"', "invisible formatting characters (right-to-left override"),
    ("!query message:\u200bfoo", "invisible formatting characters (zero width space, U+200B)"),
    # other commands
    ("!bug 9999999", 'no known query for bug "9999999"'),
    ("!bug <script>alert(1)</script>", 'no known query for bug id or query id "<script>alert(1)<'),
    ("!bug 1 --days 0", "--days must be between 1 and 14"),
    ("!uncat ../../etc/passwd", "a job glob is one word of letters, digits, . _ - * ?"),
    ("!uncat $(rm -rf /)", "a job glob is one word of letters, digits"),
    ("!uncat [abc]*", "a job glob is one word of letters, digits"),
    ("!help " + "x" * 500, 'no command "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…"; !help lists them'),
    ("!qeury message:foo", "unknown command !qeury — did you mean !query?"),
]


@pytest.mark.parametrize(("text", "reason"), HOSTILE, ids=[f"{n:02d}" for n in range(len(HOSTILE))])
async def test_hostile_input_gets_a_reason(chat: ChatHarness, text: str, reason: str) -> None:
    replies = await chat.run_command(text)
    assert len(replies) == 1, replies
    assert reason in replies[0]
    assert len(replies[0]) < 300
    assert "\n" not in replies[0]
    (_user, _room, command, result) = (await chat.audit())[-1]
    assert result.startswith("rejected: ")
    assert "\x00" not in command
    assert "\r" not in command
    assert len(command) <= 500
    # The bot is still there.
    assert (await chat.run_command("!help"))[0].startswith("commands: ")


def test_there_are_enough_cases() -> None:
    assert len(HOSTILE) >= 20


async def test_irc_formatting_codes_are_stripped_not_refused(chat: ChatHarness) -> None:
    (reply,) = await chat.run_command('\x02!query\x02 \x0304message:"Hash Sum mismatch"\x03')
    assert reply.startswith("your query over 7 d: ")


@pytest.mark.parametrize(
    "phrase", ["💥🔥 boom", "e\u0301\u0301\u0301\u0301", "שלום עולם", "👨\u200d👩\u200d👧"]
)
async def test_unicode_queries_just_run(chat: ChatHarness, phrase: str) -> None:
    (reply,) = await chat.run_command(f'!query message:"{phrase}"')
    assert reply.startswith("your query over 7 d: no hits")


async def test_html_in_a_query_is_never_rendered_for_matrix(chat: ChatHarness) -> None:
    (reply,) = await chat.run('!query message:"<script>alert(1)</script>"', room=MATRIX_ROOM)
    assert reply.plain.startswith("your query over 7 d: no hits")
    assert reply.html is not None
    assert "<script" not in reply.html
    (refused,) = await chat.run("!bug <img src=x onerror=alert(1)>", room=MATRIX_ROOM)
    assert refused.html is None  # refusals are plain text: nothing for a client to render


async def test_a_flood_of_junk_is_throttled_quietly(services: FakeServices) -> None:
    settings = SETTINGS.model_copy(update={"user_rate": RateLimit(burst=3, per_minute=2)})
    flood = ChatHarness(services, settings)
    replies = [await flood.run_command("!query \x00") for _ in range(20)]
    spoken = [r for r in replies if r]
    assert len(spoken) == 4  # three refusals, one "please wait", then silence
    assert spoken[-1] == ["please wait 30 s before your next command"]
