"""The logstash-style log document: one document per log line (see DESIGN.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: Fields of the current layout (ci-log-processing's logsender) and their mapping types.
FIELD_TYPES: dict[str, str] = {
    "@timestamp": "date",
    "message": "text",
    "filename": "keyword",
    "tags": "keyword",
    "build_name": "keyword",
    "build_status": "keyword",
    "build_queue": "keyword",
    "build_branch": "keyword",
    "build_change": "keyword",
    "build_patchset": "keyword",
    "build_uuid": "keyword",
    "build_short_uuid": "keyword",
    "build_ref": "keyword",
    "build_node": "keyword",
    "build_master": "keyword",
    "project": "keyword",
    "voting": "keyword",
    "log_url": "keyword",
    "node_provider": "keyword",
    "module": "keyword",
    "loglevel": "keyword",
    "hostname": "keyword",
    "error_pr": "keyword",
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

#: Field names a query may use: current fields, legacy ones, and ``@fields.<name>``.
KNOWN_FIELDS: frozenset[str] = frozenset(FIELD_TYPES) | LEGACY_FIELDS


def is_known_field(name: str) -> bool:
    """True for a field of the log document schema (legacy ``@fields.x`` spelling included)."""
    if name in KNOWN_FIELDS:
        return True
    return name.startswith("@fields.") and name.removeprefix("@fields.") in KNOWN_FIELDS


def index_mapping() -> dict[str, Any]:
    """Explicit mappings for a ``logstash-*`` index: keywords, except ``message``."""
    return {"properties": {name: {"type": kind} for name, kind in FIELD_TYPES.items()}}


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
    """:func:`doc_field` as text: ``""`` when the document lacks it."""
    value = doc_field(source, name)
    return "" if value is None else str(value)


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value
