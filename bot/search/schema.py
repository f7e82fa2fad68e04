"""The logstash-style log document: one document per log line, in either of two layouts.

``logsender`` is what sites write today (ci-log-processing's logsender: OpenStack, RDO,
Software Factory): ``voting`` and ``build_change`` are integers, there is no ``build_short_uuid``,
``log_url`` is the URL of the line's own file and ``tags`` end with the file's base name. ``er``
is the layout of ER's era (strings everywhere, ``build_short_uuid``, ``log_url`` of the console),
which older clusters still hold. Readers handle both: :func:`doc_field`, :func:`log_dir`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

Schema = Literal["er", "logsender"]
SCHEMAS: tuple[Schema, ...] = ("er", "logsender")
#: The layout the bot writes (ingestion, the demo) unless told otherwise: today's.
DEFAULT_SCHEMA: Schema = "logsender"

_KEYWORDS = (
    "filename",
    "tags",
    "build_name",
    "build_status",
    "build_queue",
    "build_branch",
    "build_patchset",
    "build_uuid",
    "build_ref",
    "build_node",
    "build_master",
    "project",
    "log_url",
    "node_provider",
    "module",
    "loglevel",
    "hostname",
    "error_pr",
)
#: Fields only logsender writes.
_LOGSENDER_ONLY = (
    "build_set",
    "build_newrev",
    "tenant",
    "hosts_id",
    "hosts_region",
    "zuul_executor",
    "change_url",
)
_TEXT = {"@timestamp": "date", "message": "text"}

#: Each layout's fields and their mapping types (``logstash-YYYY.MM.DD`` indices).
FIELD_TYPES: dict[Schema, dict[str, str]] = {
    "logsender": {
        **_TEXT,
        **dict.fromkeys(_KEYWORDS + _LOGSENDER_ONLY, "keyword"),
        "build_change": "integer",
        "voting": "integer",
    },
    "er": {
        **_TEXT,
        **dict.fromkeys(_KEYWORDS, "keyword"),
        "build_change": "keyword",
        "build_short_uuid": "keyword",
        "voting": "keyword",
    },
}

#: Fields seen in older logstash layouts (ER's era) that queries may still name.
LEGACY_FIELDS: frozenset[str] = frozenset(
    {
        "@message",
        "@tags",
        "@type",
        "@source",
        "@source_host",
        "@source_path",
        "@fields",
        "host",
        "type",
        "pid",
        "received_at",
        "syslog_program",
        "syslog_pid",
        "syslog_timestamp",
        "syslog_hostname",
        "syslog_severity",
        "syslog_facility",
        "_grokparsefailure",
    }
)

#: Field names a query may use: both layouts' fields, legacy ones, and ``@fields.<name>``.
KNOWN_FIELDS: frozenset[str] = (
    frozenset(name for fields in FIELD_TYPES.values() for name in fields) | LEGACY_FIELDS
)

#: Console logs: Zuul v3+ and Jenkins-era; an ER-era ``log_url`` names one of them.
CONSOLE_NAMES = ("job-output.txt", "console.html")
#: What logsender writes on every document, whatever the build.
LOGSENDER_CONSTANTS = {"build_node": "zuul-executor", "node_provider": "local"}
#: ``voting`` when the pipeline did not say (logsender's convention).
VOTING_UNKNOWN = 2
_CONSOLE_FILE = re.compile(r"(console\.html|job-output\.txt)(\.gz)?$")


def is_known_field(name: str) -> bool:
    """True for a field of the log document schema (legacy ``@fields.x`` spelling included)."""
    if name in KNOWN_FIELDS:
        return True
    return name.startswith("@fields.") and name.removeprefix("@fields.") in KNOWN_FIELDS


def index_mapping(schema: Schema = DEFAULT_SCHEMA) -> dict[str, Any]:
    """Explicit mappings for a ``logstash-*`` index of ``schema``'s documents."""
    return {"properties": {name: {"type": kind} for name, kind in FIELD_TYPES[schema].items()}}


