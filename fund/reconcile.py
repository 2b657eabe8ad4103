"""Reconciliation: after a restart or an ambiguous failure, ask the exchange what happened.

Every order is journaled (as an OrderIntent with its client order id) before it is sent.
An order is *unsettled* when the journal has no event for it, or its last ack says it is
still working, or its rejection was ambiguous (a timeout while placing). For each one the
exchange is asked by client order id; what it reports is journaled (fills it has not seen
before, by fill id, so a fill is never recorded twice), and an order the exchange never
received is recorded as dropped — it is not sent late on a stale decision.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from fund.canonical import format_ts, loads
from fund.exchange.base import Event
from fund.journal import Entry
from fund.messages import FILL, ORDER_ACK, ORDER_INTENT, ORDER_REJECTED

RECONCILE = "Reconcile"
_WORKING = ("open", "partially_filled")


@runtime_checkable
class Venue(Protocol):
    """An adapter that can look an order up by its client order id."""

    def order_events(self, symbol: str, client_order_id: str,
                     known_fill_ids: Collection[str]) -> list[Event]:
        """The order's current ack and its fills not yet known."""
        ...


@dataclass(slots=True)
class OrderState:
    """What the journal knows about one order."""

    symbol: str
    events: int = 0
    status: str | None = None
    ambiguous: bool = False
    settled: bool = False
    fills: set[str] = field(default_factory=set)


def order_states(entries: Iterable[Entry]) -> dict[str, OrderState]:
    """Fold a stream's intents and exchange events into per-order states, by client id."""
    orders: dict[str, OrderState] = {}
    for entry in entries:
        if entry.kind not in (ORDER_INTENT, ORDER_ACK, FILL, ORDER_REJECTED):
            continue
        payload = loads(entry.payload)
        coid = payload["client_order_id"]
        if entry.kind == ORDER_INTENT:
            orders[coid] = OrderState(symbol=payload["symbol"])
            continue
        state = orders.get(coid)
        if state is None:
            continue
        state.events += 1
        if entry.kind == FILL:
            state.fills.add(payload["fill_id"])
        elif entry.kind == ORDER_ACK:
            state.status = payload["status"]
            state.settled = payload["status"] not in _WORKING
        else:
            state.ambiguous = bool(payload.get("ambiguous"))
            state.settled = not state.ambiguous
    return orders


def unsettled(orders: dict[str, OrderState]) -> list[tuple[str, OrderState]]:
    """The orders whose fate the journal does not know yet, in journal order."""
    return [(coid, s) for coid, s in orders.items()
            if not s.settled and (s.events == 0 or s.ambiguous or s.status in _WORKING)]


def reconcile(entries: Iterable[Entry], venue: Venue, record: Any, now: Any) -> dict[str, int]:
    """Settle every unsettled order with the venue; ``record(kind, payload)`` journals.

    Returns counts: checked, found (the exchange knew the order), dropped (it did not,
    and the journal had no event: the crash came between journaling and sending).
    """
    counts = {"checked": 0, "found": 0, "dropped": 0}
    for coid, state in unsettled(order_states(entries)):
        counts["checked"] += 1
        events = venue.order_events(state.symbol, coid, state.fills)
        if events:
            counts["found"] += 1
            for kind, payload in events:
                if kind == ORDER_ACK and payload.get("status") == state.status:
                    continue  # nothing new
                record(kind, payload)
        elif state.events == 0 or state.ambiguous:
            counts["dropped"] += 1
            record(ORDER_REJECTED, {
                "client_order_id": coid, "source": "reconcile",
                "reason": "the exchange has no such order: it was never sent (not sent late)"})
    record(RECONCILE, {**counts, "at": format_ts(now)})
    return counts
