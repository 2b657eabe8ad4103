"""The charts of a fund, drawn once for the HTML report, the audit page and the UI (plotly).

Every chart is built here from plain arrays (epoch seconds and floats), so the report
(agentfund.backtests.report), the audit page (fund.audit_report) and the UI's Charts page
(fund.monitor.charts) draw the same figure from the same data: the unit value with total
assets, flows and fills over its drawdown, the allocation, the benchmark, sentiment with
news coverage, one series with marks.

**Long series keep their data.** A series longer than ``BUCKETS`` points is cut into
``BUCKETS`` equal time buckets and each bucket is drawn by what it holds: the min and the
max (in the order they came) for a curve, so no peak and no trough is lost; the sum for a
count (mentions, news items), so the bars add up to the journal's totals; the mean for a
stacked allocation (a position held briefly keeps its area); for sentiment, the bucket's
total score over its sentences. Figures (return,
drawdown) are computed on the full series first, by fund.performance.

**Axes fit their range**: a percentage axis gets as many decimals as its span needs (a
drawdown of 0.8 % reads "−0.2 %, −0.4 %", not "0 %, −1 %"), a money axis likewise.
Colours come from fund.colours: one per symbol everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from fund import colours, display, performance
from fund.markets import Market
from fund.performance import Flow

BUCKETS = 600
"""Time buckets of a long curve (about one per pixel column of a wide chart)."""
BAR_BUCKETS = 250
"""Time buckets of a long count (bars are drawn one shape each)."""
MAX_MARKERS = 2_000
"""Fills marked on the unit value; beyond, the chart says how many are not marked."""
DAY = 86_400
MARGIN = {"l": 10, "r": 10, "t": 30, "b": 10}

Floats = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]
FLOW_STYLE = {"subscription": (colours.INFLOW, "circle"),
              "deposit": (colours.INFLOW, "circle-open"),
              "redemption": (colours.OUTFLOW, "x"), "withdrawal": (colours.OUTFLOW, "x-open")}
UNIT_LABEL = "unit value (time-weighted)"
ASSETS_LABEL = "total assets (NAV)"
BENCHMARK_LABEL = "buy and hold (equal weight, same cash share)"


# --- a figure on a page ------------------------------------------------------------------


def html_div(figure: go.Figure, template: str | Mapping[str, Any], *, div_id: str,
             config: Mapping[str, Any], include_plotlyjs: bool | str = False) -> str:
    """The figure as a ``<div>`` for a self-contained page (plotly's ``to_html`` with
    ``full_html=False``), drawn with ``template`` as ``update_layout(template=...)`` sets
    it: a registered template's name replaces the figure's template, a dict is merged
    into it (into plotly's default template, which a new figure starts from). The same
    bytes as setting it on the figure and then writing it, without what setting one
    costs: plotly validates and copies a template each time one is set on a figure (11 ms
    for "plotly_white", most of a small figure's cost); here it is made once per process
    (and default template) and put in the figure's dict. The figure is not changed."""
    data = figure.to_dict()
    data["layout"]["template"] = orjson.loads(_made(template))
    return str(pio.to_html(data, include_plotlyjs=include_plotlyjs, full_html=False,
                           div_id=div_id, config=dict(config), validate=False))


_TEMPLATES: dict[tuple[str, str | None], bytes] = {}


def ready(*templates: str | Mapping[str, Any]) -> None:
    """Make the templates :func:`html_div` draws with now (the first costs ~40 ms: plotly
    loads a module for every trace type the template styles), so that a caller with time
    to spare — waiting for another process — spends it there and not on its first figure."""
    for template in templates:
        _made(template)


def _made(template: str | Mapping[str, Any]) -> bytes:
    """The template as :func:`_template` makes it, kept once per process and default."""
    default = pio.templates.default
    kept = isinstance(default, str | None)  # (a default set as a template object: no key)
    key = (template if isinstance(template, str) else orjson.dumps(template).decode(),
           default if kept else None)
    made = _TEMPLATES.get(key) if kept else None
    if made is None:
        made = _template(template)
        if kept:
            _TEMPLATES[key] = made
    return made


def _template(template: str | Mapping[str, Any]) -> bytes:
    """The template as a new figure holds it once ``update_layout`` set it (validated; a
    dict merged into the default template the figure began with), as the JSON it writes."""
    figure = go.Figure()
    figure.update_layout(template=template)
    return orjson.dumps(figure.to_dict()["layout"]["template"])


# --- downsampling that keeps the data ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Buckets:
    """The equal time buckets of a series: the first index of each non-empty bucket."""

    starts: Index
    column: Index  # each non-empty bucket's number, 0 … count − 1
    t0: float
    width: float  # seconds (0 when every point is its own bucket)

    @property
    def whole(self) -> bool:
        """Whether every point is its own bucket (a short series: nothing is combined)."""
        return self.width == 0


def buckets(times: Sequence[float] | Floats, count: int = BUCKETS) -> Buckets:
    """Cut ``times`` (ascending) into ``count`` equal time buckets (none when it is short)."""
    t = np.asarray(times, dtype=np.float64)
    if len(t) <= count or t[-1] <= t[0]:
        return Buckets(np.arange(len(t), dtype=np.intp), np.arange(len(t), dtype=np.intp),
                       float(t[0]) if len(t) else 0.0, 0.0)
    width = (float(t[-1]) - float(t[0])) / count
    column = np.minimum(((t - t[0]) / width).astype(np.intp), count - 1)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(column)) + 1)).astype(np.intp)
    return Buckets(starts, column[starts], float(t[0]), width)


