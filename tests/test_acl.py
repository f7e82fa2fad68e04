"""ACL matching and token-bucket rate limits: pure (a fake clock), then through the dispatcher."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.chat.acl import (
    Acl,
    is_member,
    room_matches,
    user_key,
)
from bot.chat.dispatcher import Dispatcher
from bot.chat.ratelimit import RateLimiter
from bot.config.chat import ChatSettings, Principals, RateLimit
from bot.transports.base import Room, User
from bot.transports.registry import kind_of
from tests.support.chat import (
    CHANNEL,
    DASHBOARD,
    MATRIX_ROOM,
    OPS,
    SETTINGS,
    ChatHarness,
    FakeServices,
)
from tests.support.clock import FakeClock

ADMINS = Principals(
    irc_masks=("*!*@trusted.host", "ops!*@*.example.org"),
    irc_accounts=("infra-root",),
    matrix_users=("@*:admins.example", "@alice:example.org"),
)


def irc(ident: str, account: str | None = None) -> User:
    return User("irc", ident, ident.partition("!")[0], account)


# --- globs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("*!*@trusted.host", "nick!user@trusted.host", True),
        ("*!*@trusted.host", "nick!user@trusted.host.evil.com", False),
        ("*!*@trusted.host", "nick!user@untrusted.host", False),
        ("*!*@*.example.org", "a!b@c.example.org", True),
        ("*!*@*.example.org", "a!b@example.org.evil", False),
        ("bob?!*@*", "bob1!x@y", True),
        ("bob?!*@*", "bob!x@y", False),
        ("alice[m]!*@*", "alice[m]!x@matrix.org", True),  # [ is literal, not a class
        ("alice[m]!*@*", "alicem!x@matrix.org", False),
    ],
)
def test_glob(pattern: str, value: str, matches: bool) -> None:
    assert kind_of("irc").matches(pattern, value) is matches


def test_irc_globs_fold_case_the_rfc1459_way() -> None:
    assert kind_of("irc").matches("OPS[away]!*@*", "ops{AWAY}!x@y")
    assert not kind_of("matrix").matches(
        "@Alice:example.org", "@alice:example.org"
    )  # Matrix: exact case


@pytest.mark.parametrize(
    ("pattern", "room", "matches"),
    [
        ("#openstack-*", CHANNEL, True),
        ("#OpenStack-QA", CHANNEL, True),
        ("irc:#openstack-qa", CHANNEL, True),
        ("matrix:#openstack-qa", CHANNEL, False),
        ("matrix:!abc:example.org", Room("matrix", "!abc:example.org"), True),
        ("!abc:example.org", Room("matrix", "!abc:example.org"), True),
        ("#ops:example.org", Room("matrix", "#ops:example.org"), True),
    ],
)
def test_room_patterns(pattern: str, room: Room, matches: bool) -> None:
    assert room_matches(pattern, room) is matches


# --- membership ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "admin"),
    [
        (irc("anyone!~x@trusted.host"), True),
        (irc("ops!~ops@gw.example.org"), True),
        (irc("op!~ops@gw.example.org"), False),
        (irc("anyone!~x@elsewhere.net", account="infra-root"), True),
        (irc("anyone!~x@elsewhere.net", account="Infra-Root"), True),
        (irc("anyone!~x@elsewhere.net", account="someone"), False),
        (irc("anyone!~x@elsewhere.net"), False),
        # A bare nick (no user@host known) never matches a mask, not even "*!*@*"-ish ones.
        (User("irc", "ops", "ops"), False),
        (User("matrix", "@bob:admins.example", "bob"), True),
        (User("matrix", "@alice:example.org", "alice"), True),
        (User("matrix", "@alice:example.org.evil", "alice"), False),
        (User("matrix", "@mallory:evil.example", "@alice:example.org"), False),  # display name
        # An IRC-looking id on Matrix is not an IRC identity.
        (User("matrix", "x!y@trusted.host", "x"), False),
        (User("console", "operator", "operator"), True),
    ],
)
def test_admin_membership(user: User, admin: bool) -> None:
    assert is_member(ADMINS, user, CHANNEL) is admin


def test_rooms_make_everyone_in_them_a_member() -> None:
    ops_room = Principals(rooms=("#infra-ops",))
    stranger = irc("x!y@z.example")
    assert is_member(ops_room, stranger, Room("irc", "#infra-ops"))
    assert not is_member(ops_room, stranger, CHANNEL)


def test_the_console_can_be_untrusted() -> None:
    assert not is_member(Principals(console=False), User("console", "me", "me"), CHANNEL)


def test_command_levels_and_overrides() -> None:
    acl = Acl(ADMINS, {"query": "admin", "refresh": "anyone"})
    nobody, root = irc("n!n@n.example"), irc("r!r@trusted.host")
    assert acl.allows("status", "anyone", nobody, CHANNEL)
    assert not acl.allows("query", "anyone", nobody, CHANNEL)
    assert acl.allows("query", "anyone", root, CHANNEL)
    assert acl.allows("refresh", "admin", nobody, CHANNEL)
    assert Acl.from_settings(ChatSettings(acl={"bug": "admin"})).level("bug", "anyone") == "admin"


# --- rate limits ---------------------------------------------------------------------------


def test_limiter_takes_from_both_buckets_or_neither() -> None:
    clock = FakeClock(1000.0)
    limiter = RateLimiter(
        RateLimit(burst=5, per_minute=60), RateLimit(burst=2, per_minute=6), clock
    )
    assert limiter.check("u1", "room", 1) == 0
    assert limiter.check("u2", "room", 1) == 0
    wait = limiter.check("u1", "room", 1)
    assert wait == pytest.approx(10.0)  # the room bucket: 6 a minute
    assert limiter.check("u1", "other", 1) == 0  # u1's own bucket was not charged above
    clock.now += 10
    assert limiter.check("u3", "room", 1) == 0


def test_limiter_skip_user_for_admins() -> None:
    clock = FakeClock(1000.0)
    limiter = RateLimiter(
        RateLimit(burst=1, per_minute=1), RateLimit(burst=100, per_minute=100), clock
    )
    assert limiter.check("admin", "room", 1, skip_user=True) == 0
    assert limiter.check("admin", "room", 1, skip_user=True) == 0
    assert limiter.check("admin", "room", 1) == 0
    assert limiter.check("admin", "room", 1) == pytest.approx(60.0)


def test_limiter_refunds_what_was_taken_and_no_more() -> None:
    clock = FakeClock(1000.0)
    limiter = RateLimiter(
        RateLimit(burst=4, per_minute=60), RateLimit(burst=100, per_minute=60), clock
    )
    assert limiter.check("u", "room", 3) == 0
    limiter.refund("u", "room", 2)  # it cost 1 after all
    assert limiter.check("u", "room", 3) == 0  # 3 were left
    assert limiter.check("u", "room", 1) == pytest.approx(1.0)  # none left: a second each
    limiter.refund("u", "room", 50)
    assert limiter.check("u", "room", 4) == 0  # back to full, never above it
    assert limiter.check("u", "room", 1) == pytest.approx(1.0)


def test_limiter_warns_once_per_wait() -> None:
    clock = FakeClock(1000.0)
    limiter = RateLimiter(RateLimit(burst=1, per_minute=1), RateLimit(burst=9, per_minute=9), clock)
    assert limiter.should_warn("u", 30)
    assert not limiter.should_warn("u", 30)
    clock.now += 31
    assert limiter.should_warn("u", 30)


def test_limiter_forgets_idle_buckets() -> None:
    clock = FakeClock(1000.0)
    limiter = RateLimiter(
        RateLimit(burst=1, per_minute=60), RateLimit(burst=9, per_minute=60), clock
    )
    limiter.MAX_BUCKETS = 10
    for n in range(20):
        limiter.check(f"u{n}", "room", 1)
        clock.now += 5
    assert len(limiter._buckets) <= 11


def test_user_key_is_the_account_else_nick_and_host() -> None:
    # An account follows its owner across nicks and hosts.
    assert user_key(irc("a!~a@host.example", "acct")) == user_key(irc("z!~z@other", "ACCT"))
    # Without one: two people behind one gateway or bouncer are two people...
    assert user_key(irc("alice!~u@gateway.example")) != user_key(irc("bob!~u@gateway.example"))
    # ...and one person is one, whatever the ident and however the nick is cased.
    assert user_key(irc("Alice!~a@Gateway.example")) == user_key(irc("alice!other@gateway.example"))
    assert user_key(irc("alice!~a@one.example")) != user_key(irc("alice!~a@two.example"))
    assert user_key(User("matrix", "@a:x", "a")) != user_key(User("matrix", "@b:x", "a"))


# --- settings ------------------------------------------------------------------------------


def test_settings_defaults_and_validation() -> None:
    settings = ChatSettings()
    assert (settings.prefix, settings.default_days, settings.max_days) == ("!", 7, 14)
    with pytest.raises(ValidationError, match="punctuation"):
        ChatSettings(prefix="run ")
    with pytest.raises(ValidationError, match="default_days <= max_days"):
        ChatSettings(default_days=30, max_days=14)
    with pytest.raises(ValidationError, match="Extra inputs"):
        ChatSettings.model_validate({"admins": {"irc_mask": ["*!*@x"]}})
    with pytest.raises(ValidationError):
        ChatSettings.model_validate({"acl": {"refresh": "root"}})
    loaded = ChatSettings.model_validate(
        {"admins": {"irc_masks": ["*!*@trusted.host"]}, "user_rate": {"burst": 2, "per_minute": 1}}
    )
    assert loaded.admins.irc_masks == ("*!*@trusted.host",)


# --- through the dispatcher ----------------------------------------------------------------


async def test_an_unauthorised_user_cannot_refresh(chat: ChatHarness) -> None:
    assert await chat.run_command("!refresh") == ["sorry, !refresh is for admins only"]
    assert await chat.run_command("!graph") == ["sorry, !graph is for admins only"]
    assert chat.services.refreshes == 0
    audit = await chat.audit()
    assert [row[2:] for row in audit] == [("!refresh", "denied"), ("!graph", "denied")]


async def test_a_spoofed_display_name_is_not_an_admin(chat: ChatHarness) -> None:
    spoof = User("matrix", "@mallory:evil.example", "root")
    assert await chat.run_command("!refresh", user=spoof, room=MATRIX_ROOM) == [
        "sorry, !refresh is for admins only"
    ]


async def test_an_admin_refreshes(chat: ChatHarness) -> None:
    replies = await chat.run_command("!refresh", user=OPS)
    assert replies == [
        "refreshing the dashboard; I will say when it is done",
        f"dashboard refreshed in 1 s · {DASHBOARD}",
    ]
    assert chat.services.refreshes == 1
    assert (await chat.audit())[-1][2:] == ("!refresh", "ok")


async def test_a_user_over_the_rate_limit_is_told_to_wait_once(services: FakeServices) -> None:
    slow = RateLimit(burst=2, per_minute=1)
    chat = ChatHarness(services, SETTINGS.model_copy(update={"user_rate": slow}))
    assert "commands:" in (await chat.run_command("!help"))[0]
    assert "commands:" in (await chat.run_command("!help"))[0]
    assert await chat.run_command("!help") == ["please wait 60 s before your next command"]
    assert await chat.run_command("!help") == []  # told once; a flood gets no flood back
    # Others are not held up by alice, not even someone behind the same host (a bouncer).
    neighbour = User("irc", "bob!~alice@home.example.net", "bob")
    assert "commands:" in (await chat.run_command("!help", user=neighbour))[0]
    assert "commands:" in (await chat.run_command("!help", user=OPS))[0]
    results = [row[3] for row in await chat.audit()]
    assert results.count("rate-limited: wait 60 s") == 2


async def test_the_room_bucket_limits_everyone_in_the_room(services: FakeServices) -> None:
    settings = SETTINGS.model_copy(update={"room_rate": RateLimit(burst=3, per_minute=1)})
    chat = ChatHarness(services, settings)
    for n in range(3):
        user = User("irc", f"u{n}!u@host{n}.example", f"u{n}")
        assert "commands:" in (await chat.run_command("!help", user=user))[0]
    late = User("irc", "late!u@late.example", "late")
    assert (await chat.run_command("!help", user=late))[0].startswith("please wait")
    other = Room("irc", "#other")
    assert "commands:" in (await chat.run_command("!help", user=late, room=other))[0]


async def test_costly_commands_take_more_tokens(services: FakeServices) -> None:
    settings = SETTINGS.model_copy(update={"user_rate": RateLimit(burst=3, per_minute=1)})
    chat = ChatHarness(services, settings)
    assert (await chat.run_command("!bug 1400905"))[0].startswith("bug 1400905")  # costs 2
    assert (await chat.run_command("!bug 1400905"))[0].startswith("please wait")


async def test_commands_only_in_configured_rooms(services: FakeServices) -> None:
    chat = ChatHarness(services, SETTINGS.model_copy(update={"rooms": ("irc:#openstack-*",)}))
    assert await chat.run_command("!help", room=Room("irc", "#elsewhere")) == []
    assert await chat.run_command("!help", room=MATRIX_ROOM) == []
    assert len(await chat.run_command("!help", room=CHANNEL)) == 1
    # A private message is in no room: chat.rooms does not keep it out.
    private = Room("irc", "alice")
    assert len(await chat.run_command("help", room=private, private=True)) == 1


async def test_acl_overrides_from_settings(services: FakeServices) -> None:
    opened = SETTINGS.model_copy(update={"acl": {"refresh": "anyone", "query": "admin"}})
    chat = ChatHarness(services, opened)
    assert (await chat.run_command("!refresh"))[-1].startswith("dashboard refreshed")
    assert await chat.run_command("!query 1400905") == ["sorry, !query is for admins only"]
    with pytest.raises(ValueError, match="unknown command"):
        Dispatcher(services, SETTINGS.model_copy(update={"acl": {"graph": "anyone"}}))
