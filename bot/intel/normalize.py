"""Log lines → templates: the parts that vary between runs of the same failure are masked.

Two runs of one failure differ in timestamps, uuids, addresses, temporary paths, node names and
counters; masking those makes the same failure give the same *template*, which the clusterer
can compare exactly. Masks are ``<URL>``, ``<PATH>``, ``<UUID>``, ``<TS>``, ``<IP>``, ``<HOST>``,
``<HEX>``, ``<DUR>`` and ``<NUM>``: upper-case words in angle brackets, which no rule matches
again, so normalising a template gives it back (:func:`normalize` is idempotent). About 50-100 µs
per line in CPython; repeated lines come from a cache.

Everything here is pure and never raises, whatever the text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from functools import lru_cache

MASK_NAMES = ("URL", "PATH", "UUID", "TS", "IP", "HOST", "HEX", "DUR", "NUM")
#: A mask inside a template.
MASK = re.compile(r"<(?:" + "|".join(MASK_NAMES) + r")>")

# Top-level domains that mark a dotted word as a host name. A list, because Python module
# paths (``nova.compute.manager``) look like host names too and are the signal we keep.
_TLDS = (
    "com|org|net|io|edu|gov|info|biz|cloud|dev|ci|local|localdomain|internal|intranet|lan|"
    "example|test|invalid|novalocal|corp|home|ai|us|uk|de|fr|cn|jp|ca|au"
)
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_UNITS = r"ms|us|µs|ns|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|days?"

#: A rule: run ``pattern.sub(replacement)`` when the text holds any of ``needs`` (a cheap
#: ``in`` test that skips most rules on most lines: a template has no digits left).
Rule = tuple[tuple[str, ...], re.Pattern[str], str | Callable[[re.Match[str]], str]]
_DIGITS = tuple("0123456789")


def _ipv6(match: re.Match[str]) -> str:
    text = match.group()
    # Only real IPv6 shapes: compressed (::) or all eight groups; "a:b:1" is not an address.
    is_ip = any(c.isdigit() for c in text) and ("::" in text or text.count(":") == 7)
    return "<IP>" if is_ip else text


# Word edges that also treat a mask's angle brackets as part of a word: masking "0" in "0host"
# must not make "host" start a word that the next pass would mask (idempotence).
_S = r"(?<![\w<>])"
_E = r"(?![\w<>])"

# Order matters: wide shapes first (a URL holds a host and a path, a path may hold a uuid),
# numbers last.
RULES: tuple[Rule, ...] = (
    (("://",), re.compile(_S + r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+"), "<URL>"),
    # Absolute paths (/a, ~/a, ./a) and relative ones with at least two slashes (a/b/c).
    (("/",), re.compile(r"(?<![\w/.~<>-])(?:~|\.{1,2})?(?:/[\w.@%+=,~-]+)+/?"), "<PATH>"),
    (("/",), re.compile(r"(?<![\w/.~<>-])[\w.-]+(?:/[\w.@%+=,~-]+){2,}/?"), "<PATH>"),
    (
        ("-",),
        re.compile(_S + r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}" + _E),
        "<UUID>",
    ),
    (
        ("-",),
        re.compile(
            _S + r"\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)?"
            r"(?:Z|[+-]\d{2}:?\d{2})?" + _E
        ),
        "<TS>",
    ),
    (
        (":",),
        re.compile(_S + rf"(?:{_MONTHS})\s+\d{{1,2}}\s+\d{{1,2}}:\d{{2}}:\d{{2}}" + _E),
        "<TS>",
    ),
    ((":",), re.compile(_S + r"\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?" + _E), "<TS>"),
    ((".",), re.compile(_S + r"\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?(?::\d{1,5})?" + _E), "<IP>"),
    (
        ("::", *_DIGITS),
        re.compile(r"(?<![\w:<>])(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?![\w:<>])"),
        _ipv6,
    ),
    (
        (".",),
        re.compile(
            r"(?<![\w.<>-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
            rf"(?:{_TLDS})(?![\w<>]|[.-][\w<])"
        ),
        "<HOST>",
    ),
    # CI node names: np0035123456, ubuntu-noble-ovh-bhs1-0035123456.
    (_DIGITS, re.compile(_S + r"(?:np\d{6,}|[a-z][a-z0-9]*(?:-[a-z0-9]+)+-\d{6,})" + _E), "<HOST>"),
    (("=",), re.compile(_S + r"(host(?:name)?|node(?:name)?)=(['\"]?)[\w.-]+"), r"\1=\2<HOST>"),
    # Ansible's per-host results: "fatal: [controller-1]: FAILED!".
    (
        (": [",),
        re.compile(_S + r"(ok|fatal|changed|skipping|failed|unreachable|included): \[[^\]\s<>]+\]"),
        r"\1: [<HOST>]",
    ),
    (_DIGITS, re.compile(_S + r"0[xX][0-9a-fA-F]+" + _E), "<HEX>"),
    # Hex ids (short git shas, request ids): at least one digit and one letter, so plain
    # numbers stay <NUM> and words made of a-f ("decade") stay words.
    (
        _DIGITS,
        re.compile(_S + r"(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}" + _E),
        "<HEX>",
    ),
    (_DIGITS, re.compile(_S + rf"\d+(?:\.\d+)?\s?(?:{_UNITS})" + _E), "<DUR>"),
    (_DIGITS, re.compile(r"\d+(?:\.\d+)*"), "<NUM>"),
    (("  ", "\t", "\n", "\r", "\x0b", "\x0c"), re.compile(r"\s+"), " "),
    # "1h 02m 03s" and lists of ids are one variable thing each.
    (("><", "> <", ">,", ">;"), re.compile(r"(<[A-Z]+>)(?:[\s,;]*\1)+"), r"\1"),
)


@lru_cache(maxsize=65536)
def normalize(line: str) -> str:
    """The template of ``line``: variable parts masked, whitespace collapsed.

    One pass over the rules; the word edges above make that pass idempotent (a property test
    holds it to that), which halves the cost against looping until nothing changes.
    """
    text = line
    for needs, pattern, replacement in RULES:
        if any(need in text for need in needs):
            text = pattern.sub(replacement, text)
    return text.strip()


def fingerprint(templates: Iterable[str]) -> str:
    """A stable hex digest of a set of templates (order and duplicates do not matter)."""
    joined = "\n".join(sorted(set(templates)))
    return hashlib.sha1(joined.encode("utf-8", "surrogatepass")).hexdigest()