def minmax(times: Sequence[float] | Floats, values: Sequence[float] | Floats,
           cut: Buckets) -> tuple[Floats, Floats]:
    """Each bucket as its min and max (NaN left out), in the order the bucket moves, at its
    first and last times: every peak and trough of the series is kept."""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if cut.whole:
        return t, v
    ends = np.append(cut.starts[1:], len(v)) - 1
    with np.errstate(invalid="ignore"):
        low = np.fmin.reduceat(v, cut.starts)
        high = np.fmax.reduceat(v, cut.starts)
    down = v[ends] < v[cut.starts]
    xs = np.column_stack((t[cut.starts], t[ends])).ravel()
    ys = np.column_stack((np.where(down, high, low), np.where(down, low, high))).ravel()
    return xs, ys


def last(times: Sequence[float] | Floats, values: Sequence[float] | Floats,
         cut: Buckets) -> tuple[Floats, Floats]:
    """Each bucket as its last value, at its last time (and the first point kept)."""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if cut.whole:
        return t, v
    index = np.append(0, np.append(cut.starts[1:], len(v)) - 1)
    return t[index], v[index]


def means(times: Sequence[float] | Floats, values: Sequence[float] | Floats,
          cut: Buckets) -> tuple[Floats, Floats]:
    """Each bucket as its mean, at its first time (and the last point kept): a stacked
    share keeps its area (the time it was held), however briefly it was held."""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if cut.whole:
        return t, v
    counts = np.diff(np.append(cut.starts, len(v)))
    mean = np.add.reduceat(np.nan_to_num(v), cut.starts) / counts
    return np.append(t[cut.starts], t[-1]), np.append(mean, v[-1])


def sums(values: Sequence[float] | Floats, cut: Buckets) -> Floats:
    """Each bucket's sum (a count stays a count: the sums add up to the series' total)."""
    v = np.asarray(values, dtype=np.float64)
    return v if cut.whole else np.add.reduceat(np.nan_to_num(v), cut.starts)


def centres(times: Sequence[float] | Floats, cut: Buckets) -> Floats:
    """Where each bucket's bar is drawn: its middle (the point itself when not combined)."""
    if cut.whole:
        return np.asarray(times, dtype=np.float64)
    return np.asarray(cut.t0 + (cut.column + 0.5) * cut.width, dtype=np.float64)


