"""Self-contained HTML report of a backtest: summary table, equity, drawdown and allocation charts.

The page has no external resources: charts are inline SVG drawn here, styles are inline.
Long series are downsampled to at most ``MAX_BUCKETS`` x positions per chart (min and max
per bucket for NAV and drawdown, so spikes and troughs stay visible; last value per bucket
for allocations). Output is deterministic: the same input gives the same bytes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]

WIDTH, HEIGHT = 900, 260
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 26, 28
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_BUCKETS = 1200
MAX_MARKERS = 500
MAX_FILL_ROWS = 200
DAY = 86_400
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948",
           "#76b7b2", "#ff9da7", "#9c755f", "#e15759", "#8cd17d")
CASH_COLOUR = "#e4e4e4"
NAV_COLOUR = "#1f4e79"
BENCH_COLOUR = "#ff7f0e"
BUY_COLOUR = "#2ca02c"
SELL_COLOUR = "#d62728"
DD_COLOUR = "#c0392b"
_SHORT_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, DAY)
_LONG_STEPS = (DAY, 2 * DAY, 7 * DAY, 14 * DAY)
_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120, 240, 600)
_CSS = (
    "body{font:14px/1.4 system-ui,sans-serif;color:#222;max-width:960px;margin:1em auto;"
    "padding:0 1em}table{border-collapse:collapse;font-size:13px}"
    "th,td{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}"
    "figure{margin:1em 0}figcaption{font-size:12px;color:#555}.note{font-size:12px;color:#555}"
    "svg{display:block;width:100%;height:auto}svg text{font-size:11px;fill:#444}"
    ".yl{text-anchor:end}.xl{text-anchor:middle}.xe{text-anchor:end}"
    ".g{stroke:#ddd;stroke-width:.6}.gw{stroke:#fff;stroke-opacity:.7;stroke-width:.6}"
    ".frame{fill:none;stroke:#999;stroke-width:.8}"
    ".ln{fill:none;stroke-width:1.2;stroke-linejoin:round}"
    ".mk{stroke:#fff;stroke-width:.5}.buy{fill:" + BUY_COLOUR + "}.sell{fill:" + SELL_COLOUR + "}"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportSeries:
    """Time series of one actor's backtest, for charts."""

    actor_id: str
    times: Sequence[int]
    nav: Sequence[float]
    allocation: Mapping[str, Sequence[float]]
    benchmark: Sequence[float] | None
    fills: Sequence[tuple[int, str, str, str, str]]
    quote: str


@dataclass(frozen=True, slots=True)
class _Frame:
    """Maps data coordinates (time, value) to SVG coordinates of the plot area."""

    t0: float
    t1: float
    y0: float
    y1: float

    def x(self, t: float) -> float:
        return LEFT + (t - self.t0) * (PLOT_W / (self.t1 - self.t0))

    def y(self, v: float) -> float:
        return TOP + (self.y1 - v) * (PLOT_H / (self.y1 - self.y0))

    def xs(self, t: Array) -> Array:
        return LEFT + (t - self.t0) * (PLOT_W / (self.t1 - self.t0))

    def ys(self, v: Array) -> Array:
        return TOP + (self.y1 - v) * (PLOT_H / (self.y1 - self.y0))


@dataclass(frozen=True, slots=True)
class _Actor:
    """One actor's series as arrays, with its time domain and downsampling buckets."""

    t: Array
    nav: Array
    bench: Array | None
    symbols: list[str]
    alloc: Array
    starts: Index
    t0: float
    t1: float


def write_report(path: Path, title: str, summary: Mapping[str, object],
                 series: Sequence[ReportSeries]) -> None:
    """Write a self-contained HTML report: summary table, per-actor equity/drawdown/allocation."""
    sections = "".join(_actor_section(s) for s in series)
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>"
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n<body>"
            f"<h1>{_esc(title)}</h1>\n{_summary_table(summary)}\n{sections}</body></html>\n")
    path.write_text(page, encoding="utf-8", newline="\n")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _summary_table(summary: Mapping[str, object]) -> str:
    rows = "".join(f"<tr><th>{_esc(key)}</th><td>{_esc(_format_value(value))}</td></tr>\n"
                   for key, value in summary.items())
    return f"<table class=\"summary\">\n{rows}</table>"


