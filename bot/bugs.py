"""Bugs: the one value type for a known bug (where it is tracked, and what its tracker says),
and the references read from query file names, ids and URLs.

Naming schemes of query files (ER's is the first; the rest are our extensions):

=========================== ========== ===============================
``1284371.yaml``            launchpad  ``lp1284371`` also accepted
``OSPRH-45.yaml``           jira       ``KEY-NUM``, key = project
``rhbz1234567.yaml``        bugzilla   Red Hat's bugzilla
``gh-org-repo-123.yaml``    github     first dash splits org and repo
=========================== ========== ===============================

A GitHub name is ambiguous when the org holds a dash (``gh-openstack-k8s-operators-x-1``);
``bug: org/repo#123`` or the issue URL says it exactly.

A *tracker-less* reference (``url == ""``) stands for a bug nobody filed yet (a TripleO entry
without ``url``, an ER file with ``bug: null``): its ``id`` is the query's own id and its
``kind`` only a guess (``launchpad``, where OpenStack and TripleO file bugs), so consumers must
not look it up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, urlsplit

TrackerKind = Literal["launchpad", "jira", "bugzilla", "github"]
TRACKER_KINDS: tuple[TrackerKind, ...] = get_args(TrackerKind)

LAUNCHPAD_BUG = "https://bugs.launchpad.net/bugs/{id}"
BUGZILLA_BUG = "https://bugzilla.redhat.com/show_bug.cgi?id={id}"
GITHUB_ISSUE = "https://github.com/{project}/issues/{number}"
#: Where Jira keys without a URL point; the settings may name another instance.
JIRA_BROWSE = "https://issues.redhat.com/browse/"

_LAUNCHPAD = re.compile(r"(?:lp)?#?(\d+)", re.IGNORECASE)
_JIRA = re.compile(r"([A-Z][A-Z0-9_]*)-(\d+)")
_BUGZILLA = re.compile(r"(?:rhbz|bz)#?(\d+)", re.IGNORECASE)
_GITHUB_NAME = re.compile(r"gh-([A-Za-z0-9_.]+)-([A-Za-z0-9_.-]+)-(\d+)")
_GITHUB_ID = re.compile(r"([\w.-]+/[\w.-]+)#(\d+)")


#: ER's wording for a bug an anonymous reader may not see (INVENTORY §3.1).
PRIVATE = "Unknown (Private Bug)"


@dataclass(frozen=True)
class Target:
    """Where a bug is tracked and its status there (a Launchpad bug task, a Jira project...)."""

    name: str
    status: str


@dataclass(frozen=True)
class Bug:
    """A known bug: where it lives (``kind`` + ``id``: ``"1284371"``, ``"OSPRH-123"``,
    ``"org/repo#12"``) and, once its tracker was asked, what the tracker says about it.

    A query file gives the first four fields; :meth:`described` adds the tracker's answer.
    ``closed_since`` is when the last open part of the bug closed.
    """

    kind: TrackerKind
    id: str
    url: str
    project: str | None = None
    title: str | None = None
    status: str | None = None
    closed: bool = False
    closed_since: datetime | None = None
    targets: tuple[Target, ...] = ()
    private: bool = False

    @property
    def tracked(self) -> bool:
        """False for a tracker-less reference (no bug filed, nothing to look up)."""
        return bool(self.url)

    @property
    def key(self) -> str:
        """``kind:id``: the same bug whatever is known about it."""
        return f"{self.kind}:{self.id}"

    @property
    def projects(self) -> tuple[str, ...]:
        """Target names for routing, each once (Launchpad series tasks such as ``nova/yoga``
        come with the project's own task, so ``nova`` is there too)."""
        return tuple(dict.fromkeys(target.name for target in self.targets))

    @property
    def affects(self) -> str:
        """ER's graph field: ``(target - Status), (target - Status)``; the project when the
        tracker named no target (or was not asked)."""
        if self.private:
            return PRIVATE
        if not self.targets:
            return self.project or ""
        return ", ".join(f"({t.name} - {t.status})" for t in self.targets)

    def described(self, **details: Any) -> Bug:
        """This bug with what its tracker says (``title``, ``status``, ``closed``, ...)."""
        return replace(self, **details)

    def hidden(self) -> Bug:
        """This bug as a reader who may not see it knows it (a private bug)."""
        return replace(self, title=PRIVATE, status=PRIVATE, private=True)

    def details_json(self) -> dict[str, Any]:
        """What the tracker said, as JSON (cached, journaled with verdicts)."""
        return {
            "title": self.title,
            "status": self.status,
            "closed": self.closed,
            "closed_since": self.closed_since.isoformat() if self.closed_since else None,
            "targets": [[t.name, t.status] for t in self.targets],
            "private": self.private,
        }

    def with_details_json(self, data: Mapping[str, Any]) -> Bug:
        """This bug with the details :meth:`details_json` wrote."""
        since = data.get("closed_since")
        return self.described(
            title=data.get("title"),
            status=data.get("status"),
            closed=bool(data.get("closed")),
            closed_since=_utc(datetime.fromisoformat(since)) if since else None,
            targets=tuple(Target(str(n), str(s)) for n, s in data.get("targets", ())),
            private=bool(data.get("private")),
        )


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def launchpad(number: str, project: str | None = None) -> Bug:
    return Bug("launchpad", number, LAUNCHPAD_BUG.format(id=number), project)


def jira(key: str, url: str | None = None, *, browse: str = JIRA_BROWSE) -> Bug:
    return Bug("jira", key, url or browse + key, key.rsplit("-", 1)[0])


def bugzilla(number: str, url: str | None = None) -> Bug:
    return Bug("bugzilla", number, url or BUGZILLA_BUG.format(id=number))


def github(project: str, number: str, url: str | None = None) -> Bug:
    default = GITHUB_ISSUE.format(project=project, number=number)
    return Bug("github", f"{project}#{number}", url or default, project)


def untracked(query_id: str) -> Bug:
    """A tracker-less reference for a query whose bug is not filed (see the module doc)."""
    return Bug("launchpad", query_id, "")


def ref_from_name(name: str, *, jira_browse: str = JIRA_BROWSE) -> Bug | None:
    """The bug a query file's name (stem) stands for, or ``None`` if it follows no scheme."""
    if found := _GITHUB_NAME.fullmatch(name):
        return github(f"{found[1]}/{found[2]}", found[3])
    return ref_from_id(name, jira_browse=jira_browse)


def ref_from_id(
    text: str, kind: TrackerKind | None = None, *, jira_browse: str = JIRA_BROWSE
) -> Bug | None:
    """A bug id (``1284371``, ``lp1284371``, ``OSPRH-45``, ``rhbz123``, ``org/repo#12``).

    ``kind`` says which tracker a bare number belongs to (launchpad without it).
    """
    text = text.strip()
    if text.startswith(("http://", "https://")):
        return ref_from_url(text, kind, jira_browse=jira_browse)
    if (found := _GITHUB_ID.fullmatch(text)) and kind in (None, "github"):
        return github(found[1], found[2])
    if (found := _JIRA.fullmatch(text)) and kind in (None, "jira"):
        return jira(text, browse=jira_browse)
    if (found := _BUGZILLA.fullmatch(text)) and kind in (None, "bugzilla"):
        return bugzilla(found[1])
    if found := _LAUNCHPAD.fullmatch(text):
        if kind == "bugzilla":
            return bugzilla(found[1])
        if kind in (None, "launchpad"):
            return launchpad(found[1])
    return None


def ref_from_url(
    url: str, kind: TrackerKind | None = None, *, jira_browse: str = JIRA_BROWSE
) -> Bug | None:
    """The bug a tracker URL points at, by its host and path shape; ``None`` if unknown.

    ``kind`` lets self-hosted trackers through (a GitHub Enterprise issue, say).
    """
    parts = urlsplit(url.strip())
    host, path = parts.netloc.lower(), parts.path
    # Launchpad: /bugs/123, /nova/+bug/123, /bugs/123/+subscribe ...
    found = re.search(r"(?:^|/)(?:([\w.+-]+)/\+bug|bugs)/(\d+)", path)
    if found and host.endswith("launchpad.net") and kind in (None, "launchpad"):
        return launchpad(found[2], found[1])
    if (found := re.search(r"/browse/([A-Z][A-Z0-9_]*-\d+)", path)) and kind in (None, "jira"):
        return jira(found[1], url.strip(), browse=jira_browse)
    ids = parse_qs(parts.query).get("id", [])
    if path.endswith("show_bug.cgi") and ids and ids[0].isdigit() and kind in (None, "bugzilla"):
        return bugzilla(ids[0], f"{parts.scheme}://{parts.netloc}{path}?id={ids[0]}")
    found = re.fullmatch(r"/([\w.-]+/[\w.-]+)/(issues|pull)/(\d+)/?", path)
    if found and (host == "github.com" or kind == "github"):
        issue = found[2] == "issues" and host == "github.com"
        return github(found[1], found[3], None if issue else url.strip())
    return None


def guess_kind(name: str) -> TrackerKind:
    """The tracker a name looks like it belongs to (launchpad when it looks like none)."""
    ref = ref_from_name(name)
    return ref.kind if ref else "launchpad"
