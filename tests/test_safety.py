"""Text from outside made safe: http(s) links only, printable lines only (pure functions)."""

from __future__ import annotations

import pytest

from bot.transports.safety import http_url, printable


@pytest.mark.parametrize(
    "url",
    [
        "https://review.opendev.org/c/openstack/nova/+/912345",
        "http://logs.example.org/11/4711/2/gate/job/abc1234/",
        "HTTPS://BUGS.LAUNCHPAD.NET/bugs/1",
        "https://[::1]:8080/x?a=1&b=2#frag",
    ],
)
def test_http_urls_are_links(url: str) -> None:
    assert http_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "//evil.example/x",
        "https:///no-host",
        'https://example.org/"onmouseover="alert(1)',
        "https://example.org/<script>",
        "https://example.org/a b",
        "https://example.org/\r\nX: y",
        "https://[::1/broken",
        "review.opendev.org/912345",
        "912345,2",
    ],
)
def test_anything_else_is_no_link(url: str | None) -> None:
    assert http_url(url) is None


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("line one\r\nline two", "line one  line two"),
        ("tab\there", "tab here"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b]0;window title\x07after", "after"),
        ("\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x9b2Jgone", "gone"),
        ("\x1b(Bcharset", "charset"),
        ("lone\x1b", "lone"),
        ("nul\x00bel\x07del\x7f", "nulbeldel"),
        ("\u202eexe.txt", "exe.txt"),
        ("a\u2066b\u2069c\u200fd\u061ce", "abcde"),
        ("one\u2028two\x85three", "one two three"),
        ("ünïcode 日本語 🙂 — fine", "ünïcode 日本語 🙂 — fine"),
    ],
)
def test_printable_leaves_one_line_of_printable_text(text: str, shown: str) -> None:
    assert printable(text) == shown
