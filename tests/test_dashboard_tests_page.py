"""The Tests page (``tests.html``, ``data/tests.json``) and the tests on a bug's page, built by
the real builder from test results on osmem.

Three days, voting jobs. A = compute's test_create_server, B = volume's create/get/delete (bug
1001's ``test_ids``), C = the network scenario, D = an image test that always passes. Days are
calendar days (UTC) back from today, each run at noon.

== ================ ======= === ======= =============== =====================================
n  job              change  ps  day     project         results
== ================ ======= === ======= =============== =====================================
1  tempest-full     100     1   -2      nova            A fail, B ok, D ok
2  tempest-full     100     1   -1      nova            A ok, B ok, D ok (recheck of 1: A flaky)
3  grenade          101     1   -1      cinder          A fail, B fail, D ok
4  tempest-full     102     1   0       nova            A fail, B ok, C fail, D ok
5  tempest-full-nv  103     1   0       nova            A, B, C fail — non-voting
6  tempest-full     104     1   0       neutron         C fail, D ok (at 13:00)
7  tempest-full     105     1   -5      nova            A fail — before the window
== ================ ======= === ======= =============== =====================================

By hand: A failed in 3 builds of 4 (1 3 4; 75%), flaky once, in tempest-full 2 and grenade 1,
nova 2 and cinder 1, last in 4; C in 2 of 2 (4 6; 100%), tempest-full 2, nova 1 and neutron 1,
last in 6; B in 1 of 4 (3; 25%), grenade, cinder. D never failed: not listed. Per day (runs,
failures), oldest first: A (1, 1) (2, 1) (1, 1); B (1, 0) (2, 1) (1, 0); C (0, 0) (0, 0) (2, 2).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.bugs import Bug
from bot.dashboard.bugpage import render_bug_page
from bot.dashboard.build import DashboardBuilder
from bot.dashboard.graph import BugGraph, GraphData, Window
from bot.intel.tests import LastFailure, TestStats
from bot.queries import Query
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from tests.support.graph import bug as graph_bug
from tests.support.search import CountingBackend
from tests.support.subunit import Run, all_docs, result_docs

TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
A = "tempest.api.compute.servers.test_servers.ServersTestJSON.test_create_server"
B = "tempest.api.volume.test_volumes_get.VolumesGetTest.test_volume_create_get_delete"
C = "tempest.scenario.test_network_basic_ops.TestNetworkBasicOps.test_network_basic_ops"
D = "tempest.api.image.v2.test_images.BasicOperationsImagesTest.test_register_upload_get_image"
OK, FAIL = ("success", 2.0), ("fail", 3.0)
HOUR = timedelta(hours=1)
NOVA, NEUTRON = "openstack/nova", "openstack/neutron"
TOPS = ("jobs", "projects", "queues")


def at_noon(days_ago: int) -> timedelta:
    """A run's age so that it starts at noon (UTC) ``days_ago`` calendar days back."""
    return datetime.now(UTC) - (TODAY - timedelta(days=days_ago))


RUNS = [
    Run(1, "tempest-full", 100, 1, at_noon(2), {A: FAIL, B: OK, D: OK}),
    Run(2, "tempest-full", 100, 1, at_noon(1), {A: OK, B: OK, D: OK}),
    Run(3, "grenade", 101, 1, at_noon(1), {A: FAIL, B: FAIL, D: OK}, project="openstack/cinder"),
    Run(4, "tempest-full", 102, 1, at_noon(0), {A: FAIL, B: OK, C: FAIL, D: OK}),
    Run(5, "tempest-full-nv", 103, 1, at_noon(0), {A: FAIL, B: FAIL, C: FAIL}, voting=0),
    Run(
        6, "tempest-full", 104, 1, at_noon(0) - HOUR, {C: FAIL, D: OK}, project="openstack/neutron"
    ),
    Run(7, "tempest-full", 105, 1, at_noon(5), {A: FAIL}),
]
BY_N = {run.n: run for run in RUNS}
QUERIES = (
    graph_bug("1001", 'message:"volume timeout"', title="Volumes time out", test_ids=(B,)),
    graph_bug("1002", 'message:"disk quota exceeded"'),
)
DAYS = [TODAY.date() - timedelta(days=n) for n in (2, 1, 0)]


def started(n: int, test: str) -> str:
    [doc] = [d for d in result_docs(BY_N[n]) if d["test_name"] == test]
    return str(doc["@timestamp"])


