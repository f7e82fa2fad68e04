"""The clustering scenario: failed builds carrying patterns nobody has a query for yet.

4 failure patterns (lines varying in numbers, uuids, paths, hosts, times), spread over failed
gate builds; benign error lines in half of all builds; a generic "the job failed" line in every
failed build; builds of a known bug (:data:`KNOWN_QUERY`); one-off failures; the same patterns in
the check queue and on non-voting jobs; successful builds. The builds come from
:mod:`benchmarks.clusters`, which records which build carries which pattern.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.clusters import Pattern, SynthBuild, build_documents, make_build
from bot.bugs import untracked
from bot.queries import Query
from bot.search.schema import DEFAULT_SCHEMA, Schema, shape

PATTERNS = {
    "libvirt": Pattern(
        "libvirt",
        (
            "libvirt.libvirtError: internal error: process exited while connecting to monitor: "
            "{ts} qemu-system-x86_64: -netdev tap,fd={num}: could not open {path}: Operation "
            "not permitted on {node}",
        ),
    ),
    "vif": Pattern(
        "vif",
        (
            "{ts} {num} ERROR nova.compute.manager [req-{uuid} None None] [instance: {uuid}] "
            "host={node} Failed to allocate network(s): nova.exception."
            "VirtualInterfaceCreateException: Virtual Interface creation failed",
            "{ts} {num} ERROR nova.compute.manager [instance: {uuid}] Traceback (most recent "
            "call last):",
            '{ts} {num} ERROR nova.compute.manager [instance: {uuid}]   File "{path}", line '
            "{num}, in _allocate_network_async",
            "{ts} {num} ERROR nova.compute.manager [instance: {uuid}] eventlet.timeout.Timeout: "
            "{num} seconds",
        ),
        "screen-n-cpu.txt",
        "ERROR",
    ),
    "volume": Pattern(
        "volume",
        (
            "tempest.api.volume.test_volumes_actions.VolumesActionsTest."
            "test_attach_detach_volume_to_instance[id-{uuid},smoke] [{dur}] ... FAILED",
            "tempest.lib.exceptions.TimeoutException: Request timed out. Details: volume {uuid} "
            "failed to reach in-use status (current available) within the required time "
            "({num} s) on {host}",
        ),
    ),
    # No error word at all: only the end of the console tells.
    "stack": Pattern(
        "stack",
        (
            "+ ./stack.sh:main:{num} : exit_trap",
            "stack.sh exited with status {num} while configuring neutron on {host} after {dur}",
        ),
        at_end=True,
    ),
}
COUNTS = {"libvirt": 12, "vif": 10, "volume": 11, "stack": 9}
KNOWN = Pattern("known", ("E: Failed to fetch {path} Hash Sum mismatch",))
KNOWN_QUERY = Query(id="1400905", lucene='message:"Hash Sum mismatch"', bug=untracked("1400905"))
ONE_OFFS = (
    Pattern("oops", ("kernel BUG at mm/slub.c:{num}! invalid opcode: 0000 [#1] SMP",)),
    Pattern("ovs", ("ovsdb-server: Segmentation fault (core dumped) after {dur}",)),
)


def seed_builds(seed: int) -> list[SynthBuild]:
    """The scenario; ``seed`` changes every random value, not which build carries what."""
    rng = random.Random(seed)
    now = datetime.now(UTC)

    def when() -> datetime:
        return now - timedelta(hours=rng.uniform(1, 6 * 24))

    builds = [
        make_build(rng, status="FAILURE", started=when(), pattern=PATTERNS[name])
        for name, count in COUNTS.items()
        for _ in range(count)
    ]
    builds += [make_build(rng, status="FAILURE", started=when(), pattern=KNOWN) for _ in range(5)]
    builds += [make_build(rng, status="FAILURE", started=when(), pattern=p) for p in ONE_OFFS]
    builds += [
        make_build(
            rng, status="FAILURE", started=when(), pattern=PATTERNS["libvirt"], queue="check"
        )
        for _ in range(3)
    ]
    builds += [
        make_build(rng, status="FAILURE", started=when(), pattern=PATTERNS["volume"], voting=False)
        for _ in range(2)
    ]
    builds += [make_build(rng, status="SUCCESS", started=when()) for _ in range(25)]
    return builds


def expected_groups(builds: Sequence[SynthBuild]) -> dict[str, set[str]]:
    """Pattern → the uncategorized builds carrying it (gate, voting, failed)."""
    found: dict[str, set[str]] = {name: set() for name in COUNTS}
    for b in builds:
        if b.pattern in found and b.queue == "gate" and b.voting and b.status == "FAILURE":
            found[b.pattern].add(b.uuid)
    return found


def documents(
    builds: Sequence[SynthBuild], schema: Schema = DEFAULT_SCHEMA
) -> list[dict[str, Any]]:
    """Every log line of ``builds``, as documents to index in ``schema``'s layout."""
    return [shape(doc, schema) for build in builds for doc in build_documents(build)]