# --- axes ----------------------------------------------------------------------------------


def _decimals(span: float) -> int:
    """Decimals that tell apart ticks about a fifth of ``span`` apart."""
    if not math.isfinite(span) or span <= 0:
        return 2
    return int(min(max(-math.floor(math.log10(span / 5.0) + 1e-6), 0), 8))


def percent_format(low: float, high: float) -> str:
    """A d3 tick format for fractions shown as percentages, fitted to [low, high]."""
    return f".{_decimals((high - low) * 100.0)}%"


def number_format(low: float, high: float) -> str:
    """A d3 tick format for amounts of money, fitted to [low, high] (thousands grouped)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return ",.2f"
    span = high - low if high > low else max(abs(high), 1.0) * 0.02
    return f",.{_decimals(span)}f"


def _range(*arrays: Floats | None) -> tuple[float, float]:
    values = [a[np.isfinite(a)] for a in arrays if a is not None and len(a)]
    found = [v for v in values if len(v)]
    if not found:
        return 0.0, 1.0
    return (min(float(v.min()) for v in found), max(float(v.max()) for v in found))


def times(epochs: Sequence[float] | Floats) -> Floats:
    """Epoch seconds as the milliseconds a date axis reads (numbers, not date strings: a
    number travels to the browser as 8 bytes in a typed array, a date string as ~30)."""
    return np.asarray(epochs, dtype=np.float64) * 1000.0


def _dated(figure: go.Figure) -> go.Figure:
    """Every x axis a UTC date axis (the x values are epoch milliseconds)."""
    figure.update_xaxes(type="date")
    return figure


def _at(stamps: Floats, when: Sequence[float], curve: Floats) -> Floats:
    """The curve's value at the last point at or before each time."""
    if not len(curve):
        return np.array([])
    index = np.searchsorted(stamps, np.asarray(when, dtype=np.float64), side="right") - 1
    return np.asarray(curve[np.clip(index, 0, len(curve) - 1)], dtype=np.float64)


# --- the unit value, total assets, flows, fills and drawdown -----------------------------


@dataclass(frozen=True, slots=True)
class Fill:
    """A fill to mark on the unit value."""

    at: float  # epoch seconds
    symbol: str
    side: str  # buy or sell
    text: str  # hover text


@dataclass(frozen=True, slots=True, kw_only=True)
class Curves:
    """One actor's series, as every chart of it needs them (floats, epoch seconds)."""

    times: Floats
    unit: Floats  # fund.performance's unit value
    start: float | None  # the curve's start (the first capital)
    quote: str
    assets: Floats | None = None  # total assets (the NAV); drawn when money came or went
    flows: Sequence[Flow] = ()
    fills: Sequence[Fill] = ()
    benchmark: Floats | None = None
    allocation: Mapping[str, Floats] = field(default_factory=dict)  # fraction of NAV
    symbols: Sequence[str] = ()  # the fund's symbols (their colours)


