"""What Lucene's own query parser refuses although luqum reads it, so that no such query reaches
the search server (which would refuse the one request that carries every query).

- Regular expressions (``/.../``) in Lucene's ``RegExp`` syntax, with every optional construct
  on (as ``query_string`` parses them): balanced groups and classes, ranges in order, only the
  escapes it knows, repeat counts that are numbers, no named automata; and no longer than the
  server takes (OpenSearch's ``index.max_regex_length``).
- ``^`` (boost) with no number after it, ``\\u`` escapes without four hex digits, a word
  starting with ``!`` (Lucene reads it as NOT).

And what would cost real time or memory before any of that: :func:`bounds_problem` checks the
length, the number of terms (luqum parses a long OR in quadratic time) and the nesting (it
walks the tree recursively) with a linear scan, before the parser runs.

Pure; problems are ``(message, offset in the query)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from luqum import tree
from luqum.exceptions import ParseError
from luqum.parser import lexer as _lexer

#: The longest regex the server takes (OpenSearch and Elasticsearch: index.max_regex_length).
MAX_REGEX_CHARS = 1000
#: Deepest nesting of groups in a regex (Lucene parses them recursively).
MAX_REGEX_DEPTH = 50
#: Largest repeat count ``{n,m}``: bigger ones build automata too big to run.
MAX_REPEAT = 1000

#: Longest query text (the longest upstream query has about 500 characters).
MAX_QUERY_CHARS = 10_000
#: Most terms in one query (Lucene's default limit of clauses in one boolean query).
MAX_TERMS = 1024
#: Deepest nesting of parentheses.
MAX_DEPTH = 100

_PREDEFINED = "dDwWsS"
_PHRASE = re.compile(r'"(?:[^"\\]|\\.)*"?')
_TERMS = re.compile(rf"{_PHRASE.pattern}|[^\s()]+")
_OPERATORS = frozenset({"AND", "OR", "NOT", "TO", "&&", "||"})
_BAD_UNICODE = re.compile(r"(?<!\\)(?:\\\\)*\\u(?![0-9a-fA-F]{4})")
_INT_MAX = 2**31 - 1


class RegexSyntaxError(ValueError):
    """Lucene would refuse the regex; ``offset`` is where in it."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def bounds_problem(text: str) -> str | None:
    """Why ``text`` is too big to parse (characters, terms, nesting), or None. Linear."""
    if len(text) > MAX_QUERY_CHARS:
        return f"query too long ({len(text)} characters; the limit is {MAX_QUERY_CHARS})"
    terms = 0
    for match in _TERMS.finditer(text):
        terms += match.group() not in _OPERATORS
        if terms > MAX_TERMS:
            return f"too many terms (more than {MAX_TERMS})"
    depth = 0
    for char in _PHRASE.sub(" ", text):  # a parenthesis in a phrase is text
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth > MAX_DEPTH:
            return f"parentheses nested more than {MAX_DEPTH} deep"
    return None


def regex_problem(pattern: str) -> str | None:
    """Why Lucene refuses ``pattern`` (a regex without its slashes), or None."""
    if len(pattern) > MAX_REGEX_CHARS:
        return f"longer than {MAX_REGEX_CHARS} characters (the server's limit)"
    try:
        _Regex(pattern).parse()
    except RegexSyntaxError as exc:
        return str(exc)
    return None


def server_problems(text: str, node: Any) -> Iterator[tuple[str, int]]:
    """What the server's parser refuses in ``text`` (luqum's tree ``node``), with offsets."""
    yield from _token_problems(text)
    for item in _nodes(node):
        offset = getattr(item, "pos", None) or 0
        if isinstance(item, tree.Regex):
            problem = regex_problem(item.value[1:-1])
            if problem:
                yield f"bad regex {_brief(item.value)}: {problem}", offset
        elif isinstance(item, (tree.Word, tree.Phrase)):
            value: str = item.value
            if _BAD_UNICODE.search(value):
                yield f"'\\u' needs four hex digits after it in {_brief(value)}", offset
            if isinstance(item, tree.Word) and value.startswith("!"):
                yield f"{_brief(value)}: '!' means NOT here; escape it (\\!) or quote it", offset


def _token_problems(text: str) -> Iterator[tuple[str, int]]:
    lexer = _lexer.clone()
    lexer.input(text)
    try:
        for token in iter(lexer.token, None):
            if token.type == "BOOST" and token.value.value is None:
                yield "'^' needs a number after it (a boost, as in ^2)", token.lexpos
    except ParseError:
        return  # the parser says what is wrong with it


