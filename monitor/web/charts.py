"""Bar charts with a scale, laid out here and drawn as inline SVG by the templates.

Pure: counts in, geometry out. The SVG has a viewBox, so it scales to the width it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

AXIS = 26  # room left of the bars for the scale's labels
TOP = 6  # room above the highest bar, so its label is not clipped
BOTTOM = 14  # room below the bars for the time axis' labels


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str  # what the bar stands for, shown on hover and read by screen readers


@dataclass(frozen=True, slots=True)
class Tick:
    position: float  # y for the scale, x for the time axis
    label: str


@dataclass(frozen=True, slots=True)
class Line:
    y: float
    label: str
    kind: str  # a CSS class: what the line marks


@dataclass(frozen=True, slots=True)
class Chart:
    width: float
    height: float
    plot_left: float
    plot_bottom: float
    bars: tuple[Bar, ...]
    scale: tuple[Tick, ...]  # horizontal grid lines with their values
    axis: tuple[Tick, ...]  # labels under the bars
    lines: tuple[Line, ...]  # thresholds drawn across the bars
    summary: str  # the whole chart in words (aria-label)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 × 10^n not below ``value`` (1 for nothing to show)."""
    if value <= 1:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return 10.0 * power  # pragma: no cover  (the loop always returns)


def bar_chart(
    values: Sequence[float],
    *,
    titles: Sequence[str],
    axis: Sequence[tuple[int, str]] = (),
    lines: Sequence[tuple[float, str, str]] = (),
    summary: str,
    bar_width: float = 6.0,
    gap: float = 1.0,
    height: float = 48.0,
    number: str = "{:g}",
    whole: bool = True,
) -> Chart:
    """Bars for ``values`` (left to right) on a scale from 0 to a round top.

    ``axis`` labels bars by index; ``lines`` are (value, label, kind) drawn across the plot.
    With ``whole`` (counts) the scale is labelled at whole numbers only.
    """
    top = nice_ceiling(max([*values, *(v for v, _, _ in lines)], default=0.0))
    plot = height - TOP - BOTTOM
    step = bar_width + gap
    bars = tuple(
        Bar(
            x=AXIS + i * step,
            y=TOP + plot - plot * value / top,
            width=bar_width,
            height=plot * value / top,
            title=title,
        )
        for i, (value, title) in enumerate(zip(values, titles, strict=True))
    )
    scale = tuple(
        Tick(TOP + plot - plot * fraction, number.format(top * fraction))
        for fraction in (0.0, 0.5, 1.0)
        if not (whole and fraction == 0.5 and top % 2)
    )
    return Chart(
        width=AXIS + max(1, len(values)) * step,
        height=height,
        plot_left=AXIS,
        plot_bottom=TOP + plot,
        bars=bars,
        scale=scale,
        axis=tuple(Tick(AXIS + i * step + bar_width / 2, label) for i, label in axis),
        lines=tuple(Line(TOP + plot - plot * v / top, label, kind) for v, label, kind in lines),
        summary=summary,
    )
