"""Reading hand-written YAML documents (query files) with errors a person can act on.

``read_yaml`` reads a file as :mod:`bot.queries.files` allows, reports the line and column of
syntax errors and rejects duplicate keys (PyYAML silently keeps the last one, so a second
``query:`` would hide the first) and documents whose aliases expand beyond what a file may
hold (a few KiB of anchors can stand for megabytes of query text, sent in every search).

The pydantic field types below give one-line messages ("must be true or false, not 'yes'")
instead of pydantic's, and :func:`model_problems` turns a ``ValidationError`` into
``key.path: message`` lines with a "did you mean" for misspelt keys.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ValidationError

from bot.queries.files import MAX_FILE_BYTES, FileError, read_query_file
from bot.queries.lucene import did_you_mean


class YamlError(Exception):
    """The file cannot be read or is not valid YAML; ``str()`` says why, with the line."""


class _StrictLoader(yaml.SafeLoader):
    """Safe loading, but a key given twice in one mapping is an error."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key == "<<" or not isinstance(key, Hashable):
                continue  # merge keys and unhashable keys: PyYAML's own handling applies
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, root: Path | None = None) -> Any:
    """The document in ``path`` (a file of the repo directory ``root``, when given); raises
    :class:`YamlError` (not a file to read, not UTF-8, bad YAML, aliases that expand too far)."""
    try:
        text = read_query_file(path, root)
    except FileError as exc:
        raise YamlError(str(exc)) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise YamlError(_yaml_message(exc)) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlError("invalid YAML: nested too deeply") from None
    _check_expansion(data)
    return data


def _check_expansion(data: Any) -> None:
    """Refuse a document whose aliases make it bigger than a file may be, or that holds itself.

    PyYAML shares an aliased node rather than copying it, so the document is small in memory;
    what it expands to (as its text is joined into queries) is summed here once per node.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(data, False)]
    busy: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            busy.discard(key)
            sizes[key] = 1 + sum(_size(child, sizes) for child in children)
            if sizes[key] > MAX_FILE_BYTES:
                raise YamlError(f"YAML aliases expand to more than {MAX_FILE_BYTES} characters")
        elif key in busy:
            raise YamlError("a YAML alias refers to the node that holds it")
        elif key not in sizes and children:
            busy.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children)


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [*node.keys(), *node.values()]
    return list(node) if isinstance(node, list) else []


def _size(node: Any, sizes: dict[int, int]) -> int:
    if isinstance(node, dict | list):
        return sizes.get(id(node), 0)
    return len(node) if isinstance(node, str) else 1


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = exc.problem or "syntax error"
    if exc.context:
        what += f" {exc.context}"
    return f"invalid YAML{where}: {what}"


# --- field types with plain messages -------------------------------------------------------


def show(value: object) -> str:
    """A short rendering of a wrong value for a message."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"must be true or false, not {show(value)}")


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {show(value)}")
    if not value.strip():
        raise ValueError("is empty")
    return value


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"must be a list of strings, not {show(value)}")
    return tuple(value)


def text_list(value: object) -> tuple[str, ...]:
    """A string or a non-empty list of strings, as a tuple."""
    if isinstance(value, str):
        return (_text(value),)
    if isinstance(value, list) and not value:
        raise ValueError("is empty")
    try:
        return _strings(value)
    except ValueError:
        raise ValueError(f"must be a string or a list of strings, not {show(value)}") from None


def one_of(*choices: str) -> Callable[[object], str]:
    """A validator accepting only ``choices`` (and suggesting the close one)."""

    def check(value: object) -> str:
        if isinstance(value, str) and value in choices:
            return value
        options = ", ".join(choices)
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise ValueError(f"must be one of {options}, not {show(value)}{hint}")

    return check


Flag = Annotated[bool, BeforeValidator(_flag)]
Text = Annotated[str, BeforeValidator(_text)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]
TextList = Annotated[tuple[str, ...], BeforeValidator(text_list)]


def model_keys(model: type[BaseModel]) -> list[str]:
    """The keys a model accepts in YAML (aliases where given)."""
    return [field.alias or name for name, field in model.model_fields.items()]


def model_problems(
    exc: ValidationError, keys: Iterable[str], prefix: Sequence[str | int] = ()
) -> list[str]:
    """``key.path: message`` per error; ``prefix`` is prepended (``("queries", 3)``)."""
    known = list(keys)
    lines = []
    for err in exc.errors():
        loc = [*prefix, *err["loc"]]
        if err["type"] == "extra_forbidden":
            message = f"unknown key{did_you_mean(str(loc[-1]), known)}"
        elif err["type"] == "missing":
            message = "required key is missing"
        else:
            message = err["msg"].removeprefix("Value error, ")
        where = key_path(loc)
        lines.append(f"{where}: {message}" if where else message)
    return lines


def key_path(loc: Iterable[str | int]) -> str:
    """``queries[3].pattern`` from ``("queries", 3, "pattern")``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
