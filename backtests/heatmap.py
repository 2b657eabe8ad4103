"""A two-parameter sweep as a heat map: one self-contained HTML page with an inline SVG.

Rows are the first grid key's values, columns the second's, in the order given. Each cell
is coloured from red (worst) through yellow to green (best) by the metric, in the
metric's better direction, and labelled with its value; a failed combination is grey with
its error as the tooltip; a combination not run (``--random``) is blank.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path

CELL_W, CELL_H = 78, 30
LEFT, TOP = 110, 56
_STOPS = ((0.0, (215, 48, 39)), (0.5, (254, 224, 139)), (1.0, (26, 152, 80)))
_CSS = ("body{font:14px/1.4 system-ui,sans-serif;color:#222;margin:1em auto;max-width:1100px;"
        "padding:0 1em}svg text{font-size:11px;fill:#222}.k{font-weight:600}"
        ".c{text-anchor:middle;dominant-baseline:central}.r{text-anchor:end;"
        "dominant-baseline:central}.note{font-size:12px;color:#555}")

Cell = tuple[float | None, str]
"""A cell's metric value (None when it failed) and its tooltip."""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _colour(fraction: float) -> str:
    for (lo, c0), (hi, c1) in pairwise(_STOPS):
        if fraction <= hi:
            t = (fraction - lo) / (hi - lo)
            r, g, b = (round(a + (z - a) * t) for a, z in zip(c0, c1, strict=True))
            return f"#{r:02x}{g:02x}{b:02x}"
    return "#1a9850"


def _scale(cells: Mapping[tuple[str, str], Cell], higher_better: bool) -> tuple[float, float]:
    values = [v for v, _ in cells.values() if v is not None and math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 0.0)
    return (low, high) if higher_better else (high, low)


def _cell(x: float, y: float, cell: Cell | None, worst: float, best: float) -> str:
    if cell is None:
        return ""
    value, tip = cell
    if value is None or not math.isfinite(value):
        fill, label = "#bdbdbd", "failed" if value is None else f"{value}"
    else:
        span = best - worst
        fill = _colour(0.5 if span == 0 else (value - worst) / span)
        label = f"{value:.3g}"
    return (f'<g><title>{_esc(tip)}</title><rect x="{x}" y="{y}" width="{CELL_W - 2}" '
            f'height="{CELL_H - 2}" fill="{fill}"/><text class="c" x="{x + CELL_W / 2 - 1}" '
            f'y="{y + CELL_H / 2 - 1}">{_esc(label)}</text></g>')


def heatmap_svg(rows: tuple[str, Sequence[str]], cols: tuple[str, Sequence[str]],
                cells: Mapping[tuple[str, str], Cell], higher_better: bool) -> str:
    """Draw the grid of cells as an SVG element."""
    (row_key, row_values), (col_key, col_values) = rows, cols
    worst, best = _scale(cells, higher_better)
    left = max(LEFT, 7 * max(len(row_key) + 2, *(len(v) for v in row_values)) + 16)
    width = left + CELL_W * len(col_values) + 10
    height = TOP + CELL_H * len(row_values) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}">',
             f'<text class="k" x="{left}" y="16">{_esc(col_key)} →</text>',
             f'<text class="k r" x="{left - 8}" y="{TOP - 12}">{_esc(row_key)} ↓</text>']
    for j, col in enumerate(col_values):
        parts.append(f'<text class="c" x="{left + CELL_W * j + CELL_W / 2}" '
                     f'y="{TOP - 12}">{_esc(col)}</text>')
    for i, row in enumerate(row_values):
        y = TOP + CELL_H * i
        parts.append(f'<text class="r" x="{left - 8}" y="{y + CELL_H / 2}">{_esc(row)}</text>')
        parts.extend(_cell(left + CELL_W * j, y, cells.get((row, col)), worst, best)
                     for j, col in enumerate(col_values))
    parts.append("</svg>")
    return "".join(parts)


def write_heatmap(path: Path, title: str, metric: str, higher_better: bool,
                  rows: tuple[str, Sequence[str]], cols: tuple[str, Sequence[str]],
                  cells: Mapping[tuple[str, str], Cell]) -> None:
    """Write the heat map page (no external resources; same input, same bytes)."""
    direction = "higher is better" if higher_better else "lower is better"
    svg = heatmap_svg(rows, cols, cells, higher_better)
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n<body>"
            f"<h1>{_esc(title)}</h1>\n<p>{_esc(metric)} ({direction}); green is best. "
            "Hover a cell for its figures.</p>\n"
            f"{svg}\n<p class=\"note\">Grey: the combination failed (hover for the error). "
            "Blank: not run.</p></body></html>\n")
    path.write_text(page, encoding="utf-8", newline="\n")