def nav_figure(c: Curves, height: int = 520) -> go.Figure:
    """The unit value (with buys and sells) and the total assets (with every flow), over the
    unit value's drawdown from its running peak, sharing the time axis."""
    cut = buckets(c.times)
    dd = performance.drawdowns(c.unit, c.start)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                           vertical_spacing=0.04)
    xs, ys = minmax(c.times, c.unit, cut)
    figure.add_trace(go.Scatter(x=times(xs), y=ys, name=UNIT_LABEL, mode="lines",
                                line={"color": colours.UNIT, "width": 1.5}), row=1, col=1)
    shown = [c.unit]
    if c.flows and c.assets is not None:
        xs, ys = minmax(c.times, c.assets, cut)
        figure.add_trace(go.Scatter(x=times(xs), y=ys, name=ASSETS_LABEL, mode="lines",
                                    line={"color": colours.ASSETS, "dash": "dot"}),
                         row=1, col=1)
        shown.append(c.assets)
        for trace in flow_traces(c.flows, c.times, c.assets, c.quote):
            figure.add_trace(trace, row=1, col=1)
    if c.fills and len(c.fills) <= MAX_MARKERS:
        for side, colour, symbol in (("buy", colours.BUY, "triangle-up"),
                                     ("sell", colours.SELL, "triangle-down")):
            marks = [f for f in c.fills if f.side.lower() == side]
            if marks:
                at = [f.at for f in marks]
                figure.add_trace(go.Scatter(
                    x=times(at), y=_at(c.times, at, c.unit), mode="markers", name=side,
                    marker={"color": colour, "symbol": symbol, "size": 9},
                    text=[f.text for f in marks], hoverinfo="text+x"), row=1, col=1)
    xs, ys = minmax(c.times, -dd, cut)
    figure.add_trace(go.Scatter(x=times(xs), y=ys, name="drawdown", fill="tozeroy",
                                mode="lines", line={"color": colours.DRAWDOWN, "width": 1}),
                     row=2, col=1)
    low, high = _range(*shown)
    deepest = float(np.nanmax(dd)) if np.isfinite(dd).any() else 0.0
    figure.update_yaxes(title_text=c.quote, tickformat=number_format(low, high), row=1, col=1)
    figure.update_yaxes(title_text="drawdown", tickformat=percent_format(-deepest, 0.0),
                        row=2, col=1)
    figure.update_layout(height=height, margin=MARGIN, legend={"orientation": "h"},
                         hovermode="closest")
    return _dated(figure)


def flow_traces(flows: Sequence[Flow], stamps: Floats, assets: Floats | None,
                quote: str) -> list[go.Scatter]:
    """One marker trace per kind of flow (subscription, redemption, deposit, withdrawal) on
    the total assets at its time; the hover text says who and how much."""
    traces = []
    curve = assets if assets is not None else np.array([])
    for kind, (colour, symbol) in FLOW_STYLE.items():
        moved = [f for f in flows if f.kind == kind]
        if moved:
            at = [f.at for f in moved]
            y = _at(stamps, at, curve) if len(curve) else np.zeros(len(at))
            traces.append(go.Scatter(
                x=times(at), y=y, mode="markers", name=kind,
                marker={"color": colour, "symbol": symbol, "size": 11, "line": {"width": 2}},
                text=[f.describe(quote) for f in moved], hoverinfo="text+x"))
    return traces


def allocation_figure(c: Curves, cash: Floats | None = None, height: int = 360) -> go.Figure:
    """Share of NAV in each symbol over time (stacked; the mean of each bucket, so a
    position held briefly keeps its area), with cash on top (``cash``, else what the
    symbols leave)."""
    cut = buckets(c.times)
    palette = colours.symbol_colours(c.symbols or list(c.allocation))
    figure = go.Figure()
    held = np.zeros(len(c.times))
    for symbol in c.allocation:
        share = np.nan_to_num(np.asarray(c.allocation[symbol], dtype=np.float64))
        held = held + share
        xs, ys = means(c.times, share, cut)
        figure.add_trace(go.Scatter(x=times(xs), y=ys, name=symbol, stackgroup="one",
                                    mode="lines", line={"width": 0.5, "color": palette[symbol]},
                                    fillcolor=palette[symbol]))
    rest = cash if cash is not None else np.clip(1.0 - held, 0.0, 1.0)
    xs, ys = means(c.times, rest, cut)
    figure.add_trace(go.Scatter(x=times(xs), y=ys, name="cash", stackgroup="one",
                                mode="lines", line={"width": 0.5, "color": colours.CASH},
                                fillcolor=colours.CASH))
    figure.update_yaxes(tickformat=".0%", range=[0, 1])
    figure.update_layout(height=height, margin=MARGIN, legend={"orientation": "h"})
    return _dated(figure)


