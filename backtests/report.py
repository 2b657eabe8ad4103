"""Self-contained HTML report of a backtest: the summary, then per actor the unit value
with total assets, flows and fills over its drawdown, the benchmark, the allocation, the
sentiment with news coverage, the flows and the fills.

The charts are fund.figures' plotly figures — the ones the UI's Charts page draws — so
there is one place for each chart; long series keep their data there (min and max per time
bucket, sums for counts). The page is ONE file that opens offline: plotly.js (about 4.6 MB)
is embedded once, inline, in the head; no CDN, no link, no network. Numbers are shown by
fund.display; colours come from fund.colours. Output is deterministic: the same input
gives the same bytes.

Sections: an actor's part of the page is the HTML of each function of ``SECTIONS`` in
turn (each takes the actor's :class:`ReportSeries` and the :class:`Page` that numbers and
embeds its figures); ``write_report(..., sections=...)`` adds more after them (a trades
section, say) without touching this file.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

from fund import display, figures
from fund.markets import Market
from fund.performance import Flow, compute_metrics, drawdowns

MAX_FILL_ROWS = 200
MAX_FLOW_ROWS = 200
DAY = 86_400
PAGE_CSS = (
    "body{font:14px/1.4 system-ui,sans-serif;color:#222;max-width:1000px;margin:1em auto;"
    "padding:0 1em}table{border-collapse:collapse;font-size:13px}"
    "th,td{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}td.n{text-align:right}"
    "figure{margin:1em 0}figcaption{font-size:12px;color:#555}.note{font-size:12px;color:#555}"
)
"""The report's styles, for other self-contained pages drawn the same way (the audit)."""
TEMPLATE = {"layout": {
    "font": {"family": "system-ui, sans-serif", "size": 12, "color": "#222"},
    "paper_bgcolor": "white", "plot_bgcolor": "white",
    "xaxis": {"gridcolor": "#eee", "linecolor": "#999", "showline": True, "zeroline": False},
    "yaxis": {"gridcolor": "#eee", "linecolor": "#999", "showline": True,
              "zerolinecolor": "#bbb"},
    "hovermode": "closest"}}
"""The report's plotly template (merged into plotly's default template, as a figure's
``update_layout(template=...)`` does)."""
_CONFIG = {"displaylogo": False, "responsive": True,
           "modeBarButtonsToRemove": ["sendDataToCloud"]}

Fill = tuple[int, str, str, str, str]
"""A fill: (epoch seconds, symbol, side, amount, price)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportSeries:
    """Time series of one actor's backtest, for charts."""

    actor_id: str
    times: Sequence[int]
    nav: Sequence[float]  # the unit value (fund.performance)
    allocation: Mapping[str, Sequence[float]]  # fraction of NAV per symbol
    benchmark: Sequence[float] | None
    fills: Sequence[Fill]
    quote: str
    money: Sequence[float] = ()  # total assets (the NAV) at each point, when it differs
    flows: Sequence[Flow] = ()
    initial: float | None = None  # the curve's start (the first capital); else its first point
    markets: Mapping[str, Market] = field(default_factory=dict)
    sentiment: figures.Sentiment | None = None  # the sentiment observations, when any


class Page:
    """Numbers the figures of one page and embeds them; plotly.js goes in once, inline."""

    def __init__(self) -> None:
        self.figures = 0

    def figure(self, figure: go.Figure, label: str, caption: str) -> str:
        """A ``<figure>`` holding the chart (its data inline) and its caption."""
        self.figures += 1
        chart = figures.html_div(figure, TEMPLATE, div_id=f"chart-{self.figures}",
                                 config=_CONFIG)
        return (f"<figure class=\"chart\" aria-label=\"{_esc(label)}\">{chart}"
                f"<figcaption>{_esc(caption)}</figcaption></figure>\n")

    def document(self, title: str, body: str, css: str = PAGE_CSS) -> str:
        """The whole page: plotly.js inline in the head (only when there is a chart)."""
        return "".join(self._parts(title, body, css))

    def write(self, path: Path, title: str, body: str, css: str = PAGE_CSS) -> None:
        """Write :meth:`document` to ``path`` (UTF-8) a part at a time: the page and
        plotly.js are not copied into one more string of their size."""
        with path.open("w", encoding="utf-8", newline="\n") as out:
            out.writelines(self._parts(title, body, css))

    def _parts(self, title: str, body: str, css: str) -> Iterator[str]:
        yield ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>"
               f"<title>{_esc(title)}</title><style>{css}</style>")
        if self.figures:
            yield "<script type=\"text/javascript\">"
            yield get_plotlyjs()
            yield "</script>"
        yield f"</head>\n<body><h1>{_esc(title)}</h1>\n"
        yield body
        yield "</body></html>\n"


