"""Charts of one actor: NAV and drawdown with trades, allocation, buy-and-hold, sentiment."""

from __future__ import annotations

import streamlit as st

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
    st.subheader("NAV and drawdown")
    st.caption(f"{len(snap.fills):,} fills marked (▲ buy, ▼ sell); one point per wake, "
               f"{len(snap.points().nav):,} wakes")
    st.plotly_chart(charts.nav_figure(snap), key="nav")
    st.subheader("Allocation")
    st.plotly_chart(charts.allocation_figure(snap), key="allocation")
    st.subheader("Against buy-and-hold")
    st.caption("Equal-weight buy-and-hold of the same assets from the first priced wake, "
               "same starting NAV, no fees.")
    st.plotly_chart(charts.benchmark_figure(snap), key="benchmark")
    sentiment = charts.sentiment_figure(snap)
    if sentiment is not None:
        st.subheader("Mentions and sentiment per keyword")
        st.plotly_chart(sentiment, key="sentiment")