def benchmark_figure(c: Curves, height: int = 360) -> go.Figure:
    """The unit value against the benchmark (buy and hold, the fund's cash share)."""
    cut = buckets(c.times)
    figure = go.Figure()
    xs, ys = minmax(c.times, c.unit, cut)
    figure.add_trace(go.Scatter(x=times(xs), y=ys, name=f"strategy: {UNIT_LABEL}",
                                mode="lines", line={"color": colours.UNIT}))
    bench = c.benchmark if c.benchmark is not None else np.full(len(c.times), np.nan)
    xs, ys = minmax(c.times, bench, cut)
    figure.add_trace(go.Scatter(x=times(xs), y=ys, name=BENCHMARK_LABEL, mode="lines",
                                line={"color": colours.BENCHMARK, "dash": "dot"}))
    low, high = _range(c.unit, bench)
    figure.update_yaxes(title_text=c.quote, tickformat=number_format(low, high))
    figure.update_layout(height=height, margin=MARGIN, legend={"orientation": "h"})
    return _dated(figure)


# --- sentiment and news coverage ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Sentiment:
    """Per-keyword mentions and scores, and the news items, one row per observation."""

    times: Floats
    mentions: Mapping[str, Floats]
    scores: Mapping[str, Floats]  # the sum of the scores of the sentences that mention it
    sentences: Mapping[str, Floats]  # sentences that mention it
    items: Floats  # news items the observation read (NaN when not recorded)

    def coverage(self) -> tuple[int, int]:
        """(days with at least one news item, days from the first observation to the last),
        by UTC calendar day."""
        if not len(self.times):
            return 0, 0
        days = (np.asarray(self.times) // DAY).astype(np.int64)
        covered = len(np.unique(days[np.nan_to_num(self.items) > 0]))
        return covered, int(days[-1] - days[0]) + 1

    def total_mentions(self) -> dict[str, int]:
        """Mentions of each keyword over every observation."""
        return {k: int(np.nansum(v)) for k, v in self.mentions.items()}


def sentiment_caption(s: Sentiment) -> str:
    """What the sentiment chart shows: totals, the bucketing, and where news exists."""
    totals = s.total_mentions()
    cut = buckets(s.times, BAR_BUCKETS)
    text = (f"{display.count(len(s.times))} observations; mentions: "
            + (", ".join(f"{k} {display.count(v)}" for k, v in sorted(totals.items()))
               or "none") + ".")
    if not cut.whole:
        text += (f" Bars sum the mentions of each {display.period(cut.width / 365.25 / DAY)}"
                 " bucket" if cut.width >= DAY else
                 f" Bars sum the mentions of each {cut.width / 3600:.2g}-hour bucket")
        text += " (every mention counted); the mean is over the bucket's sentences."
    if np.isfinite(s.items).any():
        covered, days = s.coverage()
        read = int(np.nansum(s.items))
        with_news = int(np.count_nonzero(np.nan_to_num(s.items) > 0))
        text += (f" News exists on {covered:,} of {days:,} days (UTC): "
                 f"{display.count(read)} items in {display.count(with_news)} of "
                 f"{display.count(len(s.times))} observations; where the band is empty, "
                 "no news was read, so no mention could be.")
    return text


def sentiment_figure(s: Sentiment, height: int = 560) -> go.Figure | None:
    """Mentions per keyword (stacked bars, summed per bucket: every mention kept), the mean
    sentiment of the sentences that mention each (per bucket: their total score over their
    count) and a news coverage band (news items per bucket): None without observations."""
    if not len(s.times):
        return None
    cut = buckets(s.times, BAR_BUCKETS)
    x = times(centres(s.times, cut))
    width = cut.width * 1000.0 if not cut.whole else None
    palette = colours.symbol_colours(s.mentions)
    figure = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                           row_heights=[0.45, 0.4, 0.15],
                           subplot_titles=("mentions" + ("" if cut.whole else " per bucket"),
                                           "mean sentiment of the sentences that mention it",
                                           "news items (coverage)"))
    for name in sorted(s.mentions):
        colour = palette[name]
        figure.add_trace(go.Bar(x=x, y=sums(s.mentions[name], cut), name=f"{name} mentions",
                                marker={"color": colour, "line": {"width": 0}}, width=width,
                                legendgroup=name), row=1, col=1)
        count = sums(s.sentences.get(name, s.mentions[name]), cut)
        total = sums(s.scores.get(name, np.zeros(len(s.times))), cut)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / count, np.nan)
        figure.add_trace(go.Scatter(x=x, y=mean, name=f"{name} sentiment", legendgroup=name,
                                    mode="markers+lines", connectgaps=True,
                                    marker={"color": colour, "size": 5},
                                    line={"color": colour, "width": 1}), row=2, col=1)
    figure.add_trace(go.Bar(x=x, y=sums(s.items, cut), name="news items", width=width,
                            marker={"color": colours.NEWS, "line": {"width": 0}}),
                     row=3, col=1)
    figure.update_yaxes(range=[-1, 1], tickformat=".1f", row=2, col=1)
    figure.update_layout(height=height, barmode="stack", bargap=0, margin=MARGIN,
                         legend={"orientation": "h"})
    return _dated(figure)


# --- other charts -----------------------------------------------------------------------------


def series_figure(stamps: Sequence[float], values: Sequence[float], *, name: str,
                  marks: Sequence[tuple[float, str, str]] = (), height: int = 300) -> go.Figure:
    """One curve (min and max per bucket when long) with vertical ``marks`` (time, kind,
    text; a kind's colour from fund.colours.MARKS) drawn as dashed lines, one legend entry
    a kind."""
    t = np.asarray(stamps, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    xs, ys = minmax(t, v, buckets(t))
    figure = go.Figure(go.Scatter(x=times(xs), y=ys, name=name, mode="lines",
                                  line={"color": colours.UNIT}))
    low, high = _range(v)
    for kind in dict.fromkeys(k for _, k, _ in marks):
        at = [m for m in marks if m[1] == kind]
        # a vertical line per mark: x, x, gap (None), so one trace holds them all
        x: list[float | None] = []
        y: list[float | None] = []
        for when, _, _ in at:
            moment = float(when) * 1000.0
            x += [moment, moment, None]
            y += [low, high, None]
        figure.add_trace(go.Scatter(
            x=x, y=y, mode="lines", name=kind, hoverinfo="text",
            text=[text for _, _, text in at for _ in range(3)],
            line={"color": colours.MARKS.get(kind, colours.ASSETS), "dash": "dash",
                  "width": 1}))
    figure.update_yaxes(tickformat=number_format(low, high))
    figure.update_layout(height=height, margin=MARGIN, legend={"orientation": "h"})
    return _dated(figure)


def runs_figure(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                height: int = 380) -> go.Figure:
    """Several runs' curves on one chart (min and max per bucket when long)."""
    figure = go.Figure()
    for name, (stamps, values) in curves.items():
        t = np.asarray(stamps, dtype=np.float64)
        xs, ys = minmax(t, values, buckets(t))
        figure.add_trace(go.Scatter(x=times(xs), y=ys, name=name, mode="lines"))
    figure.update_layout(height=height, margin=MARGIN)
    return _dated(figure)


def fill_text(side: str, amount: display.Number, symbol: str, price: display.Number,
              entry: int | None = None, market: Market | None = None) -> str:
    """A fill's hover text: 'buy 0.5 BTC/USDT @ 42,000.00 (entry 12)'."""
    text = (f"{side} {display.amount(amount, market)} {symbol} @ "
            f"{display.price(price, market)}")
    return text if entry is None else f"{text} (entry {entry})"
