"""What is worth telling the operator: notices made from the entries a wake (or a command,
or a reconciliation) appended, from the daemon's log lines, and the daily summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fund.canonical import loads
from fund.journal import Entry
from fund.messages import CONTROL, DECISION, HALT, MISSED_WAKE, ORDER_REJECTED, RECONCILE

KINDS = (HALT, CONTROL, ORDER_REJECTED, RECONCILE, MISSED_WAKE, DECISION)
"""The entry kinds notices are made from."""
CONTROLS = ("kill", "pause", "resume")


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """One thing to tell: its event (the filter and rate-limit key, with the actor), a
    title and a text."""

    event: str
    title: str
    body: str
    actor: str | None = None


def from_entries(fund: str, actor: str, entries: Sequence[Entry],
                 quote: str = "") -> list[Notice]:
    """The notices the entries an actor's stream gained call for."""
    found = []
    for entry in entries:
        if entry.kind in KINDS:
            notice = from_entry(fund, actor, entry.kind, loads(entry.payload), quote)
            if notice is not None:
                found.append(notice)
    return found


def from_entry(fund: str, actor: str, kind: str, p: Mapping[str, Any],
               quote: str = "") -> Notice | None:
    """The notice one entry calls for, if any."""
    where = f"{fund}/{actor}"
    if kind == HALT:
        return Notice(event="halt", actor=actor, title=f"{where}: halted ({p['limit']})",
                      body=f"Drawdown {_pct(p['drawdown'])} from the peak NAV "
                           f"{_money(p['peak'])} {quote} (NAV {_money(p['nav'])}, limit "
                           f"{_pct(p['threshold'])}): no new buying until resumed.")
    if kind == CONTROL and p["command"] in CONTROLS and not p.get("rejected"):
        by = f" by {p['by']}" if p.get("by") else ""
        why = f": {p['reason']}" if p.get("reason") else ""
        return Notice(event=p["command"], actor=actor, title=f"{where}: {p['command']}{by}",
                      body=f"{_CONTROL_TEXT[p['command']]}{why}")
    if kind == ORDER_REJECTED:
        limit = f" ({p['limit']})" if p.get("limit") else ""
        fate = " — its fate is unknown until reconciled" if p.get("ambiguous") else ""
        return Notice(event="rejected", actor=actor,
                      title=f"{where}: order rejected by {p['source']}{limit}",
                      body=f"Order {p['client_order_id']}: {p['reason']}{fate}")
    if kind == RECONCILE and (p["found"] or p["late"] or p["dropped"] or p["open"]):
        return Notice(event="reconciled", actor=actor,
                      title=f"{where}: reconciliation found something",
                      body=f"{p['checked']} orders of unknown fate checked: {p['found']} found, "
                           f"{p['late']} filled late, {p['dropped']} dropped, {p['open']} "
                           "still open.")
    if kind == MISSED_WAKE:
        return Notice(event="missed", actor=actor, title=f"{where}: {p['count']} wakes missed",
                      body=f"From {p['first']} to {p['last']}: {p['reason']}.")
    if kind == DECISION and p.get("rule") == "error":
        return Notice(event="error", actor=actor, title=f"{where}: the strategy raised",
                      body=str(p.get("reasons", {}).get("error", "")))
    return None


_CONTROL_TEXT = {"kill": "Every new order is refused until resumed",
                 "pause": "Wakes are skipped (recorded as missed) until resumed",
                 "resume": "Waking and trading again"}


def from_log(fund: str, event: str, fields: Mapping[str, Any]) -> Notice | None:
    """The notice one of the daemon's log lines calls for, if any."""
    actor = fields.get("actor")
    where = f"{fund}/{actor}" if actor else fund
    if event == "held":
        return Notice(event="held", actor=actor, title=f"{where}: held, not waking",
                      body=str(fields.get("reason", "")))
    if event == "recovered":
        return Notice(event="recovered", actor=actor, title=f"{where}: recovered",
                      body=f"Waking again after: {fields.get('after', '')}")
    if event == "lease-lost":
        return Notice(event="lease-lost", actor=actor, title=f"{where}: lease lost",
                      body="Another daemon took this actor over; this one stopped running it.")
    if event == "reconcile-failed":
        return Notice(event="reconciled", actor=actor, title=f"{where}: cannot reconcile",
                      body=str(fields.get("error", "")))
    if event == "balances-differ":
        text = ", ".join(f"{c} {d}" for c, d in sorted(fields.items()) if c != "fund")
        return Notice(event="balances", title=f"{fund}: the account differs from the books",
                      body=f"Exchange minus books: {text}.")
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorDay:
    """One actor's line of the daily summary."""

    actor: str
    nav: Decimal
    previous: Decimal | None  # the NAV at the previous summary (or when the daemon started)
    fills: int
    fees: Decimal
    quote: str


def summary(fund: str, day: str, actors: Sequence[ActorDay]) -> Notice:
    """The daily summary: NAV, return since the previous summary, fills and fees per actor."""
    lines = []
    for a in actors:
        ret = f"{(a.nav / a.previous - 1) * 100:+.2f}%" if a.previous else "n/a"
        lines.append(f"{a.actor}: NAV {_money(a.nav)} {a.quote}, return {ret}, "
                     f"{a.fills} fills, fees {_money(a.fees)} {a.quote}")
    return Notice(event="summary", title=f"{fund}: daily summary {day}", body="\n".join(lines))


def _money(value: Any) -> str:
    return f"{Decimal(value):,.2f}"


def _pct(value: Any) -> str:
    return f"{Decimal(value) * 100:.2f}%"