def daily_index(when: datetime, prefix: str = "logstash-") -> str:
    """The daily index a document of ``when`` lives in: ``logstash-YYYY.MM.DD`` (UTC)."""
    return f"{prefix}{when.astimezone(UTC):%Y.%m.%d}"


def doc_field(source: Mapping[str, Any], name: str) -> Any:
    """A field of a hit's ``_source`` in either layout: flat, ``@name`` or ``@fields.name``.

    List values collapse to their first element, as ER did.
    """
    for candidate in (source.get(name), source.get(f"@{name}")):
        if candidate is not None:
            return _first(candidate)
    fields = source.get("@fields")
    if isinstance(fields, dict):
        return _first(fields.get(name))
    return None


def doc_text(source: Mapping[str, Any], name: str) -> str:
    """:func:`doc_field` as text (``912345`` and ``"912345"`` alike): ``""`` when absent."""
    value = doc_field(source, name)
    return "" if value is None else str(value)


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


# --- writing either layout: pure ------------------------------------------------------------


def log_dir(url: str, filename: str = "") -> str:
    """The build's log directory from a document's ``log_url``: the file's own path cut off
    (logsender: ``<dir>/controller/logs/devstacklog.txt``), else a console name (ER's era)."""
    name = filename.lstrip("/")
    for suffix in (f"{name}.gz", name) if name else ():
        if url.endswith("/" + suffix):
            return url[: -len(suffix)]
    return _CONSOLE_FILE.sub("", url)


def file_tags(tags: Iterable[str], filename: str) -> list[str]:
    """A file's tags as written: its configured ones, then its base name (once)."""
    base = filename.rsplit("/", 1)[-1]
    return list(dict.fromkeys([*tags, *([base] if base else [])]))


def layout_of(documents: Iterable[Mapping[str, Any]]) -> Schema:
    """The layout documents are in: ER's era when one has a short uuid or a ``voting`` string."""
    for doc in documents:
        if "build_short_uuid" in doc or isinstance(doc.get("voting"), str):
            return "er"
    return DEFAULT_SCHEMA


def voting_number(value: Any) -> int:
    """``voting`` as logsender writes it: 1, 0, or 2 when unknown."""
    text = str(value).strip().lower() if value is not None else ""
    if text in ("1", "true", "yes"):
        return 1
    if text in ("0", "false", "no"):
        return 0
    return VOTING_UNKNOWN


def number_or_text(value: Any) -> Any:
    """An all-digits value as the number logsender writes, anything else as it is."""
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() and str(int(text)) == text else value


def shape(doc: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    """``doc`` as ``schema`` writes it.

    ``doc`` has the build's fields (text or numbers), its ``filename`` and configured ``tags``,
    and a ``log_url`` that is the build's log directory or the URL of any file in it. Fields of
    one layout only are dropped from the other's documents; logsender's constants are set.
    """
    out = {k: v for k, v in doc.items() if schema == "logsender" or k not in _LOGSENDER_ONLY}
    filename = str(out.get("filename") or "")
    root = log_dir(str(out.get("log_url") or ""), filename)
    if "tags" in out or filename:
        out["tags"] = file_tags(out.get("tags") or (), filename)
    if schema == "logsender":
        out.pop("build_short_uuid", None)
        out.update(LOGSENDER_CONSTANTS)
        out["voting"] = voting_number(out.get("voting"))
        if "build_change" in out:
            out["build_change"] = number_or_text(out["build_change"])
        if root:
            out["log_url"] = root + filename
        return out
    if "voting" in out:
        out["voting"] = str(voting_number(out["voting"]))
    if "build_change" in out:
        out["build_change"] = str(out["build_change"])
    if out.get("build_uuid"):
        out.setdefault("build_short_uuid", str(out["build_uuid"])[:7])
    if root:
        out["log_url"] = root + (filename if filename in CONSOLE_NAMES else CONSOLE_NAMES[0])
    return out
