"""Inline SVG charts for the report: no script, no style attribute (the web app's CSP
allows neither), colours as presentation attributes, so the same markup works in a
downloaded file, in print and on /insights."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 26
INK, GRID, LINE, GAP, MARK = "#333", "#ddd", "#1f6fb2", "#f1f1f1", "#c0392b"


def line(
    label: str,
    points: Sequence[tuple[float, float | None]],
    x_range: tuple[float, float],
    fmt: Callable[[float], str],
    x_fmt: Callable[[float], str],
    markers: Sequence[tuple[float, str]] = (),
    slot: float = 0.0,
) -> str:
    """A line over x (unix seconds); None values are gaps, shaded as "no data" over `slot`
    seconds. `markers` are vertical lines (model changes) with their titles."""
    x0, x1 = x_range
    span = (x1 - x0) or 1.0
    values = [v for _, v in points if v is not None]
    top = max(values, default=0.0) * 1.1 or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x0) / span * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - y / top * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
    ]
    for frac in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="{INK}">{escape(fmt(top * frac))}</text>'
        )
    for x, v in points:
        if v is None and slot:
            w = slot / span * plot_w
            parts.append(
                f'<rect x="{sx(x):.1f}" y="{TOP}" width="{w:.1f}" height="{plot_h}" '
                f'fill="{GAP}"><title>no data</title></rect>'
            )
    segment: list[str] = []
    segments: list[list[str]] = []
    for x, v in points:
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{sx(x + slot / 2):.1f},{sy(v):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(
            f'<polyline points="{" ".join(seg)}" fill="none" stroke="{LINE}" stroke-width="2"/>'
        )
        for point in seg:
            cx, cy = point.split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{LINE}"/>')
    for at, title in markers:
        x = sx(at)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="{MARK}" '
            f'stroke-dasharray="4 3" stroke-width="1.5"><title>{escape(title)}</title></line>'
        )
    ticks = [x for x, _ in points][:: max(1, len(points) // 7)]
    for x in ticks:
        parts.append(
            f'<text x="{sx(x + slot / 2):.1f}" y="{HEIGHT - 8}" font-size="11" '
            f'text-anchor="middle" fill="{INK}">{escape(x_fmt(x))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
