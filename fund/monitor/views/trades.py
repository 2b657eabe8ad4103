"""Trades: every fill, round trips with realised P&L, P&L and fees per asset, win rate,
turnover, calendar returns and each asset's price with the fund's buys and sells.

The figures are fund.trades' (average cost, the ledger's convention; docs/metrics.md),
folded from the journal's Fill entries up to the snapshot's last trusted entry; the last
prices and the unit value are the snapshot's.
"""

from __future__ import annotations

import heapq
from decimal import Decimal

import numpy as np
import pandas as pd
import streamlit as st

from fund import display, performance
from fund.journal import EntryFilter, Journal
from fund.messages import FILL, OBSERVATION, START
from fund.monitor import trading
from fund.monitor.snapshot import ActorSnapshot
from fund.monitor.views import common
from fund.trades import TradeBook, trades_of

PERIODS = {"day": "Daily", "week": "Weekly", "month": "Monthly"}


@st.cache_resource(show_spinner=False, max_entries=16)
def _book(url: str, actor: str, seq: int, head: str, marks: tuple[tuple[str, str], ...],
          _store: Journal) -> TradeBook:
    """The actor's trade book up to entry ``seq`` (``head``: its hash, so another journal
    at the same URL is never taken for this one)."""
    fills = _store.read(actor, EntryFilter(last_seq=seq, kinds=(START, FILL)))
    candles = _store.read(actor, EntryFilter(last_seq=seq, kinds=(OBSERVATION,),
                                             contains='"candles"'))
    entries = heapq.merge(fills, candles, key=lambda entry: entry.seq)
    return trades_of(entries, {symbol: Decimal(price) for symbol, price in marks})


def book_of(store: Journal, snap: ActorSnapshot) -> TradeBook:
    """The snapshot's actor's trade book, its unrealised P&L at the snapshot's last prices."""
    prices = snap.ledger.prices if snap.ledger else {}
    marks = tuple(sorted((symbol, str(price)) for symbol, price in prices.items()))
    return _book(store.url, snap.actor, snap.seq, snap.head_hash, marks, store)


def pick(names: list[str], key: str, label: str, param: str) -> str:
    """A choice in a select box, remembered in the URL as ``?param=``."""
    wanted = st.query_params.get(param)
    index = names.index(wanted) if wanted in names else 0
    chosen = str(st.selectbox(label, names, index=index, key=key))
    st.query_params[param] = chosen
    return chosen


def _default_period(snap: ActorSnapshot) -> str:
    times = snap.points().times
    span = (times[-1] - times[0]) / 86_400 if len(times) > 1 else 0.0
    return "month" if span > 180 else "week" if span > 42 else "day"


def calendar(snap: ActorSnapshot) -> None:
    """Returns per day, week or month, from the unit value (fund.performance)."""
    st.subheader("Returns per calendar period")
    points = snap.points()
    start = snap.units.start
    if start is None or not len(points.unit):
        st.info("No wake with money in the fund yet.")
        return
    names = list(PERIODS)
    period = str(st.radio("Period", names, index=names.index(_default_period(snap)),
                          format_func=PERIODS.__getitem__, horizontal=True, key="t-period"))
    returns = performance.calendar_returns(points.times, points.unit, start, period)
    chained = float(np.prod([1.0 + r for _, r in returns]) - 1.0) if returns else 0.0
    weeks = ", weeks from Monday" if period == "week" else ""
    st.caption(f"{len(returns):,} {period}s (UTC{weeks}), measured on the unit value (NAV "
               "per share): money in or out is not return. "
               f"Chained, they give the period's return, {display.percent(chained)}.")
    st.plotly_chart(trading.calendar_figure(returns, period), key="t-calendar")


def prices(snap: ActorSnapshot, book: TradeBook) -> None:
    """One asset's price (candles when the journal recorded some) with buys and sells."""
    st.subheader("Price and trades")
    traded = {fill.symbol for fill in book.fills}
    names = [s for s in snap.symbols if s in traded] + \
        [s for s in snap.symbols if s not in traded]
    if not names:
        return
    symbol = pick(names, "t-asset", "Asset", "asset")
    points = snap.points()
    candles = book.candles.get(symbol)
    st.plotly_chart(trading.price_figure(book, symbol, times=points.times,
                                         prices=points.prices.get(symbol, ()),
                                         candles=candles), key="t-price")
    source = (f"{len(candles):,} recorded candles" if candles else
              "the price observed at each wake")
    st.caption(f"{symbol}: {source}; ▲ buys and ▼ sells at their fill prices.")


def render(settings: common.Settings) -> None:
    """The Trades page."""
    opened = common.page(settings, "Trades")
    if opened is None:
        return
    store, names = opened
    snap = common.load(store, pick(names, "t-actor", "Actor", "actor"))
    if not snap.trusted:
        common.chain_badge(snap)
    book = book_of(store, snap)
    if not book.fills:
        st.info(f"{snap.actor} has no fill yet.")
        calendar(snap)
        return
    figures = trading.summary(book, snap.points().nav)
    for row in (figures[:4], figures[4:]):
        for column, (label, value, note) in zip(st.columns(4), row, strict=True):
            column.metric(label, value, help=note)
    st.caption("Average cost (the books' convention): each sell is a round trip that closes "
               "that amount of the position at its average cost; its realised P&L counts "
               "its own fee and the buys' fees on the amount sold. Net P&L is the NAV's "
               "change that is not money in or out.")
    st.subheader("P&L and fees per asset")
    st.plotly_chart(trading.pnl_figure(book.assets, book.quote), key="t-pnl")
    st.dataframe(pd.DataFrame(trading.asset_rows(book)), hide_index=True, width="stretch")
    calendar(snap)
    prices(snap, book)
    st.subheader(f"Round trips ({len(book.round_trips):,})")
    if book.round_trips:
        st.dataframe(pd.DataFrame(trading.round_trip_rows(book)), hide_index=True,
                     width="stretch")
    else:
        st.caption("No sell yet: every position is still open.")
    st.subheader(f"Fills ({len(book.fills):,})")
    st.dataframe(pd.DataFrame(trading.fill_rows(book)), hide_index=True, width="stretch")
