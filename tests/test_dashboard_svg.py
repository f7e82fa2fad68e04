"""The SVG charts (bot/dashboard/svg.py): scales, columns, dated axes, escaping, small charts.

Pure functions: the markup is parsed back as XML and its numbers compared with hand-counted ones.
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.dashboard.svg import (
    DAY_MS,
    HOUR_MS,
    KNOWN_COLOURS,
    Chart,
    Column,
    bar_height,
    column_step,
    columns,
    day_ticks,
    hour_ticks,
    legend,
    nice_ticks,
    nice_top,
    period,
    series_order,
    small_chart,
    time_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
START = int(datetime(2026, 11, 20, 13, tzinfo=UTC).timestamp() * 1000)  # not a midnight


def elements(markup: str, tag: str) -> list[ET.Element]:
    tree = ET.fromstring(re.sub(r"<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', markup))
    return list(tree.iter(SVG + tag))


def test_nice_ticks_are_round_and_cover_the_peak() -> None:
    assert nice_ticks(0) == (0, 1)
    assert nice_ticks(4) == (0, 1, 2, 3, 4)
    assert nice_ticks(7) == (0, 2, 4, 6, 8)
    assert nice_ticks(23) == (0, 5, 10, 15, 20, 25)
    assert nice_ticks(180) == (0, 50, 100, 150, 200)


@given(st.integers(min_value=1, max_value=10**7))
def test_nice_ticks_any_peak(peak: int) -> None:
    ticks = nice_ticks(peak)
    step = ticks[1]
    assert ticks[0] == 0
    assert ticks[-1] >= peak > ticks[-2]
    assert len(ticks) <= 6
    assert all(b - a == step for a, b in itertools.pairwise(ticks))
    assert str(step).strip("0") in ("1", "2", "5")


@given(st.integers(min_value=0, max_value=10**7))
def test_nice_top_is_round_and_less_than_twice_the_peak(peak: int) -> None:
    top = nice_top(peak)
    assert top >= max(1, peak)
    assert top < 2 * max(1, peak) or top == 1
    assert int(str(top).rstrip("0") or "0") in (1, 15, 2, 3, 4, 5, 6, 8)


def test_columns_sum_points_and_leave_out_the_outside() -> None:
    points = {
        "FAILURE": [(START, 1), (START + HOUR_MS, 2), (START + 5 * HOUR_MS, 4)],
        "SUCCESS": [(START - HOUR_MS, 9), (START + 6 * HOUR_MS, 3), (START + 8 * HOUR_MS, 7)],
    }
    cols = columns(points, START, START + 8 * HOUR_MS, 4 * HOUR_MS)
    assert [c.counts for c in cols] == [
        {"FAILURE": 3, "SUCCESS": 0},
        {"FAILURE": 4, "SUCCESS": 3},
    ]
    assert cols[1].end_ms == START + 8 * HOUR_MS
    assert cols[1].total == 7


def test_column_step_keeps_sixty_columns_at_most() -> None:
    assert column_step(DAY_MS) == HOUR_MS
    assert column_step(10 * DAY_MS) == 4 * HOUR_MS
    assert column_step(60 * DAY_MS) == DAY_MS


def test_dated_ticks_at_utc_midnights() -> None:
    ticks = day_ticks(START, START + 10 * DAY_MS)
    assert ticks[0] == (START + 11 * HOUR_MS, "Nov 21")
    assert [label for _, label in ticks][-1] == "Nov 30"
    assert all(when % DAY_MS == 0 for when, _ in ticks)
    assert len(day_ticks(START, START + 60 * DAY_MS)) <= 10
    assert hour_ticks(START, START + DAY_MS)[0] == (START + 5 * HOUR_MS, "Nov 20 18:00")


def test_period_names_the_hours_in_utc() -> None:
    assert period(Column(START, START + 4 * HOUR_MS, {})) == "Nov 20 13:00–17:00 UTC"
    assert period(Column(START, START + DAY_MS, {})) == "Nov 20 13:00 – Nov 21 13:00 UTC"


def chart(series: tuple[str, ...] = ("FAILURE", "SUCCESS")) -> Chart:
    cols = (
        Column(START, START + DAY_MS, {"FAILURE": 2, "SUCCESS": 2}),
        Column(START + DAY_MS, START + 2 * DAY_MS, {"FAILURE": 4}),
    )
    return Chart(cols, series, nice_ticks(4), 100, day_ticks(START, START + 2 * DAY_MS), "a chart")


def test_stacked_bars_dated_axis_and_scale() -> None:
    markup = str(time_chart(chart()))
    rects = elements(markup, "rect")
    fills = [r.get("fill") for r in rects]
    assert fills == [KNOWN_COLOURS["FAILURE"], KNOWN_COLOURS["SUCCESS"], KNOWN_COLOURS["FAILURE"]]
    heights = [float(r.get("height") or 0) for r in rects]
    assert heights == [50.0, 50.0, 100.0]  # 2, 2 and 4 on a scale of 4 over 100 px
    assert [float(r.get("y") or 0) for r in rects] == [50.0, 0.0, 0.0]  # SUCCESS on FAILURE
    assert rects[2].get("x") == "53.75%"  # the second day: half-way, and half a gap
    labels = [t.text for t in elements(markup, "text")]
    assert labels[:5] == ["0", "1", "2", "3", "4"]  # the y scale
    assert labels[5:] == ["Nov 21", "Nov 22"]
    titles = [t.text for t in elements(markup, "title")]
    assert titles[0] == "Nov 20 13:00 – Nov 21 13:00 UTC: 2 FAILURE, 2 SUCCESS"


def test_names_are_escaped() -> None:
    hostile = chart(("FAILURE", '<script>"x"</script>'))
    markup = str(time_chart(hostile)) + str(legend(hostile, {'<script>"x"</script>': 1}))
    assert "<script>" not in markup
    assert "&lt;script&gt;&quot;x&quot;" in markup
    assert 'aria-label="a chart"' in markup


def test_legend_with_totals_and_order_of_series() -> None:
    assert series_order(["SUCCESS", "ABORTED", "FAILURE", "NODE_FAILURE"]) == (
        "FAILURE",
        "SUCCESS",
        "NODE_FAILURE",
        "ABORTED",
    )
    items = re.findall(
        r'<li data-series="([^"]+)">.*?</svg> ([^<]+) <b>(\d+)</b>',
        str(legend(chart(), {"FAILURE": 6, "SUCCESS": 2})),
    )
    assert items == [("FAILURE", "FAILURE", "6"), ("SUCCESS", "SUCCESS", "2")]


@pytest.mark.parametrize(("count", "want"), [(0, 0), (1, 1.0), (50, 24.0), (100, 48.0)])
def test_bar_heights(count: int, want: float) -> None:
    assert bar_height(count, 100, 48) == want  # one failure still shows: 1 px


def test_small_chart_numbers_bars_and_shared_top() -> None:
    markup = str(small_chart([0, 3, 10], start_ms=START, step_ms=DAY_MS, y_top=20, height=40))
    bars = [r for r in elements(markup, "rect") if r.get("class") == "bar"]
    assert [float(b.get("height") or 0) for b in bars] == [0, 6.0, 20.0]
    values = [t.text for t in elements(markup, "text") if t.get("class") == "val"]
    assert values == [None, "3", "10"]  # the empty day carries no number
    tops = [t.text for t in elements(markup, "text") if "y-top" in (t.get("class") or "")]
    assert tops == ["20"]
    dates = [t.text for t in elements(markup, "text") if t.get("class") == "tick-label"]
    assert dates[-2:] == ["Nov 20", "Nov 23"]  # where the first column starts, the last ends
