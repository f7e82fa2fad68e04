"""A PNG bar chart of the top bugs, for chat rooms that show images (Matrix ``!refresh``).

Drawn with Pillow: failed builds over the window as a bar per bug, the last 24 h darker. Pure:
numbers in, PNG bytes out.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

WIDTH = 640
ROW = 26
MARGIN = 12
LABEL = 230  # pixels for the bug labels on the left
BACKGROUND = (255, 255, 255)
INK = (34, 34, 34)
WINDOW_BAR = (240, 160, 150)
DAY_BAR = (200, 40, 30)


@dataclass(frozen=True)
class BarRow:
    label: str  # "1541364 apt mirrors"
    fails: int  # failed builds over the window
    fails24: int  # of which in the last 24 h


def top_bugs_png(rows: Sequence[BarRow], *, days: int, limit: int = 10) -> bytes:
    """The chart of the ``limit`` bugs with most failures (ties: most recent first)."""
    shown = sorted(rows, key=lambda r: (r.fails, r.fails24), reverse=True)[:limit]
    height = MARGIN * 3 + ROW * (len(shown) + 1)
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    title = f"Top bugs: failed builds in the last {days} days (dark: last 24 h)"
    draw.text((MARGIN, MARGIN), title, fill=INK, font=font)
    most = max((r.fails for r in shown), default=0) or 1
    span = WIDTH - LABEL - 2 * MARGIN - 40
    for index, row in enumerate(shown):
        top = MARGIN * 2 + ROW * (index + 1)
        draw.text((MARGIN, top + 6), _fit(row.label), fill=INK, font=font)
        left = LABEL
        draw.rectangle(
            (left, top + 4, left + span * row.fails // most, top + ROW - 4), fill=WINDOW_BAR
        )
        if row.fails24:
            draw.rectangle(
                (left, top + 4, left + span * row.fails24 // most, top + ROW - 4), fill=DAY_BAR
            )
        draw.text(
            (left + span * row.fails // most + 6, top + 6), str(row.fails), fill=INK, font=font
        )
    if not shown:
        draw.text((MARGIN, MARGIN * 2 + ROW), "no failures in this window", fill=INK, font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _fit(label: str, limit: int = 34) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
