"""Investors: each investor's holding, flows, fees and returns; NAV per share over time."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped]
import streamlit as st

from fund import display
from fund.accounting.statement import Books, books, statement
from fund.journal import EntryFilter, Journal
from fund.messages import START, VALUATION
from fund.monitor.views import common
from fund.monitor.views.performance import pick_actor
from fund.performance import over_period


def _books(store: Journal, actor: str) -> Books:
    return books(store.read(actor, EntryFilter(kinds=(START, VALUATION))))


def _pct(value: float | None) -> str:
    return common.percent(value)


_MONEY = ("contributed", "withdrawn", "management_fee", "performance_fee")


def history_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """An investor's history, one row per valuation point that changed their holding:
    money to the cent, units and prices as dealt, nothing as a dash (fund.display)."""
    table = []
    for row in rows:
        shown = {"at": common.when(str(row.get("at"))),
                 "price": display.significant(row.get("price"), 12),
                 "units": display.units(row.get("units"))}
        shown.update({key.replace("_", " "): display.money(row.get(key)) for key in _MONEY})
        shown["fee units"] = display.units(row.get("fee_units"))
        table.append(shown)
    return pd.DataFrame(table)


def _mwr(s: dict[str, Any]) -> str:
    """The money-weighted return: a year's rate, or over the holding period when shorter."""
    years = float(s.get("money_weighted_years") or 0.0)
    if 0 < years < 1:
        return f"{_pct(over_period(s['money_weighted_return'], years))} ({display.period(years)})"
    return f"{_pct(s['money_weighted_return'])} (a year)"


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
    price = display.significant(statements[0]["nav_per_share"], 12) if statements else "—"
    st.caption(f"NAV per share {price} at "
               f"the last valuation point, {common.when(str(book.last)) if book.last else '—'}"
               f"; fund time-weighted return "
               f"{_pct(statements[0]['fund_time_weighted_return']) if statements else '—'}")
    st.dataframe(pd.DataFrame([{
        "investor": s["investor"], "units": display.units(s["units"]),
        "value": common.money(s["value"]),
        "contributed": common.money(s["contributed"]),
        "withdrawn": common.money(s["withdrawn"]),
        "management fees": common.money(s["management_fees"]),
        "performance fees": common.money(s["performance_fees"]),
        "time-weighted": _pct(s["time_weighted_return"]),
        "money-weighted": _mwr(s),
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
        cols[1].metric("Units", display.units(picked["units"]))
        cols[2].metric("Time-weighted return", _pct(picked["time_weighted_return"]))
        cols[3].metric("Money-weighted return", _mwr(picked))
        st.dataframe(history_table(picked["history"]), hide_index=True, width="stretch")
        st.caption("`fund statement JOURNAL --investor ID` prints the same; `fund verify` "
                   "re-derives every valuation, fee and unit.")
