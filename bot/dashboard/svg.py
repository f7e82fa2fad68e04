"""Time-series bar charts as inline SVG: dated x axis, y scale with ticks, stacked series.

Pure: numbers in, markup out; every text and attribute is escaped here. The charts stretch to
the width of their box without scaling their text: the plot's x coordinates are percentages of
its width and its y coordinates pixels, and the y axis is a narrow SVG of its own beside it, so
labels stay readable on a phone and a wide screen alike (a ``viewBox`` would shrink them).

Colours are presentation attributes (``fill``), not ``style``: the pages' Content-Security-Policy
forbids inline styles, and a chart saved alone still shows its colours.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from markupsafe import Markup

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

#: Build results in the order they stack, bottom up, and their colours; others follow, grey.
KNOWN_COLOURS = {
    "FAILURE": "#c8372d",
    "SUCCESS": "#3b9b4f",
    "POST_FAILURE": "#e07b39",
    "TIMED_OUT": "#8e5bb5",
    "RETRY_LIMIT": "#d4a017",
    "NODE_FAILURE": "#4f7fbf",
    # The builds a test failed in (the Tests page).
    "failed": "#c8372d",
}
OTHER_COLOURS = ("#8a99ad", "#b08968", "#5fa8a0", "#c486b1")
#: Hours per column tried in turn for a time chart; the first giving few enough columns wins.
STEPS_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)


@dataclass(frozen=True)
class Column:
    """One bar: the period ``[start_ms, end_ms)`` and its count per series."""

    start_ms: int
    end_ms: int
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Chart:
    """What to draw: columns oldest first, series bottom up, and the top of the y scale."""

    columns: tuple[Column, ...]
    series: tuple[str, ...]
    y_ticks: tuple[int, ...]  # from 0 to the top of the scale
    height: int = 160  # of the plot, pixels
    x_ticks: tuple[tuple[int, str], ...] = ()  # (epoch ms, label)
    label: str = ""  # what the chart shows, for screen readers
    empty: str = "no builds"  # what a column without counts says when hovered

    @property
    def y_top(self) -> int:
        return self.y_ticks[-1] if self.y_ticks else 1


def colour(series: str, position: int = 0) -> str:
    """The fill of a series: a fixed one for the usual build results, else a grey by position."""
    return KNOWN_COLOURS.get(series, OTHER_COLOURS[position % len(OTHER_COLOURS)])


def series_order(names: Iterable[str]) -> tuple[str, ...]:
    """The known build results first (failures at the bottom), then the others by name."""
    known = [name for name in KNOWN_COLOURS if name in set(names)]
    return tuple(known + sorted(set(names) - set(known)))


def nice_ticks(peak: int, most: int = 5) -> tuple[int, ...]:
    """Ticks from 0 to a round number at or above ``peak``: steps of 1, 2 or 5 times a power of
    ten, at most ``most`` of them above 0 (``peak`` 0 gives ``(0, 1)``)."""
    if peak <= 0:
        return (0, 1)
    magnitude = 10 ** max(0, math.floor(math.log10(peak / most)))
    for factor in (1, 2, 5, 10):
        step = factor * magnitude
        if math.ceil(peak / step) <= most:
            return tuple(range(0, step * math.ceil(peak / step) + 1, step))
    raise AssertionError("unreachable: a step of 10x the magnitude always fits")


#: Tops of a small chart's scale, times a power of ten: round, and never twice the peak.
NICE_TOPS = (1, 1.5, 2, 3, 4, 5, 6, 8, 10)


def nice_top(peak: int) -> int:
    """The smallest round number (:data:`NICE_TOPS` times a power of ten) at or above ``peak``;
    1 for nothing (``static/dashboard.js``'s ``niceTop`` is the same)."""
    if peak <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(peak))
    return next(
        int(top) for factor in NICE_TOPS if (top := factor * magnitude) >= peak and top == int(top)
    )


def column_step(span_ms: int, most: int = 60) -> int:
    """Milliseconds per column so that ``span_ms`` needs at most ``most`` columns."""
    for hours in STEPS_HOURS:
        if span_ms / (hours * HOUR_MS) <= most:
            return hours * HOUR_MS
    return DAY_MS * math.ceil(span_ms / (DAY_MS * most))


