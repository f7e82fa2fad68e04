"""Synthesize what a log line must contain for a query to hit it.

The demo instance and the tests need logs that the real queries match, without hand-writing a
line per query: this walks the query's Lucene tree and collects, per field, values that satisfy
it (all sides of an AND, the first side of an OR, nothing from a NOT). Queries whose terms are
regexes or fuzzy are satisfied only where a plain value exists.
"""

from __future__ import annotations

import re
from collections import defaultdict

from luqum import tree
from luqum.parser import parser

_ESCAPED = re.compile(r"\\(.)")


def required_fields(lucene: str) -> dict[str, list[str]]:
    """Field -> values a document needs to match ``lucene`` (``message`` parts in order)."""
    found: dict[str, list[str]] = defaultdict(list)
    _collect(parser.parse(lucene), None, found)
    return dict(found)


def matching_fields(lucene: str) -> dict[str, str | list[str]]:
    """A document fragment that ``lucene`` matches: message parts joined, tags as a list."""
    doc: dict[str, str | list[str]] = {}
    for name, values in required_fields(lucene).items():
        if name == "message":
            doc[name] = " ".join(values)
        elif name == "tags":
            doc[name] = list(dict.fromkeys(values))
        else:
            doc[name] = values[0]
    return doc


def _collect(node: tree.Item, field: str | None, found: dict[str, list[str]]) -> None:
    if isinstance(node, (tree.Not, tree.Prohibit)):
        return
    if isinstance(node, tree.SearchField):
        _collect(node.expr, node.name, found)
    elif isinstance(node, tree.OrOperation):
        _collect(node.children[0], field, found)
    elif isinstance(node, (tree.BaseOperation, tree.BaseGroup, tree.Plus)):
        for child in node.children:
            _collect(child, field, found)
    elif isinstance(node, (tree.Phrase, tree.Word)):
        value = _plain_value(node)
        if value is not None:
            found[field or "message"].append(value)


def _plain_value(node: tree.Phrase | tree.Word) -> str | None:
    if isinstance(node, tree.Phrase):
        return _ESCAPED.sub(r"\1", node.value[1:-1])
    text: str = node.value
    if isinstance(node, tree.Word) and node.has_wildcard():
        # A prefix like neutron* is satisfied by any completion of it.
        return re.sub(r"[*?]", "x", text)
    return _ESCAPED.sub(r"\1", text)
