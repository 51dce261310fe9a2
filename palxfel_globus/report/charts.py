"""Charts as inline SVG: no script, no network asset, vectors that print sharp and scale to a phone's width.

Each chart is a ``<figure class="chart" data-chart=NAME>`` holding one ``<svg viewBox=...>`` (the page sizes it to
its column) and an HTML legend under it, which wraps on a narrow screen. Every drawn datum is an element of class
``mark`` with a ``<title>`` giving its exact value (a tooltip on hover, read out by screen readers). A chart with
nothing to draw says so inside its frame. The palette is Okabe and Ito's, told apart by people with colour-blindness.
"""

from __future__ import annotations

import math
from html import escape
from typing import Callable, Optional

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C6D1F", "#404040")
WIDTH, HEIGHT = 480, 240
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 14, 36  # the plot area's margins, room for the axes' labels
Format = Callable[[float], str]


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """0 and round whole steps (1, 2, 5 times a power of ten) up to at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = max(1, next(size * power for size in (1, 2, 5, 10) if size * power >= raw))  # scans and bytes are whole
    return [step * index for index in range(math.ceil(top / step - 1e-9) + 1)]


def _frame(
    name: str,
    title: str,
    body: list[str],
    legend: list[tuple[str, str]],
    empty: Optional[str],
    height: int = HEIGHT,
) -> str:
    """The figure around a chart: its svg (with a title for screen readers) and its legend."""
    label = escape(title)
    svg = [
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{label}">',
        f"<title>{label}</title>",
        *body,
    ]
    if empty:
        svg.append(f'<text class="empty" x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle">{escape(empty)}</text>')
    svg.append("</svg>")
    items = "".join(
        f'<li><span class="swatch" style="background:{colour}"></span>{escape(text)}</li>' for text, colour in legend
    )
    parts = [f'<figure class="chart" data-chart="{escape(name)}"{" data-empty" if empty else ""}>', *svg]
    if items:
        parts.append(f'<ul class="legend">{items}</ul>')
    parts.append("</figure>")
    return "\n".join(parts)


def _y_axis(ticks: list[float], fmt: Format) -> tuple[list[str], Callable[[float], float]]:
    """Grid lines and labels for ``ticks``; returns them and value -> y."""
    bottom, top = HEIGHT - BOTTOM, TOP
    highest = ticks[-1] or 1

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / highest

    lines = []
    for tick in ticks:
        y = round(y_of(tick), 1)
        lines.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        lines.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{escape(fmt(tick))}</text>')
    return lines, y_of


def _x_labels(positions: list[float], labels: list[str], most: int = 6, slanted: bool = False) -> list[str]:
    """At most ``most`` labels under the plot, evenly picked, so they never overlap; ``slanted``, every label, each
    turned to fit under its own bar."""
    step = 1 if slanted else max(1, math.ceil(len(labels) / most))
    texts = []
    for index, (x, label) in enumerate(zip(positions, labels)):
        if index % step:
            continue
        x, y = round(x, 1), HEIGHT - BOTTOM + (14 if slanted else 18)
        place = f'text-anchor="end" transform="rotate(-35 {x} {y})"' if slanted else 'text-anchor="middle"'
        texts.append(f'<text class="tick" x="{x}" y="{y}" {place}>{escape(label)}</text>')
    return texts


def line_chart(
    name: str,
    title: str,
    x_labels: list[str],
    series: dict[str, list[float]],
    fmt: Format,
    empty: str,
) -> str:
    """One line per series over evenly spaced points; ``x_labels`` name the points."""
    points = max((len(values) for values in series.values()), default=0)
    top = max((max(values) for values in series.values() if values), default=0)
    body, y_of = _y_axis(nice_ticks(top), fmt)
    span = WIDTH - LEFT - RIGHT
    xs = [LEFT + span * index / max(1, points - 1) for index in range(points)]
    legend = []
    for number, (label, values) in enumerate(series.items()):
        colour = PALETTE[number % len(PALETTE)]
        legend.append((label, colour))
        coordinates = " ".join(f"{round(x, 1)},{round(y_of(value), 1)}" for x, value in zip(xs, values))
        tip = escape(f"{label}: {fmt(max(values))} at most, {fmt(values[-1])} now" if values else label)
        body.append(
            f'<polyline class="mark" fill="none" stroke="{colour}" stroke-width="2" points="{coordinates}">'
            f"<title>{tip}</title></polyline>"
        )
    body += _x_labels(xs, x_labels)
    nothing = not points or not any(any(values) for values in series.values())
    return _frame(name, title, body, legend, empty if nothing else None)


def bar_chart(
    name: str,
    title: str,
    categories: list[str],
    series: dict[str, list[float]],
    fmt: Format,
    empty: str,
    slanted: bool = False,
) -> str:
    """Bars per category, the series side by side within it; ``slanted`` category names for long ones."""
    top = max((max(values) for values in series.values() if values), default=0)
    body, y_of = _y_axis(nice_ticks(top), fmt)
    span = (WIDTH - LEFT - RIGHT) / max(1, len(categories))
    width = span * 0.8 / max(1, len(series))
    legend = []
    for number, (label, values) in enumerate(series.items()):
        colour = PALETTE[number % len(PALETTE)]
        legend.append((label, colour))
        for index, value in enumerate(values):
            if not value:
                continue
            x = LEFT + span * index + span * 0.1 + width * number
            y = y_of(value)
            body.append(
                f'<rect class="mark" x="{round(x, 1)}" y="{round(y, 1)}" width="{round(width, 1)}" '
                f'height="{round(HEIGHT - BOTTOM - y, 1)}" fill="{colour}">'
                f"<title>{escape(f'{label}, {categories[index]}: {fmt(value)}')}</title></rect>"
            )
    body += _x_labels([LEFT + span * (index + 0.5) for index in range(len(categories))], categories, slanted=slanted)
    nothing = not any(any(values) for values in series.values())
    height = HEIGHT + 40 if slanted else HEIGHT
    return _frame(name, title, body, legend if len(series) > 1 else [], empty if nothing else None, height)


def stacked_rows(
    name: str,
    title: str,
    rows: list[tuple[str, list[float]]],
    parts: list[str],
    fmt: Format,
    empty: str,
) -> str:
    """One horizontal bar per row, its label above it, split into ``parts`` (a colour each), scaled to the
    largest row; a single part draws a plain bar chart of the rows."""
    row_height = 34
    height = max(HEIGHT // 3, TOP + row_height * len(rows) + 8)
    total = max((sum(values) for _label, values in rows), default=0) or 1
    span = WIDTH - 2 * RIGHT - 70
    body = []
    for index, (label, values) in enumerate(rows):
        y = TOP + row_height * index
        shown = label if len(label) <= 64 else label[:63] + "…"
        body.append(
            f'<text class="row-label" x="{RIGHT}" y="{y + 8}"><title>{escape(label)}</title>{escape(shown)}</text>'
        )
        x = float(RIGHT)
        for number, value in enumerate(values):
            if not value:
                continue
            width = span * value / total
            colour = PALETTE[number % len(PALETTE)]
            tip = escape(f"{label}: {parts[number]} {fmt(value)}" if len(parts) > 1 else f"{label}: {fmt(value)}")
            body.append(
                f'<rect class="mark" x="{round(x, 1)}" y="{y + 12}" width="{round(max(width, 1.5), 1)}" height="14" '
                f'fill="{colour}"><title>{tip}</title></rect>'
            )
            x += width
        body.append(f'<text class="tick" x="{round(x + 6, 1)}" y="{y + 24}">{escape(fmt(sum(values)))}</text>')
    legend = [(part, PALETTE[number % len(PALETTE)]) for number, part in enumerate(parts)] if len(parts) > 1 else []
    return _frame(name, title, body, legend, None if rows else empty, height)
