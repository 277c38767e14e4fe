"""Small inline SVG plots (sparklines): no script, no external file.

The markup is built from numbers only; every text of a plot (its title, the
values) is put in by the page templates, which escape it.
"""

from __future__ import annotations

import math
from typing import Sequence

WIDTH = 160
HEIGHT = 36
PAD = 3


def points(
    values: Sequence[float], width: int = WIDTH, height: int = HEIGHT
) -> list[tuple[float, float]]:
    """The plot's points, oldest value on the left; a constant series is a
    flat line in the middle. Values that are not finite are left out."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return []
    low, high = min(finite), max(finite)
    span = high - low
    step = (width - 2 * PAD) / max(1, len(finite) - 1)
    found = []
    for index, value in enumerate(finite):
        share = 0.5 if span == 0 else (value - low) / span
        x = PAD + index * step if len(finite) > 1 else width / 2
        y = height - PAD - share * (height - 2 * PAD)
        found.append((round(x, 1), round(y, 1)))
    return found


def sparkline(values: Sequence[float], width: int = WIDTH, height: int = HEIGHT) -> str:
    """An SVG polyline of ``values`` with the last point marked; empty text
    when there is nothing to plot. Decorative: the page gives the numbers
    as text beside it (``aria-hidden``)."""
    found = points(values, width, height)
    if not found:
        return ""
    line = " ".join(f"{x:g},{y:g}" for x, y in found)
    last_x, last_y = found[-1]
    return (
        f'<svg class="spark" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-hidden="true" focusable="false">'
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" '
        f'points="{line}"/>'
        f'<circle cx="{last_x:g}" cy="{last_y:g}" r="2.5" fill="currentColor"/>'
        f"</svg>"
    )
