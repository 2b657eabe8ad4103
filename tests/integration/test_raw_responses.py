"""What the exchange said, on record: a live order's raw answers are blobs beside its events.

The real ccxt binance client against the fake exchange (tests/integration/fake_exchange.py,
which keeps the bodies it sent): a live daemon in this process (tests/integration/faults.py)
journals to SQLite and PostgreSQL, and each OrderAck, Fill and OrderRejected lists under
``raw`` the blobs holding exactly what the exchange answered — the placement's answer, or
the lookup's — with the API key blanked out where binance echoed it; a paper wake lists
none (its journal is what it was). ``fund verify`` checks those blobs, so a deleted or
altered answer fails at the entry that lists it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from fund.canonical import dumps, loads
from fund.config import load_config
from fund.daemon import Daemon
from fund.exchange.base import Answered, Event, answers
from fund.exchange.ccxt_adapter import CcxtAdapter
from fund.journal import open_journal
from fund.journal.base import blob_digest
from fund.messages import (
    EXCHANGE_EVENTS,
    FILL,
    ORDER_ACK,
    ORDER_INTENT,
    ORDER_REJECTED,
    Fill,
    OrderAck,
    OrderRejected,
    entry,
)
from fund.verify import verify_stream
from tests.fixtures.tamper import replace_in_blob, tampering
from tests.integration.fake_exchange import FakeExchange, Fault
from tests.integration.faults import KEY, SECRET, LiveFund, open_market, write_config
from tests.integration.test_ccxt_adapter import COID, SYMBOL, Sleeps, book, placed

D = Decimal
ACTOR = "rebalancer"
Stream = list[tuple[int, str, dict[str, Any]]]


@pytest.fixture
def venue() -> Iterator[FakeExchange]:
    with FakeExchange() as exchange:
        open_market(exchange)
        yield exchange


def read(url: str) -> Stream:
    with open_journal(url) as store:
        return [(e.seq, e.kind, loads(e.payload)) for e in store.read(ACTOR)]


def blobs(url: str, digests: list[str]) -> list[bytes]:
    with open_journal(url) as store:
        return [store.get_blob(d) for d in digests]


def intents(stream: Stream) -> list[str]:
    return [p["client_order_id"] for _, k, p in stream if k == ORDER_INTENT]


def events_of(stream: Stream, coid: str) -> list[tuple[int, str, dict[str, Any]]]:
    return [(s, k, p) for s, k, p in stream
            if k in EXCHANGE_EVENTS and p["client_order_id"] == coid]


def one_wake(tmp_path: Path, venue: FakeExchange, url: str, *,
             before: Any = None) -> Stream:
    """Start the live fund, run one wake (``before`` it: a change to the venue), stop."""
    fund = LiveFund(write_config(tmp_path / "fund.toml", venue), url, venue)
    daemon = fund.start()
    if before is not None:
        before()
    try:
        daemon.wake_all()
    finally:
        fund.stop()
    return read(url)


def verified(url: str) -> Any:
    with open_journal(url) as store:
        return verify_stream(store, ACTOR)


# --- the daemon records them ----------------------------------------------------------------

def test_a_wakes_ack_and_fills_carry_exactly_the_placements_answer(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    stream = one_wake(tmp_path, venue, store_url)

    orders = intents(stream)
    assert len(orders) == 2  # BTC and ETH bought
    for coid in orders:
        [answer] = venue.replied("POST", "/api/v3/order", newClientOrderId=coid)
        events = events_of(stream, coid)
        assert [k for _, k, _ in events] == [ORDER_ACK, FILL]
        assert all(p["raw"] == [blob_digest(answer)] for _, _, p in events)
        assert blobs(store_url, [blob_digest(answer)]) == [answer]
        assert json.loads(answer)["clientOrderId"] == coid
    others = [k for _, k, p in stream if "raw" in p and k not in EXCHANGE_EVENTS]
    assert others == []
    assert verified(store_url).ok


def test_an_ambiguous_placement_carries_its_error_answer_and_the_lookup_its_own(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    stream = one_wake(tmp_path, venue, store_url,  # booked, then binance answers -1006
                      before=lambda: venue.inject(Fault("status", "after", 500)))

    first, second = intents(stream)
    [placement] = venue.replied("POST", "/api/v3/order", newClientOrderId=first)
    order_id = str(venue.order(first)["orderId"])
    lookup = (venue.replied("GET", "/api/v3/order", origClientOrderId=first)
              + venue.replied("GET", "/api/v3/myTrades", orderId=order_id))
    unsure, *found = events_of(stream, first)
    assert unsure[2]["ambiguous"] is True and json.loads(placement)["code"] == -1006
    assert unsure[2]["raw"] == [blob_digest(placement)]
    assert [k for _, k, _ in found] == [ORDER_ACK, FILL]
    assert len(lookup) == 2  # the order, then its trades: one lookup
    assert all(p["raw"] == [blob_digest(body) for body in lookup] for _, _, p in found)
    assert blobs(store_url, found[0][2]["raw"]) == lookup
    [not_sent] = events_of(stream, second)  # the wake sent no more: nothing was asked
    assert not_sent[1] == ORDER_REJECTED and "raw" not in not_sent[2]
    assert verified(store_url).ok


def test_an_order_called_dropped_carries_the_answers_that_said_no_such_order(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    stream = one_wake(tmp_path, venue, store_url,  # never booked, and binance answers -1006
                      before=lambda: venue.inject(Fault("status", "before", 500)))

    first, _ = intents(stream)
    lookups = venue.replied("GET", "/api/v3/order", origClientOrderId=first)
    unsure, dropped = events_of(stream, first)
    assert unsure[2]["ambiguous"] is True
    assert dropped[1] == ORDER_REJECTED and dropped[2]["source"] == "reconcile"
    assert lookups and all(json.loads(body)["code"] == -2013 for body in lookups)
    last = lookups[-1]  # the lookup after the validity window: the one that settled it
    assert dropped[2]["raw"][-1] == blob_digest(last)
    assert blobs(store_url, dropped[2]["raw"])[-1] == last
    assert verified(store_url).ok


def test_a_refused_order_carries_the_exchanges_error_answer(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    stream = one_wake(tmp_path, venue, store_url, before=lambda: venue.reset(
        prices={"BTCUSDT": D("40000"), "ETHUSDT": D("2000")}, balances={"USDT": D("1")}))

    for coid in intents(stream):
        [answer] = venue.replied("POST", "/api/v3/order", newClientOrderId=coid)
        [(_, kind, rejection)] = events_of(stream, coid)
        assert kind == ORDER_REJECTED and "ambiguous" not in rejection
        assert json.loads(answer)["code"] == -2010  # insufficient balance
        assert rejection["raw"] == [blob_digest(answer)]
        assert blobs(store_url, rejection["raw"]) == [answer]
    assert verified(store_url).ok


def test_an_answer_that_echoed_the_api_key_is_stored_with_the_key_blanked(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    # refused from the start: once a key has worked, ccxt reads binance's -2015 as a
    # temporary ban (the order's fate unknown, and the wake sends no more); never accepted,
    # it is an authentication refusal, and every order is sent and refused
    venue.refuse_key(KEY)
    stream = one_wake(tmp_path, venue, store_url)

    orders = intents(stream)
    assert len(orders) == 2
    for coid in orders:
        [answer] = venue.replied("POST", "/api/v3/order", newClientOrderId=coid)
        [(_, kind, rejection)] = events_of(stream, coid)
        assert kind == ORDER_REJECTED and "ambiguous" not in rejection
        [stored] = blobs(store_url, rejection["raw"])
        assert KEY.encode() in answer  # binance's 401 named the key...
        assert stored == answer.replace(KEY.encode(), b"***")  # ...the record does not
        assert b"Invalid API-key ***" in stored
    with tampering(store_url) as conn:
        stored_blobs = [bytes(row[0]) for row in conn.execute(
            text("SELECT data FROM journal_blobs"))]
    everything = b"".join(stored_blobs) + dumps([p for _, _, p in stream]).encode()
    assert KEY.encode() not in everything and SECRET.encode() not in everything
    assert verified(store_url).ok


def test_a_paper_wake_on_the_same_venue_records_no_raw_answers(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    cfg = load_config(write_config(tmp_path / "fund.toml", venue))
    with open_journal(store_url) as store:
        daemon = Daemon(cfg, store, cfg.daemon)  # no venue: paper fills at its prices
        try:
            daemon.wake_all()
        finally:
            daemon.release()
    stream = read(store_url)

    assert [k for _, k, _ in stream].count(FILL) == 2 and venue.posts() == []
    assert all("raw" not in p for _, _, p in stream)
    with tampering(store_url) as conn:
        assert conn.execute(text("SELECT count(*) FROM journal_blobs")).scalar() == 0
    assert verified(store_url).ok


# --- verify checks them -----------------------------------------------------------------------

@pytest.mark.parametrize("tamper", ["delete", "alter"])
def test_a_deleted_or_altered_raw_answer_fails_verify_at_its_entry(
        tmp_path: Path, venue: FakeExchange, store_url: str, tamper: str) -> None:
    stream = one_wake(tmp_path, venue, store_url)
    last = intents(stream)[-1]
    (ack_seq, _, ack), *_ = events_of(stream, last)
    [digest] = ack["raw"]
    assert verified(store_url).ok

    with tampering(store_url) as conn:
        if tamper == "delete":
            conn.execute(text("DELETE FROM journal_blobs WHERE digest = :d"), {"d": digest})
        else:
            assert replace_in_blob(conn, digest, '"FILLED"', '"EXPIRED"') == 1
    report = verified(store_url)

    assert not report.ok and report.seq == ack_seq
    assert report.error == (f"entry {ack_seq}: blob {digest} "
                            + ("is missing" if tamper == "delete" else "was altered"))


# --- the adapter hears them -------------------------------------------------------------------

def adapter_on(fake: FakeExchange) -> CcxtAdapter:
    return CcxtAdapter(exchange_id="binance", api_key=KEY, secret=SECRET,
                       urls={"api": fake.url}, sleep=Sleeps(), enable_rate_limit=False)


def heard(events: list[Event]) -> list[tuple[bytes, ...]]:
    return [answers(payload) for _, payload in events]


def test_a_lookup_hears_the_order_and_its_trades_and_a_retried_error_first(
        venue: FakeExchange) -> None:
    adapter_on(venue).submit(placed("buy", "0.1"), book())
    fresh = adapter_on(venue)  # its markets not loaded: that answer is not the order's
    venue.fail_next(429, path="/api/v3/order")  # the lookup's first try, not the markets'

    events = fresh.order_events(SYMBOL, COID, known_fill_ids=())

    order_id = str(venue.order(COID)["orderId"])
    refused, found = venue.replied("GET", "/api/v3/order", origClientOrderId=COID)
    [trades] = venue.replied("GET", "/api/v3/myTrades", orderId=order_id)
    [_, markets] = venue.replied("GET", "/api/v3/exchangeInfo")  # each adapter loaded them
    assert json.loads(refused)["code"] == -1003 and json.loads(found)["orderId"] == 1
    assert [k for k, _ in events] == [ORDER_ACK, FILL]
    assert heard(events) == [(refused, found, trades)] * 2
    assert all(markets not in answers for answers in heard(events))


def test_each_thread_hears_only_its_own_answers(venue: FakeExchange) -> None:
    adapter = adapter_on(venue)
    adapter.markets()
    venue.hang_next_order(5.0)  # the first order is booked, its answer held back...
    slow: list[Event] = []
    worker = threading.Thread(target=lambda: slow.extend(
        adapter.submit(placed("buy", "0.1", coid="af-slow"), book())))
    worker.start()
    while "af-slow" not in venue.placed:
        worker.join(0.02)

    fast = adapter.submit(placed("buy", "0.1", coid="af-fast"), book())  # meanwhile
    assert worker.is_alive()  # ...until let go, after the other order's answer
    venue.release.set()
    worker.join()

    for coid, events in (("af-slow", slow), ("af-fast", fast)):
        [answer] = venue.replied("POST", "/api/v3/order", newClientOrderId=coid)
        assert heard(events) == [(answer,), (answer,)]


def test_an_answered_payload_is_the_payload_and_paper_stays_without_raw() -> None:
    ack = entry(OrderAck(client_order_id="af-1", exchange_order_id="7", status="filled"))
    carried = Answered(ack[1], [b"{}"])

    assert carried == ack[1] and answers(carried) == (b"{}",) and answers(ack[1]) == ()
    assert "raw" not in ack[1]
    for payload in (OrderAck(client_order_id="af-1", exchange_order_id="7", status="filled",
                             raw=("ab",)),
                    Fill(client_order_id="af-1", fill_id="1", symbol=SYMBOL, side="buy",
                         amount=D(1), price=D(2), fee=D(0), fee_currency="USDT", raw=("ab",)),
                    OrderRejected(client_order_id="af-1", reason="no", source="exchange",
                                  raw=("ab", "cd"))):
        encoded = loads(dumps(payload.to_payload()))
        assert encoded["raw"] == list(payload.raw or ())
        assert type(payload).from_payload(encoded).to_payload()["raw"] == encoded["raw"]
