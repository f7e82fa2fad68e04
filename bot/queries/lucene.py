"""Lucene ``query_string`` text: parse it with luqum, find mistakes and costly forms, build it.

Everything here is pure and independent of files, so the query loader, the CLI and chat
(``!query``) share it. Problems are short user-facing strings; the caller adds where they came
from (file, key).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from luqum import tree
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.parser import lexer as _lexer
from luqum.thread import parse as _parse

from bot.queries.syntax import bounds_problem, server_problems
from bot.search.schema import KNOWN_FIELDS, is_known_field

#: Analyzed (full text) fields: regex, fuzzy and open ranges on these scan every term.
TEXT_FIELDS = frozenset({"message", "@message"})

# Characters query_string gives a meaning to inside a term (``-``/``+`` only lead one, see
# escape_term). ES cannot escape < and > at all: a term holding them must be a phrase.
_TERM_SPECIAL = re.compile(r'([=&|!(){}\[\]^"~*?:\\/\s])')
_POSITION = re.compile(r"position (\d+)")


class LuceneSyntaxError(ValueError):
    """The text does not parse; ``offset`` is where (0-based, ``len(text)`` for "the end")."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def parse_lucene(text: str) -> Any:
    """The luqum tree of ``text``; raises :class:`LuceneSyntaxError` with a located message,
    also for what luqum reads but the server's parser refuses (:mod:`bot.queries.syntax`)."""
    if not text.strip():
        raise LuceneSyntaxError("empty query", 0)
    if too_big := bounds_problem(text):
        raise LuceneSyntaxError(too_big, 0)
    try:
        node = _parse(text)
    except ParseError as exc:
        message, offset = _syntax_message(text, exc, _error_offset(text, exc))
        raise LuceneSyntaxError(message, offset) from None
    except Exception as exc:  # luqum trips on some odd input (``a^1.2.3``: a decimal error)
        raise LuceneSyntaxError(f"syntax error: unreadable ({type(exc).__name__})", 0) from None
    for message, offset in server_problems(text, node):
        raise LuceneSyntaxError(f"syntax error at {_where(text, offset)}: {message}", offset)
    return node


def lucene_problems(text: str) -> list[str]:
    """Everything wrong with a query: syntax, unknown fields, costly forms. Empty when fine."""
    try:
        node = parse_lucene(text)
    except LuceneSyntaxError as exc:
        return [str(exc)]
    found = [msg for item, field in walk(node) for msg in _item_problems(item, field)]
    if not any("matches every document" in msg for msg in found):  # else it would say it twice
        found += _scope_problems(node)
    return list(dict.fromkeys(found))


def syntax_problem(text: str) -> str | None:
    """Only the syntax check (for generated queries, whose costs the author chose)."""
    try:
        parse_lucene(text)
    except LuceneSyntaxError as exc:
        return str(exc)
    return None


# --- syntax errors -------------------------------------------------------------------------


def _error_offset(text: str, exc: ParseError) -> int:
    found = _POSITION.search(str(exc))
    return int(found.group(1)) if found else len(text)


def _syntax_message(text: str, exc: ParseError, offset: int) -> tuple[str, int]:
    """The message and the offset it points at (an unclosed bracket rather than the end)."""
    if isinstance(exc, IllegalCharacterError):
        what = _illegal_char(text[offset : offset + 1])
    elif offset >= len(text):
        what, offset = _unexpected_end(text)
    else:
        token = _token_at(text, offset)
        what = f"unexpected {token!r}"
        if token == ")":
            what += " (no '(' to close)"
    return f"syntax error at {_where(text, offset)}: {what}, near {_near(text, offset)!r}", offset


def _illegal_char(char: str) -> str:
    # luqum's lexer stops on the first character no token starts with; these three are the
    # usual culprits, each an unfinished construct.
    return {
        '"': "unclosed quote",
        "/": "unclosed regex '/' (quote paths: \"/usr/bin\")",
        "\\": "backslash escapes nothing",
    }.get(char, f"unexpected character {char!r}")


def _unexpected_end(text: str) -> tuple[str, int]:
    """Why the query ends early: an unclosed bracket (pointed at), else a dangling operator."""
    opened = _unclosed_bracket(text)
    if opened is not None:
        return f"unclosed {text[opened]!r}", opened
    last = text.split()[-1]
    if last.upper() in ("AND", "OR", "NOT") or last.endswith(":"):
        return f"nothing after {last!r}", len(text.rstrip())
    return "unexpected end of query", len(text.rstrip())


def _unclosed_bracket(text: str) -> int | None:
    lexer = _lexer.clone()
    lexer.input(text)
    stack: list[int] = []
    try:
        for token in iter(lexer.token, None):
            if token.type in ("LPAREN", "LBRACKET"):
                stack.append(token.lexpos)
            elif token.type in ("RPAREN", "RBRACKET") and stack:
                stack.pop()
    except ParseError:
        return None
    return stack[-1] if stack else None


