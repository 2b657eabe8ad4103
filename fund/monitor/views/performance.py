"""Charts of one actor: NAV and drawdown with trades, allocation, buy-and-hold, sentiment."""

from __future__ import annotations

import streamlit as st

from fund import display, figures
from fund.monitor import charts
from fund.monitor.views import common


def pick_actor(names: list[str], key: str) -> str:
    """An actor chosen in a select box (remembered in the URL as ``?actor=``)."""
    wanted = st.query_params.get("actor")
    index = names.index(wanted) if wanted in names else 0
    actor = st.selectbox("Actor", names, index=index, key=key)
    st.query_params["actor"] = actor
    return str(actor)


def render(settings: common.Settings) -> None:
    """The charts page."""
    opened = common.page(settings, "Charts")
    if opened is None:
        return
    store, names = opened
    snap = common.load(store, pick_actor(names, "charts-actor"))
    if not snap.trusted:
        common.chain_badge(snap)
    if not len(snap.points().nav):
        st.info("No wake recorded yet: nothing to chart.")
        return
    st.subheader("Unit value, total assets and drawdown")
    found = snap.figures()
    flows = len(snap.units.flows)
    fills = (f"{len(snap.fills):,} fills marked (▲ buy, ▼ sell)"
             if len(snap.fills) <= figures.MAX_MARKERS else
             f"{len(snap.fills):,} fills, not marked (more than {figures.MAX_MARKERS:,})")
    st.caption(f"{fills}; {flows:,} flows marked "
               "(subscriptions, redemptions, deposits, withdrawals); one point per wake, "
               f"{len(snap.points().nav):,} wakes (long series: the min and max of each of "
               f"{figures.BUCKETS:,} time buckets). Return and drawdown are measured on the "
               "unit value (NAV per share × the first capital's units), so money in or out "
               "is not return" + (f": return {display.percent(found.total_return)}, max "
                                  f"drawdown {display.percent(found.max_drawdown)}."
                                  if found else "."))
    drawn = charts.curves(snap)  # once for the three figures of the unit value
    st.plotly_chart(charts.nav_figure(snap, drawn), key="nav")
    st.subheader("Allocation")
    st.plotly_chart(charts.allocation_figure(snap, drawn), key="allocation")
    st.subheader("Against buy-and-hold")
    hold = drawn.benchmark if drawn.benchmark is not None else charts.buy_and_hold(snap)
    ended = hold[-1] if len(hold) else float("nan")
    start = snap.units.start
    bench = ended / start - 1 if start else None
    st.caption("Equal-weight buy-and-hold of the same assets from the first priced wake, "
               "keeping the fund's own mean cash share in cash, same start, no fees"
               + (f": {display.percent(bench)}." if bench is not None and bench == bench
                  else "."))
    st.plotly_chart(charts.benchmark_figure(snap, drawn), key="benchmark")
    data = charts.sentiment(snap)
    sentiment = figures.sentiment_figure(data)
    if sentiment is not None:
        st.subheader("Mentions and sentiment per keyword")
        st.caption(figures.sentiment_caption(data))
        st.plotly_chart(sentiment, key="sentiment")