def rows(html: str) -> dict[str, str]:
    """Each test row's markup, by the test's name (the line breaks names may take left out)."""
    parts = html.replace("<wbr>", "").split('<li class="test" ')[1:]
    return {re.search(r'data-name="([^"]+)"', part)[1]: part for part in parts}  # type: ignore[index]


def bar_titles(row: str) -> list[str]:
    """What each column of a row's chart says (its ``<title>``), oldest first, without dates."""
    return [title.split(": ", 1)[1] for title in re.findall(r"<title>([^<]*)</title>", row)]


def y_scale(row: str) -> list[str]:
    """The labels of a row's chart's y axis, bottom up."""
    axis = row.split('class="y-axis"', 1)[1].split("</svg>", 1)[0]
    return sorted(re.findall(r">(\d+)</text>", axis), key=int)


async def build_tests_page(backend: Any, site: Path) -> dict[str, int]:
    builder = DashboardBuilder(site, backend, lambda: QUERIES, days=3)
    counts = await builder.build_part("tests")
    return dict(counts)


async def test_the_tests_page_lists_the_hand_counted_tests(
    search: OpenSearchBackend, tmp_path: Path
) -> None:
    await bulk_index(search.client, all_docs(RUNS))
    counting = CountingBackend(search)
    counts = await build_tests_page(counting, tmp_path)
    assert counting.round_trips == 3  # the index is there; the tests; their days
    assert counts == {"index": 1, "tests": 3, "flaky": 1}

    data = json.loads((tmp_path / "data" / "tests.json").read_text())
    figures = {
        t["name"]: (t["runs"], t["failures"], t["flaky"], t["jobs"], t["projects"])
        for t in data["tests"]
    }
    assert [t["name"] for t in data["tests"]] == [A, C, B]
    assert figures == {
        A: (4, 3, True, {"tempest-full": 2, "grenade": 1}, {NOVA: 2, "openstack/cinder": 1}),
        C: (2, 2, False, {"tempest-full": 2}, {NOVA: 1, NEUTRON: 1}),
        B: (4, 1, False, {"grenade": 1}, {"openstack/cinder": 1}),
    }
    series = {t["name"]: t["series"] for t in data["tests"]}
    day = [d.isoformat() for d in DAYS]
    assert series == {
        A: [[day[0], 1, 1], [day[1], 2, 1], [day[2], 1, 1]],
        B: [[day[0], 1, 0], [day[1], 2, 1], [day[2], 1, 0]],
        C: [[day[0], 0, 0], [day[1], 0, 0], [day[2], 2, 2]],
    }
    assert (data["index"], data["present"], data["days"]) == ("subunit-*", True, 3)

    html = (tmp_path / "tests.html").read_text()
    shown = rows(html)
    assert list(shown) == [A, C, B]
    a, b, c = shown[A], shown[B], shown[C]
    # The figures: failed builds, runs, rate; the last failure's logs.
    assert re.search(r'class="failures"[^>]*>3<.*of 4 runs.*>75%<', a, re.S)
    assert re.search(r'class="failures"[^>]*>2<.*of 2 runs.*>100%<', c, re.S)
    assert re.search(r'class="failures"[^>]*>1<.*of 4 runs.*>25%<', b, re.S)
    assert f'href="{BY_N[4].log_dir}"' in a
    assert f'href="{BY_N[6].log_dir}"' in c
    # The flaky one is marked, the others are not.
    assert 'class="badge flaky"' in a
    assert 'class="badge flaky"' not in b + c
    # What the filters read, and what they offer.
    assert 'data-jobs="[&#34;tempest-full&#34;, &#34;grenade&#34;]"' in a
    assert 'data-projects="[&#34;openstack/nova&#34;, &#34;openstack/cinder&#34;]"' in a
    assert 'data-flaky="1"' in a
    assert 'data-flaky="0"' in c
    assert re.findall(r"<option>([^<]+)</option>", html) == [
        "grenade", "tempest-full", "openstack/cinder", "openstack/neutron", "openstack/nova"
    ]  # fmt: skip
    # A dated chart each: a column per day, the builds it failed in; one scale for all (0 to 2).
    assert bar_titles(a) == ["1 failed", "1 failed", "1 failed"]
    assert bar_titles(b) == ["0 failed", "1 failed", "0 failed"]
    assert bar_titles(c) == ["0 failed", "0 failed", "2 failed"]
    assert f"{DAYS[0]:%b %d}" in a
    for row in (a, b, c):
        assert y_scale(row) == ["0", "1", "2"]
    # The known bug naming B links its page.
    assert 'href="bug/1001"' in b
    assert "Volumes time out" in b
    assert "bug/1001" not in a + c
    # In the navigation of the page (and of every page: the template's).
    assert 'href="tests.html" class="active"' in html


