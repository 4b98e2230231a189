"""Charts drawn on the server as inline SVG: a line chart over days and a horizontal bar chart.

No chart library and nothing fetched by the browser: each chart is a ``<figure>`` holding an
``<svg role="img">`` with a title and a one-line description for screen readers, an HTML legend, and
the same numbers as a table inside ``<details>`` (WCAG 1.1.1: the data is available as text).
Series differ by colour *and* dash pattern, every colour has at least 3:1 contrast on white
(WCAG 1.4.11). In right-to-left pages time runs from right to left and labels sit on the right.
Only presentation attributes are used (no ``style``), so the console's Content-Security-Policy holds.
Values are numbers computed elsewhere; labels are escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import count

from markupsafe import Markup, escape

# Contrast on white: 6.4, 5.0, 5.1, 9.3, 5.6, 5.3, 9.1, 7.2, 6.1, 4.6 (all >= 3:1).
PALETTE = (
    "#1b5e9e",
    "#b34700",
    "#2e7d32",
    "#6a1b9a",
    "#c62828",
    "#00796b",
    "#5d4037",
    "#455a64",
    "#ad1457",
    "#6b6b00",
)
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 2 1 2", "3 3", "12 2", "2 6")
INK = "#1f2328"  # text and axes: 15.8:1 on white
GRID = "#8c959f"  # grid lines: 3.0:1 on white

_ids = count(1)


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return float(candidate)
    return float(10 ** (exponent + 1))


def _fmt(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}".rstrip("0").rstrip(".")


def _legend(names: Sequence[str]) -> str:
    items = []
    for i, name in enumerate(names):
        color, dash = PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        items.append(
            f'<li><svg width="28" height="10" aria-hidden="true" focusable="false">'
            f'<line x1="1" y1="5" x2="27" y2="5" stroke="{color}" stroke-width="3"{dash_attr}/></svg>'
            f"<bdi>{escape(name)}</bdi></li>"
        )
    return f'<ul class="legend">{"".join(items)}</ul>'


def _table(caption: str, head: Sequence[str], rows: Sequence[Sequence[str]], summary: str) -> str:
    th = "".join(f'<th scope="col">{escape(h)}</th>' for h in head)
    body = "".join(
        "<tr>"
        + "".join(
            f'<th scope="row">{escape(r[0])}</th>' if j == 0 else f"<td>{escape(c)}</td>" for j, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return (
        f"<details><summary>{escape(summary)}</summary>"
        f'<div class="table-scroll"><table><caption>{escape(caption)}</caption><thead><tr>{th}</tr></thead>'
        f"<tbody>{body}</tbody></table></div></details>"
    )


def line_chart(
    title: str,
    days: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    rtl: bool,
    day_label: str,
    table_label: str,
    empty_label: str,
    y_max: float | None = None,
    scale: float = 1.0,
    unit: str = "",
    width: int = 640,
    height: int = 240,
) -> Markup:
    """One line per series over ``days``; ``None`` values leave a gap. ``scale`` multiplies values
    (0-1 shares drawn as percentages with ``scale=100``)."""
    chart_id = f"chart-{next(_ids)}"
    names = list(series)
    values = {k: [None if v is None else float(v) * scale for v in vs] for k, vs in series.items()}
    present = [v for vs in values.values() for v in vs if v is not None]
    if not days or not present:
        return Markup(
            f'<figure class="chart" aria-labelledby="{chart_id}-t"><figcaption id="{chart_id}-t">{escape(title)}'
            f'</figcaption><p class="empty">{escape(empty_label)}</p></figure>'
        )
    top = y_max if y_max is not None else _nice_max(max(present))
    left, right, top_pad, bottom = 48, 12, 10, 26
    if rtl:
        left, right = right, left
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    n = len(days)

    def x(i: int) -> float:
        offset = plot_w * (i / (n - 1) if n > 1 else 0.5)
        return round(width - right - offset if rtl else left + offset, 1)

    def y(v: float) -> float:
        return round(top_pad + plot_h * (1 - min(v, top) / top), 1)

    parts = [
        f'<svg class="chart-svg" viewBox="0 0 {width} {height}" role="img" direction="ltr" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" focusable="false">',
        f'<title id="{chart_id}-svgt">{escape(title)}</title>',
    ]
    axis_x = left - 6 if not rtl else width - right + 6
    anchor = "end" if not rtl else "start"
    for k in range(5):
        tick = top * k / 4
        yy = y(tick)
        grid_dash = ' stroke-dasharray="2 4"' if k else ""
        parts.append(
            f'<line x1="{left}" y1="{yy}" x2="{width - right}" y2="{yy}" stroke="{GRID}"'
            f' stroke-width="{1 if k else 1.5}"{grid_dash}/>'
        )
        parts.append(
            f'<text x="{axis_x}" y="{yy + 4}" font-size="11" fill="{INK}" text-anchor="{anchor}">{_fmt(tick)}{escape(unit)}</text>'
        )
    ticks = sorted({0, n - 1, *[round(j * (n - 1) / 5) for j in range(1, 5)]}) if n > 1 else [0]
    for i in ticks:
        edge = "middle"
        if n > 1 and i in (0, n - 1):  # keep the outermost dates inside the picture
            edge = "start" if (i == 0) != rtl else "end"
        parts.append(
            f'<text x="{x(i)}" y="{height - 8}" font-size="11" fill="{INK}" text-anchor="{edge}">{escape(days[i][5:])}</text>'
        )
    for s, name in enumerate(names):
        color, dash = PALETTE[s % len(PALETTE)], DASHES[s % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        run: list[str] = []
        segments: list[list[str]] = []
        for i, v in enumerate(values[name]):
            if v is None:
                if run:
                    segments.append(run)
                run = []
                continue
            run.append(f"{x(i)},{y(v)}")
        if run:
            segments.append(run)
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>')
            else:
                parts.append(
                    f'<polyline points="{" ".join(seg)}" fill="none" stroke="{color}" stroke-width="2.2"'
                    f' stroke-linejoin="round"{dash_attr}/>'
                )
        if n <= 31:
            for i, v in enumerate(values[name]):
                if v is not None:
                    parts.append(
                        f'<circle cx="{x(i)}" cy="{y(v)}" r="2.6" fill="{color}"><title>'
                        f"{escape(name)} {escape(days[i])}: {_fmt(round(v, 2))}{escape(unit)}</title></circle>"
                    )
    parts.append("</svg>")
    latest = ", ".join(
        f"{name}: {_fmt(round(next((v for v in reversed(values[name]) if v is not None), 0.0), 2))}{unit}"
        for name in names
    )
    description = f"{days[0]} – {days[-1]}. {latest}"
    rows = [
        [d] + ["" if values[name][i] is None else _fmt(round(values[name][i] or 0.0, 2)) for name in names]
        for i, d in enumerate(days)
    ]
    return Markup(
        f'<figure class="chart" aria-labelledby="{chart_id}-t">'
        f'<figcaption id="{chart_id}-t">{escape(title)}</figcaption>'
        f'<p id="{chart_id}-d" class="visually-hidden">{escape(description)}</p>'
        + "".join(parts)
        + (_legend(names) if len(names) > 1 else "")
        + _table(title, [day_label, *names], rows, table_label)
        + "</figure>"
    )


def bar_chart(
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    rtl: bool,
    label_head: str,
    value_head: str,
    table_label: str,
    empty_label: str,
    value_format: Callable[[float], str] = _fmt,
    width: int = 640,
    bar_h: int = 22,
) -> Markup:
    """Horizontal bars, largest first as given; labels on the reading side."""
    chart_id = f"chart-{next(_ids)}"
    if not items:
        return Markup(
            f'<figure class="chart" aria-labelledby="{chart_id}-t"><figcaption id="{chart_id}-t">{escape(title)}'
            f'</figcaption><p class="empty">{escape(empty_label)}</p></figure>'
        )
    label_w, value_w, gap = 200, 64, 6
    height = len(items) * (bar_h + gap) + gap
    top = max(v for _, v in items) or 1.0
    room = width - label_w - value_w - 2 * gap
    parts = [
        f'<svg class="chart-svg" viewBox="0 0 {width} {height}" role="img" direction="ltr" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" focusable="false">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(items):
        yy = gap + i * (bar_h + gap)
        w = max(1.0, room * value / top)
        color = PALETTE[0]
        shown = label if len(label) <= 30 else label[:29] + "…"
        mid = yy + bar_h / 2 + 4
        if rtl:
            x0 = width - label_w - gap - w
            parts.append(
                f'<text x="{width - 2}" y="{mid}" font-size="12" fill="{INK}" text-anchor="end">{escape(shown)}</text>'
            )
            parts.append(f'<rect x="{x0:.1f}" y="{yy}" width="{w:.1f}" height="{bar_h}" fill="{color}" rx="2"/>')
            parts.append(
                f'<text x="{x0 - 4:.1f}" y="{mid}" font-size="12" fill="{INK}" text-anchor="end">{escape(value_format(value))}</text>'
            )
        else:
            x0 = label_w + gap
            parts.append(f'<text x="2" y="{mid}" font-size="12" fill="{INK}">{escape(shown)}</text>')
            parts.append(f'<rect x="{x0}" y="{yy}" width="{w:.1f}" height="{bar_h}" fill="{color}" rx="2"/>')
            parts.append(
                f'<text x="{x0 + w + 4:.1f}" y="{mid}" font-size="12" fill="{INK}">{escape(value_format(value))}</text>'
            )
    parts.append("</svg>")
    description = ", ".join(f"{label}: {value_format(value)}" for label, value in items[:5])
    rows = [[label, value_format(value)] for label, value in items]
    return Markup(
        f'<figure class="chart" aria-labelledby="{chart_id}-t">'
        f'<figcaption id="{chart_id}-t">{escape(title)}</figcaption>'
        f'<p id="{chart_id}-d" class="visually-hidden">{escape(description)}</p>'
        + "".join(parts)
        + _table(title, [label_head, value_head], rows, table_label)
        + "</figure>"
    )