def _nodes(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        stack.extend(reversed(item.children))


def _brief(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


class _Regex:
    """A recognizer for Lucene's RegExp grammar (RegExp.ALL): raises :class:`RegexSyntaxError`.

    union := inter ('|' inter)*; inter := concat ('&' concat)*; concat := repeat+;
    repeat := compl ('?' | '*' | '+' | '{n}' | '{n,}' | '{n,m}')*; compl := '~'* class;
    class := '[' '^'? item+ ']' | simple; simple := '.' | '#' | '@' | '"..."' | '(' union? ')'
    | '<n-m>' | char. Any other character is itself, ``\\`` escapes the next one (``\\d`` and
    friends are classes; before another letter it is an error).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.opened: list[int] = []  # positions of the brackets still open

    def parse(self) -> None:
        if self.text:
            self.union()
        if self.pos < len(self.text):
            self.fail(f"unexpected {self.text[self.pos]!r} (no '(' to close)")

    def fail(self, what: str, at: int | None = None) -> None:
        where = self.pos if at is None else at
        raise RegexSyntaxError(f"{what} at position {where}", where)

    def more(self) -> bool:
        return self.pos < len(self.text)

    def peek(self, chars: str) -> bool:
        return self.more() and self.text[self.pos] in chars

    def match(self, char: str) -> bool:
        if self.peek(char):
            self.pos += 1
            return True
        return False

    def next(self) -> str:
        if not self.more():
            if self.opened:
                start = self.opened[-1]
                self.fail(f"unclosed {self.text[start]!r}", start)
            self.fail("unexpected end")
        char = self.text[self.pos]
        self.pos += 1
        return char

    def union(self) -> None:
        self.inter()
        while self.match("|"):
            self.inter()

    def inter(self) -> None:
        self.concat()
        while self.match("&"):
            self.concat()

    def concat(self) -> None:
        self.repeat()
        while self.more() and not self.peek(")|&"):
            self.repeat()

    def repeat(self) -> None:
        while self.match("~"):
            pass
        self.char_class()
        while self.peek("?*+{"):
            if self.match("{"):
                self.counts()
            else:
                self.pos += 1

    def counts(self) -> None:
        start = self.pos - 1
        self.number(required=True)
        if self.match(","):
            self.number(required=False)
        if not self.match("}"):
            self.fail("unclosed '{'", start)

    def number(self, *, required: bool) -> None:
        start = self.pos
        while self.peek("0123456789"):
            self.pos += 1
        if start == self.pos:
            if required:
                self.fail("a number must follow '{'")
            return
        if int(self.text[start : self.pos]) > MAX_REPEAT:
            self.fail(f"repeat count over {MAX_REPEAT}", start)

    def char_class(self) -> None:
        if not self.match("["):
            self.simple()
            return
        self.opened.append(self.pos - 1)
        self.match("^")
        self.class_item()
        while self.more() and not self.peek("]"):
            self.class_item()
        if not self.match("]"):
            self.fail("unclosed '['", self.opened[-1])
        self.opened.pop()

    def class_item(self) -> None:
        if self.predefined():
            return
        start = self.pos
        low = self.char()
        if self.match("-"):
            high = self.char()
            if low > high:
                self.fail(f"range {low}-{high} is out of order", start)

    def simple(self) -> None:
        if self.match(".") or self.match("#") or self.match("@"):
            return
        if self.peek('"(<'):
            closing = {'"': '"', "(": ")", "<": ">"}[self.text[self.pos]]
            self.group(closing)
        elif not self.predefined():
            self.char()

    def group(self, closing: str) -> None:
        start = self.pos
        opening = self.next()
        if len(self.opened) >= MAX_REGEX_DEPTH:
            self.fail(f"groups nested more than {MAX_REGEX_DEPTH} deep", start)
        self.opened.append(start)
        if opening == "(":
            if not self.match(")"):
                self.union()
                if not self.match(")"):
                    self.fail("unclosed '('", start)
        else:
            end = self.text.find(closing, self.pos)
            if end < 0:
                self.fail(f"unclosed {opening!r}", start)
            inside, self.pos = self.text[self.pos : end], end + 1
            if opening == "<":
                self.interval(inside, start)
        self.opened.pop()

    def interval(self, inside: str, start: int) -> None:
        low, dash, high = inside.partition("-")
        if not dash:
            self.fail(f"<{inside}> names an automaton the server does not have", start)
        if not (low.isdigit() and high.isdigit() and max(int(low), int(high)) <= _INT_MAX):
            self.fail(f"<{inside}> is no interval of whole numbers <n-m>", start)

    def predefined(self) -> bool:
        """A ``\\d``-style class (consumed: True); an escape of another letter fails."""
        if not self.peek("\\") or self.pos + 1 >= len(self.text):
            return False
        after = self.text[self.pos + 1]
        if after in _PREDEFINED:
            self.pos += 2
            return True
        if after.isascii() and after.isalpha():
            self.fail(f"'\\{after}' is no escape Lucene knows")
        return False

    def char(self) -> str:
        if self.match("\\") and not self.more():
            self.fail("'\\' at the end escapes nothing", self.pos - 1)
        return self.next()
