"""The query repository: one YAML file per known bug (ER's format) and its extensions.

ER's files are read unchanged: ``<bug>.yaml`` with ``query:`` (Lucene ``query_string``) and
optional ``suppress-graph``, ``suppress-notification``, ``allow-nonvoting``, ``test_ids``.
Extensions, all optional:

- ``bug:`` (an id or a tracker URL) / ``tracker:`` (launchpad | jira | bugzilla | github) when
  the file name does not say the bug (see :mod:`bot.bugs` for the naming schemes);
  ``bug: null`` marks a bug nobody filed yet.
- ``title:``, ``tags:`` (labels, e.g. ``infra``), ``owner:`` (the team).
- sova-style ``pattern:`` (a string, or a list meaning all of them) and ``regex:`` (a regex or a
  list of them; ``regex: true`` makes the ``pattern`` entries regexes, as in TripleO's format),
  turned into ``message`` clauses, ANDed with ``query`` when both are given.

A file with a top-level ``queries:`` list is TripleO's unified format (:mod:`bot.queries.tripleo`).
Loading never raises for a bad file: it becomes a :class:`Problem` and its query is left out.
"""

from bot.queries.erformat import parse_query_yaml
from bot.queries.model import Problem, Query, QueryError, QueryRepo
from bot.queries.repo import load_queries, load_query_file, query_files

__all__ = [
    "Problem",
    "Query",
    "QueryError",
    "QueryRepo",
    "load_queries",
    "load_query_file",
    "parse_query_yaml",
    "query_files",
]
