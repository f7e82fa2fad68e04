"""What a bug's page shows beyond ER's graph, asked in the graph's requests.

* ``first_seen`` / ``last_seen``: the first and last matching line in the window;
* ``latest``: the newest :data:`LATEST` failed builds (:func:`latest_agg`: ``terms`` on
  build_uuid ordered by their newest line, each with one document for its job, change and logs);
* each job's failed builds per hour, so the list page's job filter can redraw a bug's numbers
  and chart for one job.

They are counted from the query's tally (:mod:`bot.dashboard.tally`,
:mod:`bot.dashboard.figures`). Pure: the newest builds' aggregation and its parsing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.search.schema import doc_text, log_dir

#: Newest failed builds listed per bug.
LATEST = 5
#: Jobs, projects and queues counted per bug (the filters see them all, up to this many).
MAX_VALUES = 100

_SOURCE = [
    "build_name",
    "project",
    "build_queue",
    "build_change",
    "build_patchset",
    "change_url",
    "log_url",
    "filename",
    "@timestamp",
]

#: Hourly failed-build counts, ``((bucket_ms, builds), ...)``: non-empty hours only.
Hours = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class LatestBuild:
    """A failed build a query hit, as its newest matching line tells it."""

    uuid: str
    job: str
    project: str
    queue: str
    change: str
    patchset: str
    change_url: str
    log_url: str  # the build's log directory
    when_ms: int  # its newest matching line


@dataclass(frozen=True)
class Details:
    """A bug's page additions (empty: the response had none)."""

    first_seen_ms: int | None = None
    last_seen_ms: int | None = None
    latest: tuple[LatestBuild, ...] = ()
    job_hours: Mapping[str, Hours] = field(default_factory=dict)


def latest_agg(size: int = LATEST) -> dict[str, Any]:
    """For the FAILURE filter: the newest ``size`` failed builds, one document each."""
    newest = [{"@timestamp": {"order": "desc"}}]
    return {
        "terms": {"field": "build_uuid", "size": size, "order": {"newest": "desc"}},
        "aggs": {
            "newest": {"max": {"field": "@timestamp"}},
            "doc": {"top_hits": {"size": 1, "sort": newest, "_source": _SOURCE}},
        },
    }


def parse_latest(entry: Mapping[str, Any]) -> LatestBuild | None:
    hits = entry.get("doc", {}).get("hits", {}).get("hits", [])
    if not hits:
        return None
    source = hits[0].get("_source", {})
    return LatestBuild(
        uuid=str(entry["key"]),
        job=doc_text(source, "build_name"),
        project=doc_text(source, "project"),
        queue=doc_text(source, "build_queue"),
        change=doc_text(source, "build_change"),
        patchset=doc_text(source, "build_patchset"),
        change_url=doc_text(source, "change_url"),
        log_url=log_dir(doc_text(source, "log_url"), doc_text(source, "filename")),
        when_ms=_epoch(entry.get("newest")) or 0,
    )


def _epoch(agg: Mapping[str, Any] | None) -> int | None:
    value = (agg or {}).get("value")
    return int(value) if value is not None else None


def latest_json(build: LatestBuild) -> dict[str, Any]:
    """One of the newest failed builds, for the graph JSON (``time``: epoch ms)."""
    return {
        "uuid": build.uuid,
        "job": build.job,
        "project": build.project,
        "queue": build.queue,
        "change": build.change,
        "patchset": build.patchset,
        "change_url": build.change_url,
        "log_url": build.log_url,
        "time": build.when_ms,
    }
