"""The top-bugs PNG: bars in the right order and lengths."""

from __future__ import annotations

import io

from PIL import Image

from bot.dashboard.chart import DAY_BAR, LABEL, ROW, WINDOW_BAR, BarRow, top_bugs_png


def bar_length(image: Image.Image, row: int) -> int:
    """Coloured pixels on the middle line of bar ``row`` (0 = top bug)."""
    y = 12 * 2 + ROW * (row + 1) + ROW // 2
    return sum(image.getpixel((x, y)) in (WINDOW_BAR, DAY_BAR) for x in range(LABEL, image.width))


def test_bars_are_sorted_and_proportional() -> None:
    rows = [BarRow("small", 5, 0), BarRow("big", 20, 8), BarRow("mid", 10, 10)]
    png = top_bugs_png(rows, days=7)
    assert png.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width == 640
    big, mid, small = (bar_length(image, i) for i in range(3))
    assert big > mid > small > 0
    assert abs(mid * 2 - big) <= 2  # 10 is half of 20
    assert image.getpixel((LABEL + 1, 12 * 2 + ROW * 2 + ROW // 2)) == DAY_BAR  # mid: all last 24 h


def test_limit_and_empty() -> None:
    many = [BarRow(f"bug {n}", n, 0) for n in range(1, 30)]
    tall = Image.open(io.BytesIO(top_bugs_png(many, days=7, limit=10)))
    empty = Image.open(io.BytesIO(top_bugs_png([], days=7)))
    assert tall.height == 12 * 3 + ROW * 11
    assert empty.height < tall.height
