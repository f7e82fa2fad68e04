"""Telling events apart: an identity per Gerrit event and a bounded set of the recent ones.

The SSH stream and its events-log catch-up overlap, and REST polls re-read a window: every
event passes the source's :class:`RecentSet` under :func:`event_identity`, so an event seen
twice is yielded once.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

RECENT_EVENTS = 10_000
_PERSON_KEYS = ("author", "uploader", "submitter", "changer", "abandoner", "restorer", "editor")


def event_identity(event: Mapping[str, Any]) -> str:
    """A key equal for the same event seen twice (stream and events-log), distinct otherwise:
    type, change, patchset, ``eventCreatedOn``, who, ref update and a hash of the comment.
    Two identical comments by one account on one patchset within one second count as one."""
    created = event.get("eventCreatedOn")
    if created is None:
        canonical = json.dumps(event, sort_keys=True, default=str)
        return "json:" + hashlib.sha1(canonical.encode()).hexdigest()
    change, patchset = _mapping(event.get("change")), _mapping(event.get("patchSet"))
    person = next((_mapping(event[k]) for k in _PERSON_KEYS if k in event), {})
    ref = _mapping(event.get("refUpdate"))
    comment = hashlib.sha1(str(event.get("comment", "")).encode()).hexdigest()[:16]
    who = person.get("username") or person.get("email") or person.get("name")
    what = (event.get("type"), change.get("number") or change.get("id"), patchset.get("number"))
    # str() below: older Gerrit sends numbers as strings, newer as integers; both are equal.
    parts = (*what, created, who, ref.get("refName"), ref.get("newRev"), comment)
    return "|".join("" if part is None else str(part) for part in parts)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class RecentSet:
    """The most recent ``size`` keys; adding a known key says so."""

    def __init__(self, size: int = RECENT_EVENTS) -> None:
        self._size = size
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, key: str) -> bool:
        """Remember ``key``; False if it was already there."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)
        return True
