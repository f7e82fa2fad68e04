"""From a cluster to a query: the cluster's verified suggestion written as a bug's query file,
and proposed to the query repository (:mod:`bot.lifecycle.propose`).

``!adopt c-3f9a2b 1234567`` and ``recheckbot adopt c-3f9a2b jira:OSPRH-12`` both come here.
The bug reference says the tracker: a bare number is Launchpad, ``jira:KEY-N``, ``bz:N``,
``gh:org/repo#N`` (or a tracker URL) the others. The file is named as the query repo names it
(:mod:`bot.bugs`): ``1234567.yaml``, ``OSPRH-12.yaml``, ``rhbz2001234.yaml``,
``gh-org-repo-12.yaml``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, replace

from bot.bugs import JIRA_BROWSE, Bug, TrackerKind, ref_from_id
from bot.config.propose import ProposeSettings
from bot.core.errors import ReadableError
from bot.intel import Cluster, ClusterReport, verified_line
from bot.lifecycle.propose import Change, Proposed, Proposer, checked_path, commands
from bot.queries import Query, QueryRepo
from bot.queries.tripleo import er_yaml

_PREFIXES: dict[str, TrackerKind] = {
    "lp": "launchpad",
    "launchpad": "launchpad",
    "jira": "jira",
    "bz": "bugzilla",
    "rhbz": "bugzilla",
    "bugzilla": "bugzilla",
    "gh": "github",
    "github": "github",
}
BUG_REF_HELP = "a bug like 1234567, jira:OSPRH-12, bz:2001234 or gh:org/repo#12"
WIDTH = 72  # commit message lines, as Gerrit's commit-msg checks like them


class AdoptError(ReadableError):
    """The cluster cannot be adopted for that bug: why, for people."""


@dataclass(frozen=True)
class Adoption:
    """A cluster's query as the file of a bug, and the change that adds it."""

    cluster: Cluster
    bug: Bug
    query: Query
    path: str  # inside the query repository: queries/1234567.yaml
    text: str
    change: Change


@dataclass(frozen=True)
class Adopted:
    """What came of an adoption: the commands (a dry run) or the pushed change."""

    adoption: Adoption
    commands: tuple[str, ...]
    proposed: Proposed | None = None  # None: a dry run


# --- pure -----------------------------------------------------------------------------------


def parse_bug_ref(text: str, *, jira_browse: str = JIRA_BROWSE) -> Bug:
    """``1234567``, ``lp:1234567``, ``jira:OSPRH-12``, ``bz:2001234``, ``gh:org/repo#12`` or a
    tracker URL → the bug; AdoptError otherwise."""
    given = text.strip()
    prefix, colon, rest = given.partition(":")
    kind = _PREFIXES.get(prefix.lower()) if colon and not rest.startswith("//") else None
    ref = ref_from_id(rest if kind else given, kind, jira_browse=jira_browse)
    if ref is None or not ref.tracked:
        raise AdoptError(f"{given[:60]!r} is no bug reference: give {BUG_REF_HELP}")
    return ref


def query_file_name(bug: Bug) -> str:
    """The name the query repo gives ``bug``'s file (see :mod:`bot.bugs`)."""
    if bug.kind == "bugzilla":
        return f"rhbz{bug.id}.yaml"
    if bug.kind == "github":
        project, _, number = bug.id.partition("#")
        return f"gh-{project.replace('/', '-')}-{number}.yaml"
    return f"{bug.id}.yaml"


def bug_label(bug: Bug) -> str:
    return f"bug {bug.id}" if bug.kind == "launchpad" else f"{bug.kind} {bug.id}"


def adoption(
    report: ClusterReport,
    cluster_id: str,
    bug: Bug,
    repo: QueryRepo,
    settings: ProposeSettings,
) -> Adoption:
    """The file and the change for ``cluster_id``'s verified query as ``bug``'s (pure);
    AdoptError when the cluster, its query or the bug does not allow it."""
    cluster = report.get(cluster_id)
    if cluster is None:
        known = ", ".join(c.id for c in report.clusters[:5]) or "none"
        raise AdoptError(
            f"no cluster {cluster_id[:20]!r} in the last {report.days} d (clusters: {known})"
        )
    suggestion = report.suggestions.get(cluster.id)
    if suggestion is None or suggestion.query is None:
        why = suggestion.reason if suggestion else "not verified"
        raise AdoptError(f"{cluster.id} has no verified query to adopt: {why}")
    for known_query in repo:
        if known_query.bug.tracked and known_query.bug.key == bug.key:
            where = known_query.source.name if known_query.source else known_query.id
            raise AdoptError(f"{bug_label(bug)} has a query already ({where}): edit that one")
    name = query_file_name(bug)
    query = replace(suggestion.query, id=name.removesuffix(".yaml"), bug=bug)
    text = er_yaml(query)
    path = checked_path(settings, name)
    change = Change(
        files={path: text},
        subject=f"Add a query for {bug_label(bug)}",
        body=adoption_body(cluster, bug, verified_line(suggestion)),
        slug=f"adopt-{query.id}",
    )
    return Adoption(cluster, bug, query, path, text, change)


def adoption_body(cluster: Cluster, bug: Bug, verified: str) -> str:
    """The commit message's body: where the query comes from, how it was checked."""
    jobs = ", ".join(cluster.job_names[:3])
    seen = f"{cluster.first_seen:%Y-%m-%d} to {cluster.last_seen:%Y-%m-%d}"
    paragraphs = [
        f"Adopted from the uncategorized failures' cluster {cluster.id}: {cluster.size} failed "
        f"builds of {jobs}, {seen}.",
        f"Verified: {verified}.",
        f"Sample: {cluster.sample[:300]}",
        f"Bug: {bug.url}",
    ]
    return "\n\n".join(textwrap.fill(p, WIDTH, break_on_hyphens=False) for p in paragraphs)


# --- doing it -------------------------------------------------------------------------------


async def adopt(adoption: Adoption, proposer: Proposer, *, propose: bool) -> Adopted:
    """Push the adoption's change (``propose``) or only say what would be pushed."""
    shown = tuple(commands(proposer.settings, adoption.change))
    if not propose:
        return Adopted(adoption, shown)
    return Adopted(adoption, shown, await proposer.propose(adoption.change))