def _format_value(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _actor_section(s: ReportSeries) -> str:
    head = f"<section>\n<h2>{_esc(s.actor_id)}</h2>\n"
    if len(s.times) == 0:
        empty = "<p class=\"note\">No data points.</p>\n"
        return head + empty + _fills_table(s.fills) + "</section>\n"
    a = _prepare(s)
    charts = _equity_chart(s, a) + _drawdown_chart(a) + _allocation_chart(a)
    return head + charts + _fills_table(s.fills) + "</section>\n"


def _prepare(s: ReportSeries) -> _Actor:
    t = np.asarray(s.times, dtype=np.float64)
    nav = np.asarray(s.nav, dtype=np.float64)
    bench = None if s.benchmark is None else np.asarray(s.benchmark, dtype=np.float64)
    symbols = [str(k) for k in s.allocation]
    rows = [np.asarray(s.allocation[k], dtype=np.float64) for k in s.allocation]
    alloc = np.stack(rows) if rows else np.zeros((0, len(t)))
    t0, t1 = float(t[0]), float(t[-1])
    if t1 <= t0:  # a single instant: stretch over a day so the chart has a width
        t0, t1 = t0 - DAY / 2, t1 + DAY / 2
        if len(t) == 1:
            t = np.array([t0, t1])
            nav = np.repeat(nav, 2)
            bench = None if bench is None else np.repeat(bench, 2)
            alloc = np.repeat(alloc, 2, axis=1)
    return _Actor(t, nav, bench, symbols, alloc, _bucket_starts(t, t0, t1), t0, t1)


def _bucket_starts(t: Array, t0: float, t1: float) -> Index:
    """Return the first index of each x bucket (every index when the series is short)."""
    if len(t) <= MAX_BUCKETS:
        return np.arange(len(t), dtype=np.intp)
    column = np.minimum(((t - t0) * (MAX_BUCKETS / (t1 - t0))).astype(np.intp), MAX_BUCKETS - 1)
    return np.concatenate(([0], np.flatnonzero(np.diff(column)) + 1)).astype(np.intp)


def _minmax(t: Array, v: Array, starts: Index) -> tuple[Array, Array]:
    """Downsample to the min and max of each bucket, in the order the bucket moves."""
    if len(starts) == len(v):
        return t, v
    ends = np.append(starts[1:], len(v)) - 1
    low = np.minimum.reduceat(v, starts)
    high = np.maximum.reduceat(v, starts)
    down = v[ends] < v[starts]
    xs = np.column_stack((t[starts], t[ends])).ravel()
    ys = np.column_stack((np.where(down, high, low), np.where(down, low, high))).ravel()
    return xs, ys


def _last(t: Array, v: Array, starts: Index) -> tuple[Array, Array]:
    """Downsample to the first point and the last value of each bucket."""
    if len(starts) == len(v):
        return t, v
    index = np.append(0, np.append(starts[1:], len(v)) - 1)
    return t[index], v[index]


def _equity_chart(s: ReportSeries, a: _Actor) -> str:
    low, high = float(a.nav.min()), float(a.nav.max())
    if a.bench is not None:
        low, high = min(low, float(a.bench.min())), max(high, float(a.bench.max()))
    ticks, step = _nice_ticks(low, high)
    frame = _Frame(a.t0, a.t1, ticks[0], ticks[-1])
    body = [_grid(frame, [(v, _number(v, step)) for v in ticks], "g")]
    legend = [(NAV_COLOUR, f"NAV ({s.quote})")]
    if a.bench is not None:
        body.append(_line(frame, *_minmax(a.t, a.bench, a.starts), BENCH_COLOUR))
        legend.append((BENCH_COLOUR, "buy and hold"))
    body.append(_line(frame, *_minmax(a.t, a.nav, a.starts), NAV_COLOUR))
    marked = 0 < len(s.fills) <= MAX_MARKERS
    if marked:
        body.append(_markers(frame, s.fills, a))
        sides = {f[2].lower() for f in s.fills}
        legend += [(c, side) for c, side in ((BUY_COLOUR, "buy"), (SELL_COLOUR, "sell"))
                   if side in sides]
    body.append(_legend(legend))
    return _figure(body, "equity curve", _equity_caption(s, a, marked))


def _equity_caption(s: ReportSeries, a: _Actor, marked: bool) -> str:
    first, last = float(a.nav[0]), float(a.nav[-1])
    change = f" ({(last / first - 1.0) * 100.0:+.2f} %)" if first > 0 else ""
    text = (f"Equity in {s.quote}: NAV {first:,.2f} → {last:,.2f}{change}, "
            f"{_count(len(s.times), 'point')}.")
    if a.bench is not None:
        text += f" Buy and hold ends at {float(a.bench[-1]):,.2f}."
    if marked:
        text += f" {_count(len(s.fills), 'fill')} marked."
    elif s.fills:
        text += f" {len(s.fills):,} fills not marked (more than {MAX_MARKERS})."
    return text


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _markers(frame: _Frame, fills: Sequence[tuple[int, str, str, str, str]], a: _Actor) -> str:
    """Draw buy (green, up) and sell (red, down) triangles centred on the NAV at fill times."""
    times = np.clip(np.array([f[0] for f in fills], dtype=np.float64), a.t[0], a.t[-1])
    index = np.clip(np.searchsorted(a.t, times, side="right") - 1, 0, len(a.t) - 1)
    xs, ys = frame.xs(times).tolist(), frame.ys(a.nav[index]).tolist()
    parts = []
    for x, y, fill in zip(xs, ys, fills, strict=True):
        side = fill[2].lower()
        if side == "buy":
            parts.append(f"<path class=\"mk buy\" d=\"M{x:.1f},{y - 3:.1f}l3,6h-6z\"/>")
        elif side == "sell":
            parts.append(f"<path class=\"mk sell\" d=\"M{x:.1f},{y + 3:.1f}l3,-6h-6z\"/>")
    return "".join(parts)


def _drawdown_chart(a: _Actor) -> str:
    peak = np.maximum.accumulate(a.nav)
    ratio = np.divide(a.nav, peak, out=np.ones_like(a.nav), where=peak > 0)
    worst = float(np.max(1.0 - ratio))
    ticks, step = _nice_ticks(min(float((ratio.min() - 1.0) * 100.0), -0.1), 0.0)
    frame = _Frame(a.t0, a.t1, ticks[0], ticks[-1])
    xs, ys = _minmax(a.t, (ratio - 1.0) * 100.0, a.starts)
    body = [_grid(frame, [(v, _number(v, step) + " %") for v in ticks], "g"),
            _area(frame, xs, ys, 0.0, DD_COLOUR, " fill-opacity=\".3\" stroke-width=\"1\""
                  f" stroke=\"{DD_COLOUR}\"")]
    caption = f"Drawdown from the running peak: max drawdown {worst * 100.0:.2f} %"
    if worst > 0:
        when = float(a.t[int(np.argmin(ratio))])
        caption += f" on {_utc(when, _time_format(a.t1 - a.t0))}"
    return _figure(body, "drawdown", caption + ".")


def _allocation_chart(a: _Actor) -> str:
    frame = _Frame(a.t0, a.t1, 0.0, 100.0)
    body = [f"<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{PLOT_W}\" height=\"{PLOT_H}\""
            f" fill=\"{CASH_COLOUR}\"/>"]
    stack = np.clip(np.cumsum(a.alloc, axis=0), 0.0, 1.0) * 100.0
    for i in reversed(range(len(a.symbols))):
        xs, ys = _last(a.t, stack[i], a.starts)
        body.append(_area(frame, xs, ys, 0.0, PALETTE[i % len(PALETTE)], ""))
    ticks = [(v, f"{v:.0f} %") for v in (0.0, 25.0, 50.0, 75.0, 100.0)]
    body.append(_grid(frame, ticks, "gw"))
    legend = [(PALETTE[i % len(PALETTE)], sym) for i, sym in enumerate(a.symbols)]
    body.append(_legend([*legend, (CASH_COLOUR, "cash")]))
    caption = "Allocation as % of NAV per symbol (stacked, last value per pixel), cash on top."
    return _figure(body, "allocation", caption)


def _nice_ticks(low: float, high: float) -> tuple[list[float], float]:
    """Return 4–6 round tick values covering [low, high], and their step."""
    if high - low <= 1e-12 * max(1.0, abs(low), abs(high)):
        pad = abs(low) * 0.01 if low != 0 else 1.0
        low, high = low - pad, high + pad
    magnitude = 10.0 ** math.floor(math.log10((high - low) / 5.0))
    best: tuple[int, float, list[float]] | None = None
    for scale in (0.1, 1.0, 10.0):
        for mantissa in (1.0, 2.0, 2.5, 5.0):
            step = mantissa * scale * magnitude
            first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
            count = last - first + 1
            score = abs(count - 5) + (0 if 4 <= count <= 6 else 10)
            if best is None or score < best[0]:
                best = (score, step, [k * step for k in range(first, last + 1)])
    assert best is not None
    return best[2], best[1]


def _number(value: float, step: float) -> str:
    decimals = 0
    while decimals < 8 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    return f"{0.0 if abs(value) < step * 1e-6 else value:,.{decimals}f}"


def _time_format(span: float) -> str:
    return "%Y-%m-%d %H:%M" if span < 3 * DAY else "%Y-%m-%d"


def _utc(t: float, fmt: str) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime(fmt)


def _time_ticks(t0: float, t1: float) -> list[tuple[float, str]]:
    """Return round UTC tick times in [t0, t1] with date (or date and time) labels."""
    span = t1 - t0
    steps = _SHORT_STEPS if span < 3 * DAY else _LONG_STEPS
    step = next((s for s in steps if span / s <= 7), 0)
    if step:
        times = [float(v) for v in range(math.ceil(t0 / step) * step, math.floor(t1) + 1, step)]
    else:
        times = _month_ticks(t0, t1)
    if len(times) < 2:
        times = [t0, t1]
    fmt = _time_format(span)
    return [(t, _utc(t, fmt)) for t in times]


def _month_ticks(t0: float, t1: float) -> list[float]:
    """Return the starts of every n-th calendar month in [t0, t1], n chosen for 2–7 ticks."""
    months = next((m for m in _MONTH_STEPS if (t1 - t0) / (m * 30.44 * DAY) <= 7), 1200)
    start = datetime.fromtimestamp(t0, tz=UTC)
    k = start.year * 12 + start.month - 1
    if datetime(start.year, start.month, 1, tzinfo=UTC).timestamp() < t0:
        k += 1
    k = -(-k // months) * months
    times = []
    while (t := datetime(k // 12, k % 12 + 1, 1, tzinfo=UTC).timestamp()) <= t1:
        times.append(t)
        k += months
    return times


def _grid(frame: _Frame, yticks: list[tuple[float, str]], css: str) -> str:
    """Draw horizontal and vertical grid lines with y and x (time) tick labels."""
    parts = []
    for value, label in yticks:
        y = frame.y(value)
        parts.append(f"<line class=\"{css}\" x1=\"{LEFT}\" y1=\"{y:.1f}\" x2=\"{WIDTH - RIGHT}\""
                     f" y2=\"{y:.1f}\"/><text class=\"yl\" x=\"{LEFT - 6}\" y=\"{y + 4:.1f}\">"
                     f"{_esc(label)}</text>")
    for t, label in _time_ticks(frame.t0, frame.t1):
        x = frame.x(t)
        anchor = "xe" if x > WIDTH - RIGHT - 50 else "xl"
        parts.append(f"<line class=\"{css}\" x1=\"{x:.1f}\" y1=\"{TOP}\" x2=\"{x:.1f}\""
                     f" y2=\"{TOP + PLOT_H}\"/><text class=\"{anchor}\" x=\"{x:.1f}\""
                     f" y=\"{HEIGHT - BOTTOM + 16}\">{_esc(label)}</text>")
    return "".join(parts)


def _points(xs: Array, ys: Array) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs.tolist(), ys.tolist(), strict=True))


def _line(frame: _Frame, t: Array, v: Array, colour: str) -> str:
    points = _points(frame.xs(t), frame.ys(v))
    return f"<polyline class=\"ln\" stroke=\"{colour}\" points=\"{points}\"/>"


def _area(frame: _Frame, t: Array, v: Array, base: float, colour: str, extra: str) -> str:
    """Draw the area between the series and a base value as one polygon."""
    x0, x1, yb = frame.x(float(t[0])), frame.x(float(t[-1])), frame.y(base)
    points = f"{_points(frame.xs(t), frame.ys(v))} {x1:.1f},{yb:.1f} {x0:.1f},{yb:.1f}"
    return f"<polygon fill=\"{colour}\"{extra} points=\"{points}\"/>"


def _legend(items: Sequence[tuple[str, str]]) -> str:
    parts, x = [], LEFT
    for colour, label in items:
        parts.append(f"<rect x=\"{x}\" y=\"8\" width=\"10\" height=\"10\" fill=\"{colour}\"/>"
                     f"<text x=\"{x + 14}\" y=\"17\">{_esc(label)}</text>")
        x += 26 + 7 * len(label)
    return "".join(parts)


def _figure(body: list[str], label: str, caption: str) -> str:
    frame = (f"<rect class=\"frame\" x=\"{LEFT}\" y=\"{TOP}\" width=\"{PLOT_W}\""
             f" height=\"{PLOT_H}\"/>")
    svg = (f"<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" role=\"img\""
           f" aria-label=\"{_esc(label)}\">{''.join(body)}{frame}</svg>")
    return f"<figure>{svg}<figcaption>{_esc(caption)}</figcaption></figure>\n"


def _fills_table(fills: Sequence[tuple[int, str, str, str, str]]) -> str:
    if not fills:
        return "<h3>Fills</h3><p class=\"note\">No fills.</p>\n"
    rows = "".join(f"<tr><td>{_utc(float(t), '%Y-%m-%d %H:%M:%S')}</td><td>{_esc(sym)}</td>"
                   f"<td>{_esc(side)}</td><td>{_esc(amount)}</td><td>{_esc(price)}</td></tr>\n"
                   for t, sym, side, amount, price in fills[:MAX_FILL_ROWS])
    head = "<tr><th>time (UTC)</th><th>symbol</th><th>side</th><th>amount</th><th>price</th></tr>"
    note = ""
    if len(fills) > MAX_FILL_ROWS:
        note = (f"<p class=\"note\">First {MAX_FILL_ROWS} of {len(fills):,} fills;"
                f" {len(fills) - MAX_FILL_ROWS:,} left out.</p>\n")
    return f"<h3>Fills</h3>\n<table class=\"fills\">{head}\n{rows}</table>\n{note}"


# --- for other pages (fund/audit_report.py): the same charts, one series at a time --------

PAGE_CSS = _CSS
"""The report's styles, for other self-contained pages drawn with these charts."""


def series_chart(times: Sequence[int], values: Sequence[float], *, legend: str,
                 caption: str, label: str = "series",
                 marks: Sequence[tuple[int, str, str]] = (),
                 mark_legend: Sequence[tuple[str, str]] = ()) -> str:
    """An inline SVG figure of one time series (min and max per pixel column when long),
    with vertical ``marks`` (time, colour, title) named in the legend by ``mark_legend``
    (colour, label) — empty when there are no points."""
    if len(times) == 0:
        return ""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    t0, t1 = float(t[0]), float(t[-1])
    if t1 <= t0:  # a single instant: stretch over a day so the chart has a width
        t0, t1 = t0 - DAY / 2, t1 + DAY / 2
        if len(t) == 1:
            t, v = np.array([t0, t1]), np.repeat(v, 2)
    ticks, step = _nice_ticks(float(v.min()), float(v.max()))
    frame = _Frame(t0, t1, ticks[0], ticks[-1])
    body = [_grid(frame, [(value, _number(value, step)) for value in ticks], "g"),
            _line(frame, *_minmax(t, v, _bucket_starts(t, t0, t1)), NAV_COLOUR)]
    for when, colour, title in marks:
        x = frame.x(min(max(float(when), t0), t1))
        body.append(f"<line x1=\"{x:.1f}\" y1=\"{TOP}\" x2=\"{x:.1f}\" y2=\"{TOP + PLOT_H}\""
                    f" stroke=\"{colour}\" stroke-width=\"1.2\" stroke-dasharray=\"3,2\">"
                    f"<title>{_esc(title)}</title></line>")
    body.append(_legend([(NAV_COLOUR, legend), *mark_legend]))
    return _figure(body, label, caption)


def thin(times: Sequence[int], values: Sequence[float]) -> tuple[list[int], list[float]]:
    """A long series thinned as the charts draw it: the min and max of each of at most
    ``MAX_BUCKETS`` time buckets (every point when the series is short)."""
    if len(times) <= MAX_BUCKETS:
        return list(times), list(values)
    t = np.asarray(times, dtype=np.float64)
    xs, ys = _minmax(t, np.asarray(values, dtype=np.float64),
                     _bucket_starts(t, float(t[0]), max(float(t[-1]), float(t[0]) + 1)))
    return [int(x) for x in xs.tolist()], [float(y) for y in ys.tolist()]
