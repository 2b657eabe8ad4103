"""Plotly figures of a snapshot: NAV and drawdown with trades, allocation, sentiment.

Long series are thinned to at most ``MAX_POINTS`` points for drawing (every figure is
computed on the full series first, so a drawdown's depth is never lost to thinning).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from fund.monitor.snapshot import ActorSnapshot

MAX_POINTS = 4_000
Floats = npt.NDArray[np.float64]


def _times(epochs: Sequence[float]) -> npt.NDArray[np.datetime64]:
    return (np.asarray(epochs, dtype=np.float64) * 1000).astype("datetime64[ms]")


def thin_index(n: int, keep: Sequence[int] = (), max_points: int = MAX_POINTS) -> npt.NDArray[
        np.int64]:
    """Indices of at most about ``max_points`` evenly spread points, plus ``keep``."""
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    picked = np.linspace(0, n - 1, max_points).astype(np.int64)
    return np.unique(np.concatenate([picked, np.asarray(keep, dtype=np.int64)]))


def drawdown(nav: Floats) -> Floats:
    """Fraction below the running peak at every point."""
    if not len(nav):
        return nav
    peak = np.maximum.accumulate(nav)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, 1 - nav / peak, 0.0)


def nav_figure(snap: ActorSnapshot) -> go.Figure:
    """NAV (with buy and sell markers) over drawdown, sharing the time axis."""
    points = snap.points()
    nav = np.asarray(points.nav, dtype=np.float64)
    dd = drawdown(nav)
    keep = [int(np.argmax(dd))] if len(dd) else []
    index = thin_index(len(nav), keep)
    times = _times(points.times)[index]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                           vertical_spacing=0.04)
    figure.add_trace(go.Scatter(x=times, y=nav[index], name=f"NAV ({snap.quote})",
                                line={"color": "#1f77b4"}), row=1, col=1)
    for side, colour, symbol in (("buy", "#2ca02c", "triangle-up"),
                                 ("sell", "#d62728", "triangle-down")):
        marks = [f for f in snap.fills if f[3] == side]
        if marks:
            at = np.searchsorted(np.asarray(points.times), [f[1] for f in marks], side="right") - 1
            y = nav[np.clip(at, 0, max(len(nav) - 1, 0))] if len(nav) else np.array([])
            figure.add_trace(go.Scatter(
                x=_times([f[1] for f in marks]), y=y, mode="markers", name=side,
                marker={"color": colour, "symbol": symbol, "size": 9},
                text=[f"{f[3]} {f[4]:.8g} {f[2]} @ {f[5]:.8g} (entry {f[0]})" for f in marks],
                hoverinfo="text+x"), row=1, col=1)
    figure.add_trace(go.Scatter(x=times, y=-dd[index], name="drawdown", fill="tozeroy",
                                line={"color": "#d62728"}), row=2, col=1)
    figure.update_yaxes(title_text=snap.quote, row=1, col=1)
    figure.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    figure.update_layout(height=520, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         legend={"orientation": "h"})
    return figure


def allocation_figure(snap: ActorSnapshot) -> go.Figure:
    """Share of NAV in cash and in each asset over time (stacked)."""
    points = snap.points()
    nav = np.asarray(points.nav, dtype=np.float64)
    index = thin_index(len(nav))
    times = _times(points.times)[index]
    safe = np.where(nav > 0, nav, np.nan)[index]
    figure = go.Figure()
    layers = [("cash", np.asarray(points.cash, dtype=np.float64)[index])]
    layers += [(s, np.asarray(points.values[s], dtype=np.float64)[index])
               for s in snap.symbols if s in points.values]
    for name, values in layers:
        figure.add_trace(go.Scatter(x=times, y=values / safe, name=name, stackgroup="one",
                                    mode="lines"))
    figure.update_yaxes(tickformat=".0%", range=[0, 1])
    figure.update_layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure


def buy_and_hold(snap: ActorSnapshot) -> Floats:
    """Equal-weight buy-and-hold of the actor's assets from its first priced wake, with the
    same starting NAV (no fees): what the money would have done without the strategy."""
    points = snap.points()
    nav = np.asarray(points.nav, dtype=np.float64)
    priced = [np.asarray(points.prices[s], dtype=np.float64) for s in snap.symbols
              if s in points.prices]
    if not len(nav) or not priced:
        return np.full(len(nav), np.nan)
    prices = np.vstack(priced)
    ok = np.all(np.isfinite(prices) & (prices > 0), axis=0)
    if not ok.any():
        return np.full(len(nav), np.nan)
    first = int(np.argmax(ok))
    units = nav[first] / len(priced) / prices[:, first]
    held = np.where(np.isfinite(prices), prices, 0.0) * units[:, None]
    result = held.sum(axis=0)
    result[:first] = np.nan
    return np.asarray(result, dtype=np.float64)


def benchmark_figure(snap: ActorSnapshot) -> go.Figure:
    """The strategy's NAV against equal-weight buy-and-hold of its assets."""
    points = snap.points()
    nav = np.asarray(points.nav, dtype=np.float64)
    hold = buy_and_hold(snap)
    index = thin_index(len(nav))
    times = _times(points.times)[index]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=times, y=nav[index], name="strategy"))
    figure.add_trace(go.Scatter(x=times, y=hold[index], name="buy and hold (equal weight)",
                                line={"dash": "dot"}))
    figure.update_layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         yaxis_title=snap.quote)
    return figure


def sentiment_figure(snap: ActorSnapshot) -> go.Figure | None:
    """Mentions per keyword (bars) and mean sentiment (lines), or None without sentiment."""
    data = snap.sentiment
    if not len(data.times):
        return None
    index = thin_index(len(data.times))
    times = _times(data.times)[index]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                           subplot_titles=("mentions per observation", "mean sentiment"))
    for name in sorted(data.mentions):
        mentions = np.asarray(data.mentions[name], dtype=np.float64)
        figure.add_trace(go.Bar(x=times, y=mentions[index], name=f"{name} mentions"),
                         row=1, col=1)
        mean = np.asarray(data.mean[name], dtype=np.float64)
        shown = np.where(mentions > 0, mean, np.nan)[index]
        figure.add_trace(go.Scatter(x=times, y=shown, name=f"{name} sentiment",
                                    mode="markers+lines", connectgaps=True), row=2, col=1)
    figure.update_layout(height=520, barmode="stack", margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure


def runs_figure(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> go.Figure:
    """Several runs' NAV curves on one chart (for comparing backtests)."""
    figure = go.Figure()
    for name, (times, nav) in curves.items():
        index = thin_index(len(nav))
        figure.add_trace(go.Scatter(x=_times(times)[index],
                                    y=np.asarray(nav, dtype=np.float64)[index], name=name))
    figure.update_layout(height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure
