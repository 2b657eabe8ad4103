"""Reconciliation's decisions on a simulated clock: when an absent order may be called
dropped, and how an order that lands late (or after being called dropped) is still booked.

The venue here is scripted — which orders exist, and from when — so that every timing
edge can be set exactly; the real ccxt path is in tests/integration/test_faults.py.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pytest

from fund.canonical import format_ts, loads
from fund.clock import SimulatedClock
from fund.exchange.base import Event
from fund.journal import Entry, JournalWriter
from fund.journal.memory import MemoryJournal
from fund.messages import FILL, ORDER_ACK, ORDER_INTENT, ORDER_REJECTED, RECONCILE
from fund.reconcile import LATE_WINDOW, MAX_WAIT, reconcile

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
VALIDITY = timedelta(seconds=5)


class Unreachable(Exception):
    """The scripted venue cannot be asked."""


class ScriptedVenue:
    """Orders that exist on the exchange from a given moment of the test's clock."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.orders: dict[str, tuple[datetime, list[Event]]] = {}
        self.lookups: list[tuple[datetime, str]] = []
        self.down = False

    def lands(self, coid: str, at: datetime, *fill_ids: str) -> None:
        ack = (ORDER_ACK, {"client_order_id": coid, "exchange_order_id": "9",
                           "status": "filled"})
        fills = [(FILL, {"client_order_id": coid, "fill_id": f, "symbol": "BTC/USDT",
                         "side": "buy", "amount": "0.1", "price": "40000", "fee": "4",
                         "fee_currency": "USDT"}) for f in fill_ids]
        self.orders[coid] = (at, [ack, *fills])

    def order_events(self, symbol: str, client_order_id: str,
                     known_fill_ids: Collection[str]) -> list[Event]:
        if self.down:
            raise Unreachable("exchange down")
        self.lookups.append((self.clock.now(), client_order_id))
        landed = self.orders.get(client_order_id)
        if landed is None or landed[0] > self.clock.now():
            return []
        return [e for e in landed[1] if e[0] != FILL or e[1]["fill_id"] not in known_fill_ids]

    def settles_after(self, sent: datetime) -> datetime:
        return sent + VALIDITY + timedelta(seconds=1)


