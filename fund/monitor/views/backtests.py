"""Backtests: open a finished run (its summary and journal) and compare two side by side."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fund.journal import JournalError, open_journal
from fund.monitor import charts
from fund.monitor.runs import Run, compare, find_runs
from fund.monitor.store import snapshot
from fund.monitor.views import common


def _quote(run: Run) -> str:
    actors = run.summary.get("actors") or {}
    quotes = {a.get("quote", "") for a in actors.values() if isinstance(a, dict)}
    return quotes.pop() if len(quotes) == 1 else ""


def _table(runs: list[Run]) -> pd.DataFrame:
    return pd.DataFrame([{
        "run": r.name, "final NAV": common.money(r.summary.get("final_nav"), _quote(r)),
        "return": common.percent(r.summary.get("total_return")),
        "max drawdown": common.percent(r.summary.get("max_drawdown")),
        "fills": r.summary.get("fills"), "wakes": r.summary.get("wakes"),
        "from": r.summary.get("first_wake"), "to": r.summary.get("end"),
        "head": str(r.summary.get("head_hash", ""))[:16],
    } for r in runs])


def _curves(run: Run) -> dict[str, tuple[list[float], list[float]]]:
    """Each actor's end-of-wake NAV in the run's journal (empty if it has none)."""
    if run.journal is None:
        return {}
    try:
        with open_journal(str(run.journal), must_exist=True) as store:
            out = {}
            for actor in common.actors(store):
                points = snapshot(store, actor).points()
                out[f"{run.name} · {actor}"] = (list(points.times), list(points.nav))
            return out
    except JournalError as exc:
        st.warning(f"{run.name}: {exc}")
        return {}


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
    chosen = st.multiselect("Open one run, or pick two to compare", names,
                            default=names[:1], max_selections=2)
    picked = [next(r for r in runs if r.name == name) for name in chosen]
    if len(picked) == 1:
        run = picked[0]
        st.subheader(run.name)
        cols = st.columns(4)
        cols[0].metric(f"Final NAV ({_quote(run)})".replace(" ()", ""),
                       common.money(run.summary.get("final_nav")))
        cols[1].metric("Return", common.percent(run.summary.get("total_return")))
        cols[2].metric("Max drawdown", common.percent(run.summary.get("max_drawdown")))
        cols[3].metric("Sharpe", f"{run.summary.get('sharpe', 0):.2f}")
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
        st.dataframe(pd.DataFrame(compare(left, right)), hide_index=True, width="stretch")
        curves = {**_curves(left), **_curves(right)}
        if curves:
            st.plotly_chart(charts.runs_figure(curves), key="compare-nav")