Section = Callable[[ReportSeries, Page], str]
"""One part of an actor's section of the report: its HTML ('' to leave it out)."""


def write_report(path: Path, title: str, summary: Mapping[str, object],
                 series: Sequence[ReportSeries], *, sections: Sequence[Section] = ()) -> None:
    """Write the self-contained HTML report: the summary table, then each actor's section
    (``SECTIONS``, then ``sections``)."""
    page = Page()
    parts = [_summary_table(summary)]
    for s in series:
        parts.append(f"<section>\n<h2>{_esc(s.actor_id)}</h2>\n")
        parts.extend(part(s, page) for part in (*SECTIONS, *sections))
        parts.append("</section>\n")
    page.write(path, title, "\n".join(parts))


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _summary_table(summary: Mapping[str, object]) -> str:
    rows = "".join(f"<tr><th>{_esc(key)}</th><td>{_esc(_format_value(value))}</td></tr>\n"
                   for key, value in summary.items())
    return f"<table class=\"summary\">\n{rows}</table>"


def _format_value(value: object) -> str:
    return display.significant(value, 6) if isinstance(value, float) else str(value)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _utc(t: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime(fmt)


def _start(s: ReportSeries) -> float:
    return s.initial if s.initial else float(s.nav[0])


def curves(s: ReportSeries) -> figures.Curves:
    """The actor's series as fund.figures draws them."""
    money = np.asarray(s.money, dtype=np.float64) if len(s.money) == len(s.times) else None
    fills = [figures.Fill(at=float(t), symbol=sym, side=side,
                          text=figures.fill_text(side, amount, sym, price,
                                                 market=s.markets.get(sym)))
             for t, sym, side, amount, price in s.fills]
    return figures.Curves(
        times=np.asarray(s.times, dtype=np.float64), unit=np.asarray(s.nav, dtype=np.float64),
        start=_start(s), quote=s.quote, assets=money, flows=s.flows, fills=fills,
        benchmark=None if not s.benchmark else np.asarray(s.benchmark, dtype=np.float64),
        allocation={k: np.asarray(v, dtype=np.float64) for k, v in s.allocation.items()},
        symbols=list(s.markets) or list(s.allocation))


# --- the sections --------------------------------------------------------------------------


def performance_section(s: ReportSeries, page: Page) -> str:
    """The unit value with total assets, flows and fills over its drawdown."""
    if not len(s.times):
        return "<p class=\"note\">No data points.</p>\n"
    drawn = curves(s)
    caption = f"{_equity_caption(s, drawn)} {_drawdown_caption(s)}"
    return page.figure(figures.nav_figure(drawn), "equity curve", caption)


def _equity_caption(s: ReportSeries, drawn: figures.Curves) -> str:
    start = _start(s)
    found = compute_metrics(s.times, s.nav, start)
    text = (f"Unit value in {s.quote} (NAV per share × the first capital's units: "
            f"{display.money(start)} held from the start, time-weighted): "
            f"{display.money(start)} → {display.money(s.nav[-1])}, return "
            f"{display.signed_percent(found.total_return)} over "
            f"{display.period(found.years)}, volatility "
            f"{display.percent(found.volatility)} a year; {_count(len(s.times), 'point')}"
            + ("" if len(s.times) <= figures.BUCKETS else
               f", drawn as the min and max of each of {figures.BUCKETS:,} time buckets")
            + ".")
    if s.flows and drawn.assets is not None:
        text += (f" Total assets end at {display.money(drawn.assets[-1], s.quote)};"
                 f" {_count(len(s.flows), 'flow')} marked (money in or out is not return).")
    if s.fills and len(s.fills) <= figures.MAX_MARKERS:
        text += f" {_count(len(s.fills), 'fill')} marked (▲ buy, ▼ sell)."
    elif s.fills:
        text += f" {len(s.fills):,} fills not marked (more than {figures.MAX_MARKERS:,})."
    return text


def _drawdown_caption(s: ReportSeries) -> str:
    fallen = drawdowns(s.nav, _start(s))
    worst = float(np.nanmax(fallen)) if np.isfinite(fallen).any() else 0.0
    text = ("Below: the drawdown of the unit value from its running peak (the start "
            f"included), max drawdown {display.percent(worst)}")
    if worst > 0:
        span = float(s.times[-1]) - float(s.times[0])
        when = float(s.times[int(np.nanargmax(fallen))])
        text += f" on {_utc(when, '%Y-%m-%d %H:%M' if span < 3 * DAY else '%Y-%m-%d')}"
    return text + "."


def benchmark_section(s: ReportSeries, page: Page) -> str:
    """The unit value against buy and hold (the fund's cash share kept in cash)."""
    if not len(s.times) or not s.benchmark:
        return ""
    start = _start(s)
    end = float(s.benchmark[-1])
    caption = ("Against buy and hold: equal weight of the same assets from the first wake, "
               "the fund's own mean cash share kept in cash, same start, no fees; it ends at "
               f"{display.money(end)} ({display.signed_percent(end / start - 1.0)}).")
    return page.figure(figures.benchmark_figure(curves(s), height=320), "benchmark", caption)


def allocation_section(s: ReportSeries, page: Page) -> str:
    """The share of NAV in each symbol (stacked), cash on top."""
    if not len(s.times):
        return ""
    caption = ("Allocation as % of NAV per symbol (stacked; the mean of each time bucket "
               "when long, so a position held briefly keeps its area), cash on top.")
    return page.figure(figures.allocation_figure(curves(s), height=320), "allocation",
                       caption)


def sentiment_section(s: ReportSeries, page: Page) -> str:
    """Mentions per keyword, mean sentiment, and where news exists."""
    if s.sentiment is None:
        return ""
    chart = figures.sentiment_figure(s.sentiment)
    if chart is None:
        return ""
    return "<h3>Sentiment</h3>\n" + page.figure(chart, "sentiment",
                                                 figures.sentiment_caption(s.sentiment))


def flows_section(s: ReportSeries, page: Page) -> str:
    """Every subscription, redemption, deposit and withdrawal after the first capital."""
    if not s.flows:
        return ""
    rows = "".join(f"<tr class=\"flow {_esc(f.kind)}\"><td>{_utc(f.at)}</td>"
                   f"<td>{_esc(f.kind)}</td><td class=\"n\">{_esc(display.money(f.amount))}"
                   f"</td><td>{_esc(f.investor or '—')}</td></tr>\n"
                   for f in s.flows[:MAX_FLOW_ROWS])
    note = ""
    if len(s.flows) > MAX_FLOW_ROWS:
        note = (f"<p class=\"note\">First {MAX_FLOW_ROWS} of {len(s.flows):,} flows;"
                f" {len(s.flows) - MAX_FLOW_ROWS:,} left out.</p>\n")
    head = (f"<tr><th>time (UTC)</th><th>kind</th><th>amount ({_esc(s.quote)})</th>"
            "<th>investor</th></tr>")
    return (f"<h3>Flows</h3>\n<p class=\"note\">Money in or out (marked on the chart): "
            f"not return.</p>\n<table class=\"flows\">{head}\n{rows}</table>\n{note}")


def fills_section(s: ReportSeries, page: Page) -> str:
    """The fills (the first ``MAX_FILL_ROWS``)."""
    if not s.fills:
        return "<h3>Fills</h3><p class=\"note\">No fills.</p>\n"
    known = s.markets
    rows = "".join(f"<tr><td>{_utc(float(t), '%Y-%m-%d %H:%M:%S')}</td><td>{_esc(sym)}</td>"
                   f"<td>{_esc(side)}</td><td class=\"n\">"
                   f"{_esc(display.amount(amount, known.get(sym)))}</td><td class=\"n\">"
                   f"{_esc(display.price(price, known.get(sym)))}</td></tr>\n"
                   for t, sym, side, amount, price in s.fills[:MAX_FILL_ROWS])
    head = "<tr><th>time (UTC)</th><th>symbol</th><th>side</th><th>amount</th><th>price</th></tr>"
    note = ""
    if len(s.fills) > MAX_FILL_ROWS:
        note = (f"<p class=\"note\">First {MAX_FILL_ROWS} of {len(s.fills):,} fills;"
                f" {len(s.fills) - MAX_FILL_ROWS:,} left out.</p>\n")
    return f"<h3>Fills</h3>\n<table class=\"fills\">{head}\n{rows}</table>\n{note}"


SECTIONS: tuple[Section, ...] = (performance_section, benchmark_section, allocation_section,
                                 sentiment_section, flows_section, fills_section)
"""An actor's section of the report, in order (a new section goes here, or is passed to
``write_report(sections=...)``)."""