async def test_without_a_test_result_index_the_page_says_so(
    search: OpenSearchBackend, tmp_path: Path
) -> None:
    counting = CountingBackend(search)
    counts = await build_tests_page(counting, tmp_path)
    assert counting.round_trips == 1  # only the question whether there is one
    assert counts == {"index": 0, "tests": 0, "flaky": 0}
    html = (tmp_path / "tests.html").read_text()
    assert 'id="no-index"' in html
    assert "search.subunit_index" in html
    assert '<li class="test"' not in html
    data = json.loads((tmp_path / "data" / "tests.json").read_text())
    assert (data["present"], data["tests"]) == (False, [])


async def test_bug_pages_show_the_tests_their_test_ids_name(
    search: OpenSearchBackend, tmp_path: Path
) -> None:
    await bulk_index(search.client, all_docs(RUNS))
    counting = CountingBackend(search)
    builder = DashboardBuilder(tmp_path, counting, lambda: QUERIES, days=3)
    await builder.build_part("all")
    # The graph, cluster health and the tests of every bug page: one request for them all.
    assert sum('"test_status"' in json.dumps(body) for body in counting.bodies) == 1
    page = (tmp_path / "bug" / "1001.html").read_text()
    [row] = named_tests(page)
    assert figures(row) == ["1", "4", "25%"]  # failed, runs, rate (B: build 3 of 1 2 3 4)
    assert "VolumesGetTest.test_volume_create_get_delete" in row
    assert f'href="{BY_N[3].log_dir}"' in row
    assert 'href="../tests.html"' in page.split('id="tests"', 1)[1]
    other = (tmp_path / "bug" / "1002.html").read_text()
    assert 'id="tests"' not in other  # no test_ids, no section


def named_tests(page: str) -> list[str]:
    """The rows of a bug page's "tests it names", line breaks left out."""
    section = page.replace("<wbr>", "").split('id="tests"', 1)[1].split("</section>", 1)[0]
    return re.findall(r"<li data-name=.*?</li>", section, re.S)


def figures(row: str) -> list[str]:
    """A named test's failed builds, runs and failure rate, as its row says them."""
    return re.findall(r'<b class="(?:failures|runs|rate)">([^<]*)</b>', row)


def a_page(query: Query, tests: list[TestStats] | None) -> str:
    """The page of a query without hits, with ``tests`` as the figures of its ``test_ids``."""
    window = Window(int(TODAY.timestamp() * 1000), days=3)
    empty = BugGraph(query, query.effective, None, 0, 0, {}, (), dict.fromkeys(TOPS, ()))
    data = GraphData(window, None, 0, "green", (empty,))
    return render_bug_page(empty, data, tests=tests)


def test_a_bug_page_says_which_named_tests_ran_and_which_did_not() -> None:
    ref = Bug("launchpad", "77", "https://bugs.launchpad.net/bugs/77")
    never = "tempest.api.network.test_ports.PortsTestJSON.test_list_ports"
    query = Query(id="77", lucene='message:"x"', bug=ref, test_ids=(f"{A}[id-1,smoke]", never))
    last = LastFailure("https://logs.example.org/9/", "u9", "2026-01-05T10:00:00+00:00")
    stats = TestStats(A, runs=8, failures=2, last_failure=last, flaky_runs=2)
    page = a_page(query, [stats])
    first, second = named_tests(page)
    assert figures(first) == ["2", "8", "25%"]
    assert 'class="badge flaky"' in first
    assert "2026-01-05 10:00 UTC" in first
    assert "no run in 3 days" in second
    assert "PortsTestJSON.test_list_ports" in second
    assert 'id="tests-unknown"' not in page
    unknown = a_page(query, None)
    assert 'id="tests-unknown"' in unknown
    assert [figures(row) for row in named_tests(unknown)] == [[], []]
    assert unknown.count("figures unknown") == 2