class Books:
    """A memory journal with a stream of intents and events, and a recorder for it."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.writer = JournalWriter(MemoryJournal(), "actor")

    def append(self, kind: str, payload: dict[str, object]) -> Entry:
        entry = self.writer.append(kind, format_ts(self.clock.now()), payload)
        self.writer.flush()
        return entry

    def intent(self, coid: str) -> None:
        self.append(ORDER_INTENT, {"client_order_id": coid, "symbol": "BTC/USDT",
                                   "side": "buy", "amount": "0.1", "type": "market"})

    def ambiguous(self, coid: str, valid_until: datetime) -> None:
        self.append(ORDER_REJECTED, {"client_order_id": coid, "source": "exchange",
                                     "reason": "fate unknown: timeout", "ambiguous": True,
                                     "valid_until": format_ts(valid_until)})

    def entries(self) -> list[Entry]:
        return list(self.writer.journal.read("actor"))

    def kinds(self, coid: str) -> list[str]:
        return [e.kind for e in self.entries() if e.kind != ORDER_INTENT
                and loads(e.payload).get("client_order_id") == coid]


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0)


def run(books: Books, venue: ScriptedVenue, clock: SimulatedClock,
        restarted_at: datetime | None = None) -> dict[str, int]:
    return reconcile(books.entries(), venue, books.append, clock, restarted_at=restarted_at,
                     sleep=lambda s: clock.advance_time(timedelta(seconds=s)))


def test_an_ambiguous_order_absent_until_its_window_ends_is_dropped_then(
        clock: SimulatedClock) -> None:
    books, venue = Books(clock), ScriptedVenue(clock)
    books.intent("af-1")
    books.ambiguous("af-1", T0 + VALIDITY)

    counts = run(books, venue, clock)

    assert counts["dropped"] == 1 and counts["found"] == 0
    # looked up at once, and again only once the window had ended — never declared early
    assert [when for when, _ in venue.lookups] == [T0, T0 + VALIDITY]
    assert books.kinds("af-1") == [ORDER_REJECTED, ORDER_REJECTED]
    dropped = loads(books.entries()[-2].payload)
    assert dropped["source"] == "reconcile" and format_ts(T0 + VALIDITY) in dropped["reason"]


def test_an_order_landing_a_microsecond_before_its_window_ends_is_found(
        clock: SimulatedClock) -> None:
    books, venue = Books(clock), ScriptedVenue(clock)
    books.intent("af-1")
    books.ambiguous("af-1", T0 + VALIDITY)
    venue.lands("af-1", T0 + VALIDITY - timedelta(microseconds=1), "t1")

    counts = run(books, venue, clock)

    assert counts == {"checked": 1, "found": 1, "late": 0, "dropped": 0, "open": 0}
    assert books.kinds("af-1") == [ORDER_REJECTED, ORDER_ACK, FILL]


def test_an_order_with_no_event_waits_a_window_from_the_restart(clock: SimulatedClock) -> None:
    # the process died between journaling the intent and hearing back: the request was
    # signed before the restart, so the exchange may accept it until restart + window
    books, venue = Books(clock), ScriptedVenue(clock)
    books.intent("af-1")
    clock.advance_time(timedelta(hours=1))
    restarted = clock.now()
    venue.lands("af-1", restarted + timedelta(seconds=4), "t1")  # held up on the way

    counts = run(books, venue, clock, restarted_at=restarted)

    assert counts["found"] == 1 and counts["dropped"] == 0
    assert venue.lookups[-1][0] == restarted + VALIDITY + timedelta(seconds=1)


def test_a_dropped_order_that_fills_later_is_booked_at_the_next_reconciliation(
        clock: SimulatedClock) -> None:
    books, venue = Books(clock), ScriptedVenue(clock)
    books.intent("af-1")
    books.ambiguous("af-1", T0 + VALIDITY)
    run(books, venue, clock)  # dropped
    venue.lands("af-1", clock.now() + timedelta(minutes=1), "t1")  # a surprise, later
    clock.advance_time(timedelta(minutes=2))

    counts = run(books, venue, clock)
    again = run(books, venue, clock)

    assert counts["late"] == 1
    assert books.kinds("af-1") == [ORDER_REJECTED, ORDER_REJECTED, ORDER_ACK, FILL]
    assert again["checked"] == 0  # booked once: settled for good


def test_dropped_orders_are_looked_up_again_for_a_day_only(clock: SimulatedClock) -> None:
    books, venue = Books(clock), ScriptedVenue(clock)
    books.intent("af-1")
    books.ambiguous("af-1", T0 + VALIDITY)
    run(books, venue, clock)
    dropped_at = clock.now()

    clock.set_time(dropped_at + LATE_WINDOW)
    within = run(books, venue, clock)
    clock.set_time(dropped_at + LATE_WINDOW + timedelta(microseconds=1))
    after = run(books, venue, clock)

    assert within["checked"] == 1 and after["checked"] == 0


def test_a_window_ending_too_far_ahead_is_left_open_not_dropped(clock: SimulatedClock) -> None:
    books, venue = Books(clock), ScriptedVenue(clock)
    books.intent("af-1")
    books.ambiguous("af-1", T0 + MAX_WAIT + timedelta(microseconds=1))

    counts = run(books, venue, clock)

    assert counts["open"] == 1 and counts["dropped"] == 0
    assert clock.now() == T0  # it did not wait
    assert books.kinds("af-1") == [ORDER_REJECTED]


def test_an_unreachable_exchange_drops_nothing(clock: SimulatedClock) -> None:
    books, venue = Books(clock), ScriptedVenue(clock)
    books.intent("af-1")
    books.ambiguous("af-1", T0 + VALIDITY)
    venue.down = True

    with pytest.raises(Unreachable):
        run(books, venue, clock)

    assert books.kinds("af-1") == [ORDER_REJECTED]
    assert [e.kind for e in books.entries()][-1] != RECONCILE


def test_fills_already_booked_are_not_booked_again(clock: SimulatedClock) -> None:
    books, venue = Books(clock), ScriptedVenue(clock)
    books.intent("af-1")
    books.append(ORDER_ACK, {"client_order_id": "af-1", "exchange_order_id": "9",
                             "status": "open"})
    books.append(FILL, {"client_order_id": "af-1", "fill_id": "t1", "symbol": "BTC/USDT",
                        "side": "buy", "amount": "0.1", "price": "40000", "fee": "4",
                        "fee_currency": "USDT"})
    venue.lands("af-1", T0, "t1", "t2")

    run(books, venue, clock)

    fills = [loads(e.payload)["fill_id"] for e in books.entries() if e.kind == FILL]
    assert fills == ["t1", "t2"]
