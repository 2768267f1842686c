"""Trend charts as inline SVG rendered on the server: no JavaScript, no CDN, printable.

A chart is a picture of a short series (one value per ISO week). Each point carries its own
<title> so hovering shows the exact figure; the SVG is role="img" with an aria-label that
says what a screen-reader user needs, and the page shows the same numbers as a table.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

ChartKind = Literal["line", "bars"]

WIDTH = 360
HEIGHT = 170
# Room for the y-axis labels on the left and the week labels below.
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 22, 26


@dataclass(frozen=True)
class ChartPoint:
    """One week's value; `value` None means nothing to measure that week (a gap, not a zero)."""

    label: str
    value: float | None
    text: str
    axis_label: str = ""


def nice_ceiling(value: float) -> float:
    """Return the smallest 1, 2, 2.5 or 5 times a power of ten that is at least `value`."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = step * 10**exponent
        if candidate >= value * (1 - 1e-9):
            return candidate
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop always returns


def _number(value: float) -> str:
    """Format an axis value without trailing zeros: 2.5, 10, 0.05."""
    return f"{value:.4g}"


def _coordinate(value: float) -> str:
    return f"{value:.1f}"


def _label_every(count: int) -> int:
    """Return how many points apart the x-axis labels are, so they do not overlap."""
    return max(1, math.ceil(count / 6))


def chart_svg(
    *,
    kind: ChartKind,
    title: str,
    points: Sequence[ChartPoint],
    unit: str = "",
    target: float | None = None,
    target_text: str = "",
) -> SafeString:
    """Render a line or bar chart of the points as an accessible inline SVG."""
    measured = [point for point in points if point.value is not None]
    label = _aria_label(title, points, measured, target_text)
    parts: list[str] = [
        format_html(
            '<svg class="chart chart-{}" role="img" aria-label="{}" viewBox="0 0 {} {}" '
            'width="{}" height="{}" xmlns="http://www.w3.org/2000/svg">',
            kind,
            label,
            WIDTH,
            HEIGHT,
            WIDTH,
            HEIGHT,
        )
    ]
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    base_y = TOP + plot_height
    top_value = max([p.value for p in measured if p.value is not None] + [target or 0.0])
    ceiling = nice_ceiling(top_value)

    def y_of(value: float) -> float:
        return base_y - (value / ceiling) * plot_height

    # Axes, with the scale's top, middle and zero labelled (unit on the top label).
    parts.append(
        format_html(
            '<g class="axis"><line x1="{}" y1="{}" x2="{}" y2="{}"/>'
            '<line x1="{}" y1="{}" x2="{}" y2="{}"/>',
            LEFT,
            TOP,
            LEFT,
            base_y,
            LEFT,
            base_y,
            WIDTH - RIGHT,
            base_y,
        )
    )
    for fraction in (0.0, 0.5, 1.0):
        value = ceiling * fraction
        text = _number(value) + (f" {unit}" if unit and fraction == 1.0 else "")
        y = _coordinate(y_of(value))
        parts.append(
            format_html(
                '<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/>'
                '<text class="y-label" x="{}" y="{}" text-anchor="end" '
                'dominant-baseline="middle">{}</text>',
                LEFT,
                y,
                WIDTH - RIGHT,
                y,
                LEFT - 4,
                y,
                text,
            )
        )
    slot = plot_width / max(len(points), 1)
    every = _label_every(len(points))
    for index, point in enumerate(points):
        if index % every == 0 or index == len(points) - 1:
            parts.append(
                format_html(
                    '<text class="x-label" x="{}" y="{}" text-anchor="middle">{}</text>',
                    _coordinate(LEFT + slot * (index + 0.5)),
                    HEIGHT - 8,
                    point.axis_label or point.label,
                )
            )
    parts.append("</g>")

    if target is not None:
        # The target's name sits in a legend above the plot, where no point can hide it.
        y = _coordinate(y_of(target))
        parts.append(
            format_html(
                '<g class="target"><line x1="{}" y1="{}" x2="{}" y2="{}"/>'
                '<line x1="{}" y1="9" x2="{}" y2="9"/>'
                '<text x="{}" y="12">{}</text></g>',
                LEFT,
                y,
                WIDTH - RIGHT,
                y,
                WIDTH - RIGHT - 104,
                WIDTH - RIGHT - 86,
                WIDTH - RIGHT - 82,
                target_text or "target",
            )
        )

    if not measured:
        parts.append(
            format_html(
                '<text class="no-data" x="{}" y="{}" text-anchor="middle">No data</text>',
                LEFT + plot_width // 2,
                TOP + plot_height // 2,
            )
        )
    elif kind == "bars":
        parts.append('<g class="bars">')
        bar_width = max(slot * 0.6, 1.0)
        for index, point in enumerate(points):
            if point.value is None:
                continue
            bar_top = y_of(point.value)
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
                    _coordinate(LEFT + slot * index + (slot - bar_width) / 2),
                    _coordinate(bar_top),
                    _coordinate(bar_width),
                    _coordinate(base_y - bar_top),
                    point.label,
                    point.text,
                )
            )
        parts.append("</g>")
    else:
        parts.append('<g class="line">')
        # A week with nothing to measure breaks the line rather than pretending it was zero.
        segment: list[str] = []
        segments: list[list[str]] = []
        for index, point in enumerate(points):
            if point.value is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(
                f"{_coordinate(LEFT + slot * (index + 0.5))},{_coordinate(y_of(point.value))}"
            )
        if segment:
            segments.append(segment)
        for coordinates in segments:
            if len(coordinates) > 1:
                parts.append(format_html('<polyline points="{}"/>', " ".join(coordinates)))
        for index, point in enumerate(points):
            if point.value is None:
                continue
            parts.append(
                format_html(
                    '<circle cx="{}" cy="{}" r="3.5"><title>{}: {}</title></circle>',
                    _coordinate(LEFT + slot * (index + 0.5)),
                    _coordinate(y_of(point.value)),
                    point.label,
                    point.text,
                )
            )
        parts.append("</g>")
    parts.append("</svg>")
    # Every piece above went through format_html (escaped); joining keeps them safe.
    return mark_safe("".join(parts))  # noqa: S308


def _aria_label(
    title: str, points: Sequence[ChartPoint], measured: Sequence[ChartPoint], target_text: str
) -> str:
    """Say what the chart shows in one sentence: span, latest value, range, target."""
    if not points:
        return f"{title}: no weeks to show."
    span = f"{points[0].label} to {points[-1].label}" if len(points) > 1 else points[0].label
    if not measured:
        return f"{title}, {span}: no data."
    latest = measured[-1]
    values = [p for p in measured if p.value is not None]
    low = min(values, key=lambda p: p.value or 0.0)
    high = max(values, key=lambda p: p.value or 0.0)
    sentence = (
        f"{title}, {span}. Latest {latest.label}: {latest.text}. "
        f"Lowest {low.text} ({low.label}), highest {high.text} ({high.label})."
    )
    if target_text:
        sentence += f" {target_text.capitalize()}."
    return sentence