def columns(
    series: Mapping[str, Iterable[tuple[int, int]]], start_ms: int, end_ms: int, step_ms: int
) -> tuple[Column, ...]:
    """Points ``(epoch ms, count)`` per series summed into columns of ``step_ms`` from
    ``start_ms``; points outside ``[start_ms, end_ms)`` are left out."""
    count = max(0, math.ceil((end_ms - start_ms) / step_ms))
    sums = [dict.fromkeys(series, 0) for _ in range(count)]
    for name, points in series.items():
        for when, n in points:
            if start_ms <= when < end_ms:
                sums[(when - start_ms) // step_ms][name] += n
    return tuple(
        Column(start_ms + i * step_ms, min(end_ms, start_ms + (i + 1) * step_ms), sums[i])
        for i in range(count)
    )


def day_ticks(start_ms: int, end_ms: int, most: int = 10) -> tuple[tuple[int, str], ...]:
    """Midnights (UTC) inside ``[start_ms, end_ms]``, every n-th day so that at most ``most``
    are labelled, as ``Mar 03``."""
    first = start_ms + (-start_ms) % DAY_MS
    midnights = range(first, end_ms + 1, DAY_MS)
    every = max(1, math.ceil(len(midnights) / most))
    return tuple((when, f"{_utc(when):%b %d}") for when in midnights[::every])


def hour_ticks(start_ms: int, end_ms: int, every_hours: int = 6) -> tuple[tuple[int, str], ...]:
    """Every ``every_hours`` hours (UTC) inside the span, as ``Mar 03 06:00`` (short spans)."""
    step = every_hours * HOUR_MS
    first = start_ms + (-start_ms) % step
    return tuple((when, f"{_utc(when):%b %d %H:%M}") for when in range(first, end_ms + 1, step))


def _utc(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)


def period(column: Column) -> str:
    """``Mar 03 04:00–08:00 UTC`` (a whole day: ``Mar 03 00:00 – Mar 04 00:00 UTC``)."""
    start, end = _utc(column.start_ms), _utc(column.end_ms)
    if start.date() == end.date():
        return f"{start:%b %d %H:%M}–{end:%H:%M} UTC"
    return f"{start:%b %d %H:%M} – {end:%b %d %H:%M} UTC"


def stacked_peak(cols: Sequence[Column]) -> int:
    """The highest column, all series stacked."""
    return max((column.total for column in cols), default=0)


# --- markup ---------------------------------------------------------------------------------


def _attrs(**values: object) -> str:
    """``name="value"`` pairs, escaped; ``class_`` is ``class``, ``text_anchor`` is
    ``text-anchor``, ``data_i`` is ``data-i``."""
    pairs = (
        f'{name.rstrip("_").replace("_", "-")}="{escape(str(v))}"' for name, v in values.items()
    )
    return " ".join(pairs)


def _el(tag: str, content: str = "", **attrs: object) -> str:
    """An element; ``content`` is markup already (escape text with :func:`_text`)."""
    opening = f"{tag} {_attrs(**attrs)}" if attrs else tag
    return f"<{opening}>{content}</{tag}>" if content else f"<{opening}/>"


def _text(text: object) -> str:
    return escape(str(text))


def _pct(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") + "%"


def y_axis(chart: Chart, *, width: int = 40, bottom: int = 22) -> str:
    """The y scale: a label per tick, right-aligned against the plot."""
    labels = "".join(
        _el(
            "text",
            _text(tick),
            x=width - 6,
            y=round(_y(chart, tick) + 4, 1),
            text_anchor="end",
            class_="tick-label",
        )
        for tick in chart.y_ticks
    )
    return _el(
        "svg",
        labels,
        width=width,
        height=chart.height + bottom,
        class_="y-axis",
        aria_hidden="true",
    )


def _y(chart: Chart, value: int) -> float:
    return chart.height - value * chart.height / chart.y_top


def plot(chart: Chart, *, bottom: int = 22, bar_gap: float = 0.15) -> str:
    """The bars, the grid lines of the y ticks and the dated x axis, stretched to the width."""
    span = (chart.columns[-1].end_ms - chart.columns[0].start_ms) if chart.columns else 1
    origin = chart.columns[0].start_ms if chart.columns else 0
    parts = [_grid(chart)]
    for index, column in enumerate(chart.columns):
        parts.append(_bar(chart, index, column, origin, span, bar_gap))
    parts.append(_x_axis(chart, origin, span))
    return _el(
        "svg",
        "".join(parts),
        width="100%",
        height=chart.height + bottom,
        class_="plot",
        role="img",
        aria_label=chart.label,
    )


def _grid(chart: Chart) -> str:
    return "".join(
        _el(
            "line",
            x1="0",
            x2="100%",
            y1=round(_y(chart, t), 1),
            y2=round(_y(chart, t), 1),
            class_="grid",
        )
        for t in chart.y_ticks
    )


def _bar(chart: Chart, index: int, column: Column, origin: int, span: int, gap: float) -> str:
    width = (column.end_ms - column.start_ms) / span * 100
    x = (column.start_ms - origin) / span * 100 + width * gap / 2
    shown = [name for name in chart.series if column.counts.get(name)]
    words = ", ".join(f"{column.counts[name]} {name}" for name in shown) or chart.empty
    parts, top = [_el("title", _text(f"{period(column)}: {words}"))], float(chart.height)
    for position, name in enumerate(chart.series):
        height = bar_height(column.counts.get(name, 0), chart.y_top, chart.height)
        if height:
            top -= height
            parts.append(
                _el(
                    "rect",
                    x=_pct(x),
                    y=round(top, 1),
                    width=_pct(width * (1 - gap)),
                    height=height,
                    fill=colour(name, position),
                    class_="bar",
                )
            )
    return _el("g", "".join(parts), data_i=index)


def _x_axis(chart: Chart, origin: int, span: int) -> str:
    base = chart.height + 0.5
    parts = [_el("line", x1="0", x2="100%", y1=base, y2=base, class_="axis")]
    last = len(chart.x_ticks) - 1
    for n, (when, label) in enumerate(chart.x_ticks):
        x = _pct((when - origin) / span * 100)
        parts.append(_el("line", x1=x, x2=x, y1=base, y2=base + 4, class_="axis"))
        # The outermost labels lean inwards, or half of them would be cut off.
        anchor = "start" if n == 0 and when - origin < span / 20 else "middle"
        anchor = "end" if n == last and origin + span - when < span / 20 else anchor
        classes = "tick-label minor" if n % 2 else "tick-label"  # minor: hidden when narrow
        parts.append(
            _el("text", _text(label), x=x, y=base + 16, text_anchor=anchor, class_=classes)
        )
    return "".join(parts)


def time_chart(chart: Chart, *, y_axis_width: int = 40) -> Markup:
    """The chart: its y axis beside the stretching plot, in a ``div.tchart`` (see the CSS)."""
    return Markup(_el("div", y_axis(chart, width=y_axis_width) + plot(chart), class_="tchart"))


def swatch(name: str, position: int = 0) -> Markup:
    """A small square in a series' colour (a legend's key)."""
    square = _el("rect", width=10, height=10, fill=colour(name, position))
    return Markup(_el("svg", square, width=10, height=10, class_="swatch", aria_hidden="true"))


def legend(chart: Chart, totals: Mapping[str, int] | None = None) -> Markup:
    """A list of the series with their colours (and their totals, when given)."""
    items = []
    for position, name in enumerate(chart.series):
        total = f" <b>{totals[name]}</b>" if totals and name in totals else ""
        content = f"{swatch(name, position)} {_text(name)}{total}"
        items.append(_el("li", content, data_series=name))
    return Markup(_el("ul", "".join(items), class_="chart-legend"))


def bar_height(count: int, y_top: int, height: int) -> float:
    """Pixels of a bar for ``count`` on a scale topping at ``y_top``; 1 at least when not 0, so
    a single failure shows beside a busy bug (``static/dashboard.js`` computes the same)."""
    if count <= 0:
        return 0
    return round(max(1.0, count * height / max(1, y_top)), 1)


# --- the list page's small charts ------------------------------------------------------------

#: Pixels above the highest bar of a small chart, for its number.
SMALL_PAD = 12


def small_chart(
    values: Sequence[int],
    *,
    start_ms: int,
    step_ms: int,
    y_top: int,
    height: int = 48,
    label: str = "",
) -> Markup:
    """One series (failed builds per column) on a given scale (shared by the cards of a page),
    each non-empty bar with its number above it; the x axis names the first and last column.

    ``static/dashboard.js`` redraws these when a job filter is on: the bars are ``rect.bar``,
    the numbers ``text.val`` (both with ``data-i``), the scale's top ``text.y-top``.
    """
    width = 100 / max(1, len(values))
    base = SMALL_PAD + height + 0.5
    parts = [_el("line", x1="0", x2="100%", y1=base, y2=base, class_="axis")]
    for i, n in enumerate(values):
        h = bar_height(n, y_top, height)
        when = period(Column(start_ms + i * step_ms, start_ms + (i + 1) * step_ms, {}))
        parts.append(
            _el(
                "rect",
                _el("title", _text(f"{when}: {n} failed")),
                x=_pct(i * width + width / 10),
                y=round(base - 0.5 - h, 1),
                width=_pct(width * 0.8),
                height=h,
                fill=KNOWN_COLOURS["FAILURE"],
                class_="bar",
                data_i=i,
            )
        )
        parts.append(
            _el(
                "text",
                _text(n or ""),
                x=_pct(i * width + width / 2),
                y=round(base - h - 3, 1),
                text_anchor="middle",
                class_="val",
                data_i=i,
            )
        )
    parts.append(_small_dates(start_ms, step_ms, len(values), base))
    plot_svg = _el(
        "svg",
        "".join(parts),
        width="100%",
        height=base + 16,
        class_="plot",
        role="img",
        aria_label=label,
    )
    scale = _el(
        "text", _text(y_top), x=20, y=SMALL_PAD + 4, text_anchor="end", class_="tick-label y-top"
    )
    scale += _el("text", "0", x=20, y=base, text_anchor="end", class_="tick-label")
    y_svg = _el("svg", scale, width=24, height=base + 16, class_="y-axis", aria_hidden="true")
    return Markup(_el("div", y_svg + plot_svg, class_="tchart small"))


def _small_dates(start_ms: int, step_ms: int, count: int, base: float) -> str:
    """The day the first column starts at the left, the day the last one ends at the right."""
    first = _utc(start_ms)
    last = _utc(start_ms + count * step_ms)
    return _el("text", _text(f"{first:%b %d}"), x="0", y=base + 12, class_="tick-label") + _el(
        "text",
        _text(f"{last:%b %d}"),
        x="100%",
        y=base + 12,
        text_anchor="end",
        class_="tick-label",
    )
