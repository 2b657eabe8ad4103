"""Backtests: open a finished run (its summary and journal), first the run of the journal the
UI was started on; compare two side by side, each rebased to 100 at its start over the days
elapsed since (so runs of different periods share one axis), warned of when their quote
currencies or periods differ."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped]
import streamlit as st

from fund import display
from fund.canonical import parse_ts
from fund.journal import JournalError, open_journal
from fund.monitor import charts
from fund.monitor.runs import Run, compare, differences, find_runs, identity, of_journal
from fund.monitor.runs import quote as _quote
from fund.monitor.store import snapshot
from fund.monitor.views import common

DAY = 86_400.0
MAX_POINTS = 4_000


def _table(runs: list[Run]) -> pd.DataFrame:
    return pd.DataFrame([{
        "run": r.name, "final NAV": common.money(r.summary.get("final_nav"), _quote(r)),
        "return": common.percent(r.summary.get("total_return")),
        "max drawdown": common.percent(r.summary.get("max_drawdown")),
        "volatility": common.percent(r.summary.get("volatility")),
        "fills": r.summary.get("fills"), "wakes": r.summary.get("wakes"),
        "from": r.summary.get("first_wake"), "to": r.summary.get("end"),
        "head": str(r.summary.get("head_hash", ""))[:16],
    } for r in runs])


def _curves(run: Run) -> dict[str, tuple[list[float], list[float]]]:
    """Each actor's end-of-wake unit value in the run's journal (empty if it has none)."""
    if run.journal is None:
        return {}
    try:
        with open_journal(str(run.journal), must_exist=True) as store:
            out = {}
            for actor in common.actors(store):
                points = snapshot(store, actor).points()
                out[f"{run.name} · {actor}"] = (list(points.times), list(points.unit))
            return out
    except JournalError as exc:
        st.warning(f"{run.name}: {exc}")
        return {}


def rebased(run: Run) -> dict[str, tuple[list[float], list[float]]]:
    """Each actor's unit value in the run's journal, rebased to 100 at its start (its first
    capital), against the days elapsed since its start (empty if the run has no journal)."""
    if run.journal is None:
        return {}
    actors = run.summary.get("actors") or {}
    try:
        with open_journal(str(run.journal), must_exist=True) as store:
            out = {}
            for actor in common.actors(store):
                snap = snapshot(store, actor)
                points = snap.points()
                times, unit = list(points.times), list(points.unit)
                if not times:
                    continue
                start = parse_ts(snap.started).timestamp() if snap.started else times[0]
                initial = (actors.get(actor) or {}).get("initial_cash") \
                    if isinstance(actors.get(actor), dict) else None
                base = float(initial) if initial else unit[0]
                if not base:
                    continue
                days = [0.0, *((t - start) / DAY for t in times)]
                values = [100.0, *(100.0 * u / base for u in unit)]
                out[f"{run.name} · {actor}"] = _thinned(days, values)
            return out
    except JournalError as exc:
        st.warning(f"{run.name}: {exc}")
        return {}


def _thinned(x: list[float], y: list[float]) -> tuple[list[float], list[float]]:
    """At most about MAX_POINTS points: per bucket its first, lowest, highest and last
    point (a drawdown or a peak is never dropped)."""
    if len(x) <= MAX_POINTS:
        return x, y
    keep: set[int] = {0, len(x) - 1}
    size = max(len(x) * 4 // MAX_POINTS, 1)
    for start in range(0, len(x), size):
        bucket = range(start, min(start + size, len(x)))
        keep.update((bucket[0], bucket[-1], min(bucket, key=y.__getitem__),
                     max(bucket, key=y.__getitem__)))
    order = sorted(keep)
    return [x[i] for i in order], [y[i] for i in order]


def rebased_figure(curves: dict[str, tuple[list[float], list[float]]]) -> go.Figure:
    """Runs' rebased curves on one elapsed-time axis."""
    figure = go.Figure()
    for name, (days, values) in curves.items():
        figure.add_trace(go.Scatter(
            x=days, y=values, name=name, mode="lines",
            hovertemplate="day %{x:.2f}: %{y:.2f}<extra>" + name + "</extra>"))
    figure.add_hline(y=100, line={"width": 1, "dash": "dot", "color": "#888"})
    figure.update_layout(height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         xaxis_title="days since the run's start",
                         yaxis_title="unit value, 100 at the start",
                         legend={"orientation": "h", "y": -0.25})
    figure.update_yaxes(tickformat=".1f")
    return figure


def render(settings: common.Settings) -> None:
    """The backtests page."""
    st.title("Backtests")
    runs, problems = find_runs(settings.runs)
    for problem in problems:
        st.warning(problem)
    if not runs:
        st.info(f"No backtest runs under {settings.runs} (each is a directory with "
                "summary.json, written by `fund backtest --out DIR`).")
        return
    st.dataframe(_table(runs), hide_index=True, width="stretch")
    names = [r.name for r in runs]
    current = of_journal(runs, settings.journal)
    if current is None:
        st.info(f"No run under {settings.runs} is of the journal the UI was started on"
                + (f" ({identity(settings.journal)})" if settings.journal else "")
                + ": pick one to open it.")
    else:
        st.caption(f"Opened: {current.name}, the run of the journal the UI was started on.")
    chosen = st.multiselect("Open one run, or pick two to compare", names,
                            default=[current.name] if current else [], max_selections=2)
    picked = [next(r for r in runs if r.name == name) for name in chosen]
    if len(picked) == 1:
        run = picked[0]
        st.subheader(run.name)
        summary = run.summary
        cols = st.columns(4)
        cols[0].metric(f"Final NAV ({_quote(run)})".replace(" ()", ""),
                       common.money(summary.get("final_nav")))
        cols[1].metric("Return (time-weighted)", common.percent(summary.get("total_return")))
        cols[2].metric("Max drawdown", common.percent(summary.get("max_drawdown")))
        cols[3].metric("Volatility (annualised)", common.percent(summary.get("volatility")))
        more = st.columns(4)
        more[0].metric("Sharpe (annualised)", display.ratio(summary.get("sharpe")))
        more[1].metric("Annualised return", display.annualised(
            summary.get("annualized_return"), float(summary.get("period_years") or 1.0)))
        more[2].metric("Buy and hold", common.percent(summary.get("benchmark_return")))
        more[3].metric("Flows", display.count(summary.get("flows")))
        st.json(run.summary, expanded=False)
        curves = _curves(run)
        if curves:
            st.plotly_chart(charts.runs_figure(curves), key="run-nav")
        if run.journal is not None:
            st.caption(f"Journal: `{run.journal}` — open it with `fund ui {run.journal}` "
                       "for its decisions and entries.")
    elif len(picked) == 2:
        left, right = picked
        st.subheader(f"{left.name} against {right.name}")
        problems = differences(left, right)
        if problems:
            st.warning("Compare with care: " + "; ".join(problems) + ". The chart shows "
                       "each run's unit value rebased to 100 at its start, over the days "
                       "since it started.", icon="⚠️")
        st.dataframe(pd.DataFrame(compare(left, right)), hide_index=True, width="stretch")
        curves = {**rebased(left), **rebased(right)}
        if curves:
            st.plotly_chart(rebased_figure(curves), key="compare-nav")
            st.caption("Each run's unit value (time-weighted: flows are not return), "
                       "rebased to 100 at its start, against the days elapsed since.")