def _token_at(text: str, offset: int) -> str:
    found = re.match(r'"(?:[^"\\]|\\.)*"|\w+|\S', text[offset:])
    return found.group(0) if found else text[offset:]


def _where(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}" if "\n" in text.strip() else f"column {column}"


def _near(text: str, offset: int, width: int = 20) -> str:
    start = max(0, offset - width)
    snippet = " ".join(text[start : offset + width].split())
    return ("…" if start else "") + snippet + ("…" if offset + width < len(text) else "")


# --- structure checks ----------------------------------------------------------------------


def walk(node: Any, field: str | None = None) -> Iterator[tuple[Any, str | None]]:
    """Every node with the field it searches (``None``: the default field)."""
    yield node, field
    if isinstance(node, tree.Range):
        return  # its bounds are not terms of their own (a ``*`` bound is not "match all")
    inner = node.name if isinstance(node, tree.SearchField) else field
    for child in node.children:
        yield from walk(child, inner)


def _item_problems(item: Any, field: str | None) -> Iterator[str]:
    if isinstance(item, tree.SearchField):
        yield from _field_problems(item)
    elif isinstance(item, tree.Word):
        yield from _word_problems(item, field)
    elif isinstance(item, tree.Regex) and _is_text(field):
        yield (
            f"regex {item.value} on {field or 'every field'} is slow (scans every term);"
            ' use a phrase, and quote paths like "/usr/bin"'
        )
    elif isinstance(item, tree.Fuzzy):
        yield f"fuzzy match {str(item).strip()!r} is slow and imprecise; quote it or escape '~'"
    elif isinstance(item, (tree.Range, tree.From, tree.To)) and _is_text(field):
        if isinstance(item, (tree.From, tree.To)) or "*" in (item.low.value, item.high.value):
            yield f"open-ended range {str(item).strip()!r} on {field or 'every field'} is slow"
    elif isinstance(item, (tree.OrOperation, tree.AndOperation, tree.UnknownOperation)):
        yield from _mixing_problems(item)


def _field_problems(item: Any) -> Iterator[str]:
    name: str = item.name
    if name == "*":
        if isinstance(item.expr, tree.Word) and item.expr.value == "*":
            yield "'*:*' matches every document; name what to match"
        else:
            yield f"'*:' searches every field; name one, as in message:{item.expr}"
    elif not is_known_field(name):
        yield f"unknown field {name!r}{did_you_mean(name, KNOWN_FIELDS)}"


def _word_problems(item: Any, field: str | None) -> Iterator[str]:
    value: str = item.value
    if value == "*":
        if _is_text(field):
            yield "'*' matches every document; name what to match"
        # on a keyword field, ``field:*`` asks "has this field": cheap
    elif value[:1] in ("*", "?"):
        shown = f"{field}:{value}" if field else value
        yield f"leading wildcard in {shown!r} is slow (scans every term); drop it"


def _mixing_problems(item: Any) -> Iterator[str]:
    # Explicit parentheses become Group nodes, so an AND directly under an OR (or the reverse)
    # came from precedence, which Lucene's query_string does not apply the way it reads.
    is_or = isinstance(item, tree.OrOperation)
    for child in item.children:
        if isinstance(child, tree.OrOperation) != is_or and isinstance(
            child, (tree.OrOperation, tree.AndOperation, tree.UnknownOperation)
        ):
            yield f"AND and OR mixed without parentheses in {_near(str(item), 0, 30)!r}"


def _is_text(field: str | None) -> bool:
    return field is None or field in TEXT_FIELDS


def _scope_problems(node: Any) -> list[str]:
    if not _restricts(node, need_field=False):
        return ["only NOT clauses: the query matches nearly every document; add what to match"]
    if not _restricts(node, need_field=True):
        return ['no clause names a field: bare terms search every field; write message:"…"']
    return []


def _restricts(node: Any, *, need_field: bool, field: str | None = None) -> bool:
    """Whether ``node`` limits which documents match: a positive clause (on a named field)."""
    if isinstance(node, (tree.Not, tree.Prohibit)):
        return False
    if isinstance(node, tree.SearchField):
        return _restricts(node.expr, need_field=need_field, field=node.name)
    if isinstance(node, tree.OrOperation):
        return all(_restricts(c, need_field=need_field, field=field) for c in node.children)
    if isinstance(node, (tree.BaseOperation, tree.BaseGroup, tree.Plus, tree.Boost)):
        return any(_restricts(c, need_field=need_field, field=field) for c in node.children)
    return field is not None or not need_field


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- building queries ----------------------------------------------------------------------


def quote(text: str) -> str:
    """A phrase matching ``text``: ``"`` and ``\\`` escaped, the rest literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def escape_term(text: str, *, keep_wildcards: bool = False) -> str:
    """A bare term for ``text``, special characters escaped (``*``/``?`` kept if asked).

    ``-`` and ``+`` are operators only at the start of a term, so they are escaped only there
    (``job-output.txt`` stays readable).
    """
    escaped = _TERM_SPECIAL.sub(r"\\\1", text)
    if escaped[:1] in ("-", "+"):
        escaped = "\\" + escaped
    if keep_wildcards:
        escaped = escaped.replace("\\*", "*").replace("\\?", "?")
    return escaped


def regex(pattern: str) -> str:
    """A ``/regex/`` term; unescaped slashes in ``pattern`` are escaped."""
    return "/" + re.sub(r"(?<!\\)((?:\\\\)*)/", r"\1\\/", pattern) + "/"


def any_of(clauses: Iterable[str]) -> str:
    """``a``, or ``(a OR b …)`` for several."""
    items = list(clauses)
    return items[0] if len(items) == 1 else "(" + " OR ".join(items) + ")"


def all_of(clauses: Iterable[str]) -> str:
    """The clauses joined with AND (each must be atomic or parenthesized)."""
    return " AND ".join(clauses)


def group(text: str) -> str:
    """``text`` in parentheses, so it can be ANDed with other clauses whatever it holds."""
    return f"({text.strip()})"


def unquote(value: str) -> str | None:
    """The literal text of a phrase or plain term, or ``None`` when an escape is ambiguous.

    Lucene drops the backslash before any character, so ``\\(`` is ``(``; but ``\\n`` would be
    ``n``, which is surely not what the author meant, and ``\\u0041`` is a unicode escape.
    Escapes before letters and digits are left to the caller as "not plain".
    """
    inner = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if re.search(r"\\[0-9A-Za-z]|\\$", inner):
        return None
    return re.sub(r"\\(.)", r"\1", inner)


@dataclass(frozen=True)
class PlainQuery:
    """A query that says only: these message phrases (and regexes), in one of these tags / files.

    That is what TripleO's ``pattern`` entries say, so such a query converts to one losslessly.
    """

    messages: tuple[str, ...] = ()
    regexes: tuple[str, ...] = ()  # ``message:/.../`` clauses, unescaped
    tags: tuple[str, ...] = ()
    filenames: tuple[str, ...] = ()  # exact names, or with wildcards in the last path part


def plain_query(text: str) -> PlainQuery | None:
    """The :class:`PlainQuery` ``text`` is, or ``None`` when it says anything more."""
    try:
        node = parse_lucene(text)
    except LuceneSyntaxError:
        return None
    parts: dict[str, list[str]] = {"message": [], "regex": [], "tags": [], "filename": []}
    for clause in _and_clauses(node):
        found = _plain_clause(clause)
        if found is None:
            return None
        name, values = found
        if name in ("tags", "filename") and parts[name]:
            return None  # two tag clauses mean "both", which a PlainQuery cannot say
        parts[name] += values
    if not parts["message"] and not parts["regex"]:
        return None
    return PlainQuery(*(tuple(parts[k]) for k in ("message", "regex", "tags", "filename")))


def _and_clauses(node: Any) -> Iterator[Any]:
    """The operands of a (nested, parenthesized) AND, or the node itself."""
    while isinstance(node, tree.Group):
        node = node.expr
    if isinstance(node, (tree.AndOperation, tree.UnknownOperation)):
        for child in node.children:
            yield from _and_clauses(child)
    else:
        yield node


def _plain_clause(node: Any) -> tuple[str, list[str]] | None:
    """``(kind, values)`` of ``message:"x"``, ``message:/x/``, ``(tags:"a" OR tags:"b")``..."""
    while isinstance(node, tree.Group):
        node = node.expr
    options = node.children if isinstance(node, tree.OrOperation) else [node]
    if not all(isinstance(o, tree.SearchField) for o in options):
        return None
    names = {o.name for o in options}
    name = names.pop()
    if names or name not in ("message", "tags", "filename"):
        return None
    if name == "message":
        if len(options) > 1:
            return None  # "any of these messages" is not a pattern list
        if isinstance(options[0].expr, tree.Regex):
            return "regex", [unregex(options[0].expr.value)]
    values = [_plain_value(o.expr, wildcards=name == "filename") for o in options]
    if any(v is None for v in values):
        return None
    return name, [v for v in values if v is not None]


def _plain_value(node: Any, *, wildcards: bool) -> str | None:
    if isinstance(node, tree.Phrase):
        text = unquote(node.value)
        # Glob characters in an exact file name would change meaning when read back as a glob.
        return None if text is None or (wildcards and re.search(r"[*?\[]", text)) else text
    if not isinstance(node, tree.Word) or node.value[:1] in ("*", "?"):
        return None
    value: str = node.value
    if "\\*" in value or "\\?" in value or (node.has_wildcard() and not wildcards):
        return None
    return unquote(value)


def unregex(term: str) -> str:
    """The pattern of a ``/regex/`` term (the inverse of :func:`regex`)."""
    return re.sub(r"(?<!\\)((?:\\\\)*)\\/", r"\1/", term[1:-1])
