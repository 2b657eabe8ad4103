"""Plotly figures of a snapshot: unit value, total assets and drawdown with trades and
flows, allocation, the benchmark, sentiment with news coverage.

The figures are fund.figures' — the same functions draw the HTML report's — fed with the
snapshot's series. Performance is drawn on the unit value (NAV per share; fund.performance),
so a subscription or a redemption is not a jump; the total assets (the NAV) are drawn beside
it, and every flow is marked. Long series are cut into time buckets that keep their data
(min and max of a curve, the sum of a count; see fund.figures), and every figure is computed
on the full series first.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go  # type: ignore[import-untyped]

from fund import figures, performance
from fund.monitor.snapshot import ActorSnapshot

Floats = npt.NDArray[np.float64]
UNIT_LABEL = figures.UNIT_LABEL
ASSETS_LABEL = figures.ASSETS_LABEL


def _floats(values: array[float] | Sequence[float]) -> Floats:
    """A copy (not a view: another thread may append to the snapshot's arrays)."""
    if isinstance(values, array):
        return np.frombuffer(values.tobytes(), dtype=np.float64)
    return np.asarray(values, dtype=np.float64)


def curves(snap: ActorSnapshot) -> figures.Curves:
    """The snapshot's series as fund.figures draws them."""
    points = snap.points()
    nav = _floats(points.nav)
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(nav > 0, nav, np.nan)
        allocation = {s: _floats(points.values[s]) / safe for s in snap.symbols
                      if s in points.values}
    fills = [figures.Fill(at=f[1], symbol=f[2], side=f[3],
                          text=figures.fill_text(f[3], f[4], f[2], f[5], f[0],
                                                 snap.markets.get(f[2])))
             for f in snap.fills]
    return figures.Curves(times=_floats(points.times), unit=_floats(points.unit),
                          start=snap.units.start, quote=snap.quote, assets=nav,
                          flows=snap.units.flows, fills=fills,
                          benchmark=buy_and_hold(snap), allocation=allocation,
                          symbols=snap.symbols)


def nav_figure(snap: ActorSnapshot, drawn: figures.Curves | None = None) -> go.Figure:
    """Unit value (with buy and sell markers) and total assets (with the flows marked) over
    the unit value's drawdown, sharing the time axis."""
    return figures.nav_figure(drawn or curves(snap))


def allocation_figure(snap: ActorSnapshot, drawn: figures.Curves | None = None) -> go.Figure:
    """Share of NAV in each asset and in cash over time (stacked)."""
    points = snap.points()
    nav = _floats(points.nav)
    with np.errstate(invalid="ignore", divide="ignore"):
        cash = _floats(points.cash) / np.where(nav > 0, nav, np.nan)
    return figures.allocation_figure(drawn or curves(snap), cash=cash)


def buy_and_hold(snap: ActorSnapshot) -> Floats:
    """The benchmark of fund.performance: equal-weight buy-and-hold of the actor's assets
    from its first priced wake, keeping the fund's own mean cash share, the same start."""
    points = snap.points()
    priced = [_floats(points.prices[s]) for s in snap.symbols if s in points.prices]
    start = snap.units.start
    if not priced or start is None:
        return np.full(len(points.times), np.nan)
    cash = performance.cash_share(_floats(points.cash), _floats(points.nav))
    return performance.buy_and_hold(np.vstack(priced), start, cash)


def benchmark_figure(snap: ActorSnapshot, drawn: figures.Curves | None = None) -> go.Figure:
    """The strategy's unit value against the benchmark (buy-and-hold, same cash share)."""
    return figures.benchmark_figure(drawn or curves(snap))


def sentiment(snap: ActorSnapshot) -> figures.Sentiment:
    """The snapshot's sentiment observations as fund.figures draws them."""
    data = snap.sentiment
    return figures.Sentiment(
        times=_floats(data.times),
        mentions={k: _floats(v) for k, v in data.mentions.items()},
        scores={k: _floats(v) for k, v in data.scores.items()},
        sentences={k: _floats(v) for k, v in data.sentences.items()},
        items=_floats(data.items) if len(data.items) == len(data.times)
        else np.full(len(data.times), np.nan))


def sentiment_figure(snap: ActorSnapshot) -> go.Figure | None:
    """Mentions per keyword (bars, summed per bucket), mean sentiment and the news items
    read (coverage), or None without sentiment."""
    return figures.sentiment_figure(sentiment(snap))


def runs_figure(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> go.Figure:
    """Several runs' unit-value curves on one chart (for comparing backtests)."""
    return figures.runs_figure(curves)
