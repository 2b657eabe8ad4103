"""Reconciliation: after a restart or an order of unknown fate, ask the exchange what happened.

Every order is journaled (as an OrderIntent with its client order id) before it is sent,
and sent once. An order is *unsettled* when the journal has no event for it (the process
stopped between journaling and the answer), its last ack says it is still working, or its
rejection was ambiguous (the exchange's answer did not prove a refusal). Each one is looked
up by client order id and what the exchange reports is journaled: fills it has not seen
before (by fill id, so a fill is never recorded twice) and the current ack.

An order the exchange does not know may still arrive there: a request held up on the way
is accepted until its validity window ends. So an absent order is called *dropped* only
after the window: the ambiguous rejection records when it ends (``valid_until``); for an
order with no event at all, the request was signed before this process took over, so the
window ends at most ``validity`` after ``restarted_at``. Reconciliation waits until then
(bounded) and looks again. And because clocks and networks can still surprise, orders
dropped in the last day are looked up again at every reconciliation: a fill that arrives
for one is found and booked all the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from fund.canonical import format_ts, parse_ts
from fund.clock import Clock
from fund.exchange.base import Answered, Event, answers
from fund.exchange.resting import WorkingOrder
from fund.journal.base import Entry
from fund.messages import ORDER_ACK, OrderRejected, Reconciled, entry
from fund.projections import SENT, UNKNOWN, Orders, OrderState, fold

LATE_WINDOW = timedelta(days=1)
"""How long after being called dropped an order is still looked up at each reconciliation."""
MAX_WAIT = timedelta(minutes=2)
"""The longest reconciliation waits for a validity window to end; a later one stays open."""


@runtime_checkable
class Venue(Protocol):
    """An adapter that can look an order up by its client order id."""

    def order_events(self, symbol: str, client_order_id: str,
                     known_fill_ids: Collection[str]) -> list[Event]:
        """The order's current ack and its fills not yet known."""
        ...

    def settles_after(self, sent: datetime) -> datetime:
        """The moment after which an order signed at ``sent`` can no longer be accepted."""
        ...


Record = Callable[[str, dict[str, Any]], Any]


def reconcile(entries: Iterable[Entry], venue: Venue, record: Record, clock: Clock, *,
              restarted_at: datetime | None = None,
              sleep: Callable[[float], None] = time.sleep,
              late_window: timedelta = LATE_WINDOW) -> dict[str, int]:
    """Settle every unsettled order with the venue; ``record(kind, payload)`` journals.

    Returns counts: checked, found (the exchange knew the order), late (found after it had
    been called dropped), dropped (it did not, after its validity window), open (its window
    ends too far ahead to wait for: left for the next reconciliation). Raises what the
    venue raises when it cannot be asked (nothing is recorded as dropped then).
    """
    started = clock.now()
    orders = Orders()
    fold(entries, orders)
    counts = {"checked": 0, "found": 0, "late": 0, "dropped": 0, "open": 0}
    waiting: list[tuple[datetime, str, OrderState]] = []
    for coid, state in orders.open() + orders.dropped_since(format_ts(started - late_window)):
        counts["checked"] += 1
        events = venue.order_events(state.symbol, coid, state.fills)
        if events:
            _book(events, state.status, record)
            counts["late" if state.dropped else "found"] += 1
        elif state.status in (SENT, UNKNOWN):
            ends = (parse_ts(state.valid_until) if state.valid_until
                    else venue.settles_after(restarted_at or started))
            waiting.append((ends, coid, state))
    for ends, coid, state in sorted(waiting, key=lambda item: item[0]):
        wait = ends - clock.now()
        if wait > MAX_WAIT:
            counts["open"] += 1
            continue
        if wait > timedelta(0):
            sleep(wait.total_seconds())
        events = venue.order_events(state.symbol, coid, state.fills)
        if events:
            _book(events, state.status, record)
            counts["found"] += 1
            continue
        counts["dropped"] += 1
        kind, payload = entry(OrderRejected(
            client_order_id=coid, source="reconcile",
            reason=f"the exchange has no such order after its validity window ended at "
                   f"{format_ts(ends)}: it was never placed (it is not sent late)"))
        record(kind, Answered(payload, answers(events)))  # the "no such order" answers
    record(*entry(Reconciled(**counts, at=format_ts(started))))
    return counts


def poll(working: Iterable[WorkingOrder], venue: Venue, record: Record) -> bool:
    """At a live wake, before the strategy decides: ask the exchange about each working
    (resting) order and journal what it did since — new fills, a changed or final ack.
    Returns False when the exchange could not be asked about one: that order is asked
    about again at the next wake (or reconciliation), nothing is guessed."""
    asked = True
    for order in list(working):
        try:
            events = venue.order_events(order.symbol, order.client_order_id, order.fill_ids)
        except Exception:  # noqa: BLE001 - unreachable or refused: asked again later
            asked = False
            continue
        _book(events, order.status, record)
    return asked


def _book(events: list[Event], status: str, record: Record) -> None:
    """Journal what the exchange reported that the journal does not have yet."""
    for kind, payload in events:
        if kind == ORDER_ACK and payload.get("status") == status:
            continue  # nothing new
        record(kind, payload)
