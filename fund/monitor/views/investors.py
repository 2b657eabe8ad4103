"""Investors: each investor's holding, flows, fees and returns; NAV per share over time."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped]
import streamlit as st

from fund.accounting.statement import Books, books, statement
from fund.journal import EntryFilter, Journal
from fund.messages import START, VALUATION
from fund.monitor.views import common
from fund.monitor.views.performance import pick_actor


def _books(store: Journal, actor: str) -> Books:
    return books(store.read(actor, EntryFilter(kinds=(START, VALUATION))))


def _pct(value: float | None) -> str:
    return common.percent(value)


def render(settings: common.Settings) -> None:
    """The investors page (funds with an [accounting] section)."""
    opened = common.page(settings, "Investors")
    if opened is None:
        return
    store, names = opened
    actor = pick_actor(names, "i-actor")
    book = _books(store, actor)
    if book.register is None:
        st.info(f"{actor} keeps no investor accounts (its config has no [accounting] section).")
        return
    statements = [statement(book, investor) for investor in sorted(book.register.holdings)]
    st.caption(f"NAV per share {statements[0]['nav_per_share'] if statements else '—'} at "
               f"the last valuation point, {common.when(str(book.last)) if book.last else '—'}"
               f"; fund time-weighted return "
               f"{_pct(statements[0]['fund_time_weighted_return']) if statements else '—'}")
    st.dataframe(pd.DataFrame([{
        "investor": s["investor"], "units": s["units"], "value": common.money(s["value"]),
        "contributed": common.money(s["contributed"]),
        "withdrawn": common.money(s["withdrawn"]),
        "management fees": common.money(s["management_fees"]),
        "performance fees": common.money(s["performance_fees"]),
        "time-weighted": _pct(s["time_weighted_return"]),
        "money-weighted (a year)": _pct(s["money_weighted_return"]),
    } for s in statements]), hide_index=True, width="stretch")
    if book.prices:
        figure = go.Figure(go.Scatter(x=[t for t, _ in book.prices],
                                      y=[float(p) for _, p in book.prices],
                                      name="NAV per share"))
        figure.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                             yaxis_title="NAV per share")
        st.plotly_chart(figure, key="nav-per-share")
    chosen = st.selectbox("Statement of", [s["investor"] for s in statements], key="i-investor")
    picked = next((s for s in statements if s["investor"] == chosen), None)
    if picked is not None:
        st.subheader(f"Statement: {chosen}")
        cols = st.columns(4)
        cols[0].metric("Value", common.money(picked["value"]))
        cols[1].metric("Units", picked["units"])
        cols[2].metric("Time-weighted return", _pct(picked["time_weighted_return"]))
        cols[3].metric("Money-weighted return", _pct(picked["money_weighted_return"]))
        st.dataframe(pd.DataFrame(picked["history"]), hide_index=True, width="stretch")
        st.caption("`fund statement JOURNAL --investor ID` prints the same; `fund verify` "
                   "re-derives every valuation, fee and unit.")
