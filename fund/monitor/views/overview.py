"""Overview: every actor's NAV, return, drawdown, positions, wakes, state and chain."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from fund import display
from fund.canonical import loads
from fund.journal import Journal, Lease
from fund.monitor.snapshot import ActorSnapshot
from fund.monitor.views import common


def state(snap: ActorSnapshot, lease: Lease | None) -> str:
    """One word for what the actor is doing."""
    if not snap.trusted:
        return "corrupted"
    if snap.controls.killed:
        return "killed"
    if snap.controls.halted:
        return "halted"
    if snap.controls.paused:
        return "paused"
    if snap.end is not None:
        return "finished"
    return "running" if lease is not None else "stopped"


def figures(snap: ActorSnapshot) -> dict[str, Any]:
    """The overview's numbers for one actor: exact money; return, drawdown, volatility and
    Sharpe on the unit value (fund.performance, as the summary and the report compute)."""
    ledger = snap.ledger
    found = snap.figures()
    return {"nav": snap.nav(), "net_flows": ledger.deposits if ledger else Decimal(0),
            "flows": len(snap.units.flows), "figures": found,
            "return": found.total_return if found else None,
            "drawdown": found.current_drawdown if found else None,
            "max_drawdown": found.max_drawdown if found else None}


def positions(snap: ActorSnapshot) -> pd.DataFrame:
    """Cash and every position with its price, value and share of NAV."""
    ledger = snap.ledger
    if ledger is None:
        return pd.DataFrame()
    nav = ledger.nav()
    rows = [{"asset": snap.quote + " (cash)", "amount": display.money(ledger.cash), "price": "",
             "value": common.money(ledger.cash), "weight": common.percent(
                 float(ledger.cash / nav) if nav else None)}]
    for symbol in snap.symbols:
        held = ledger.positions.get(symbol)
        if not held or not held.amount:
            continue
        price = ledger.prices.get(symbol, Decimal(0))
        value = held.amount * price
        market = snap.markets.get(symbol)
        rows.append({"asset": symbol, "amount": display.amount(held.amount, market),
                     "price": display.price(price, market),
                     "value": common.money(value),
                     "weight": common.percent(float(value / nav) if nav else None)})
    return pd.DataFrame(rows)


def _next_wake(snap: ActorSnapshot, lease: Lease | None) -> str:
    if snap.end is not None:
        return "finished"
    if lease is None:
        return "no daemon"
    return common.when(loads(lease.info).get("next_wake"))


def actor_card(store: Journal, actor: str, lease: Lease | None) -> None:
    """One actor's block on the overview."""
    snap = common.load(store, actor)
    numbers = figures(snap)
    st.subheader(f"{actor}")
    st.caption(f"strategy `{snap.strategy}` · cron `{snap.cron}` · mode {snap.mode} · "
               f"state **{state(snap, lease)}**")
    found = numbers["figures"]
    cols = st.columns(4)
    cols[0].metric(f"NAV ({snap.quote})", common.money(numbers["nav"]),
                   help="Total assets: cash plus positions at the last prices.")
    cols[1].metric("Return (time-weighted)", common.percent(numbers["return"]),
                   help="On the unit value (NAV per share), from the start: subscriptions, "
                        "redemptions, deposits and withdrawals are not return.")
    cols[2].metric("Drawdown", common.percent(numbers["drawdown"]))
    cols[3].metric("Max drawdown", common.percent(numbers["max_drawdown"]))
    risk = st.columns(4)
    risk[0].metric("Volatility (annualised)", display.percent(found.volatility) if found
                   else display.NOTHING)
    risk[1].metric("Sharpe (annualised)", display.ratio(found.sharpe) if found
                   else display.NOTHING, help="Mean over standard deviation of the per-wake "
                   "returns, risk-free rate 0; read it beside the volatility.")
    risk[2].metric("Period", display.period(found.years) if found else display.NOTHING)
    risk[3].metric(f"Net flows in ({snap.quote})", common.money(numbers["net_flows"]),
                   help=f"{numbers['flows']:,} subscriptions, redemptions, deposits and "
                        "withdrawals (the first capital included).")
    wide = st.columns([3, 2, 1, 1, 2])  # times are wide
    wide[0].metric("Last wake (UTC)", common.when(snap.last_wake))
    wide[1].metric("Next wake (UTC)", _next_wake(snap, lease))
    wide[2].metric("Fills", f"{len(snap.fills):,}")
    wide[3].metric("Open orders", f"{len(snap.open_orders()):,}")
    fees = snap.ledger.fees_paid if snap.ledger else 0
    wide[4].metric(f"Fees ({snap.quote})", common.money(fees),
                   help="Every fee paid on fills (the Trades page has them per asset).")
    common.chain_badge(snap)
    if snap.controls.halted or snap.controls.killed:
        stopped = "killed" if snap.controls.killed else "halted"
        st.warning(f"{actor} is {stopped}: it places no orders.")
    table = positions(snap)
    if not table.empty:
        st.dataframe(table, hide_index=True, width="stretch")
    if lease is not None:
        st.caption(f"daemon {lease.owner}, heartbeat {common.when(lease.heartbeat)}")


def render(settings: common.Settings) -> None:
    """The overview page."""
    opened = common.page(settings, "Overview")
    if opened is None:
        return
    store, names = opened
    leases = common.live_leases(store)

    def body() -> None:
        current = common.live_leases(store)
        for actor in names:
            with st.container(border=True):
                actor_card(store, actor, current.get(actor))

    if leases:  # a daemon is writing: keep the figures current
        st.caption("A daemon is running: this page refreshes every 5 seconds.")
        st.fragment(run_every=5)(body)()
    else:
        body()
