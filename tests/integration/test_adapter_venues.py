"""The ccxt adapter's contract, on every supported exchange: each test runs with the real
ccxt client of binance against the fake Binance, and of okx against the fake OKX.

The two APIs differ in shape (symbols ``BTCUSDT`` and ``BTC-USDT``, the client order id in
``newClientOrderId`` and in ``clOrdId`` (letters and digits only), signatures with and
without a passphrase, a placement that answers with its fills and one that answers with
ids only); the events the adapter reports must not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType

import pytest

from agentfund.oracles.exchange_prices import public_client
from fund.exchange.base import Event, PlacedOrder, answers
from fund.exchange.ccxt_adapter import VenueUnreachable
from fund.exchange.venues import venue as venue_of
from fund.ledger import PortfolioView
from fund.markets import Market
from fund.messages import FILL, ORDER_ACK, ORDER_REJECTED, OrderIntent
from tests.integration.fake_exchange import Fault
from tests.integration.fake_venues import PASSPHRASE, SECRET, FakeVenue

D = Decimal
SYMBOL = "BTC/USDT"
COID = "af-00000000000000000000000000001"


def book(*, cash: str = "100000", held: str = "2", price: str | None = "40000") -> PortfolioView:
    prices = {} if price is None else {SYMBOL: D(price)}
    return PortfolioView(quote="USDT", cash=D(cash), positions=MappingProxyType({SYMBOL: D(held)}),
                         avg_costs=MappingProxyType({SYMBOL: D(0)}),
                         prices=MappingProxyType(prices), fees_paid=D(0))


def placed(side: str, amount: str, *, limit: str | None = None, coid: str = COID,
           symbol: str = SYMBOL) -> PlacedOrder:
    intent = OrderIntent(symbol=symbol, side=side,  # type: ignore[arg-type]
                         amount=D(amount), order_type="limit" if limit else "market",
                         limit_price=None if limit is None else D(limit))
    base, _, quote = symbol.partition("/")
    return PlacedOrder(client_order_id=coid, intent=intent,
                       market=Market(symbol=symbol, base=base, quote=quote))


def kinds(events: list[Event]) -> list[str]:
    return [kind for kind, _ in events]


def on_venue(venue: FakeVenue, coid: str = COID) -> str:
    """The client order id as the exchange holds it."""
    return venue_of(venue.exchange_id).client_id(coid)


# --- fills ----------------------------------------------------------------------------------

def test_a_market_buy_is_acked_then_filled_exactly_as_the_exchange_recorded(
        venue: FakeVenue) -> None:
    venue.reset(prices={SYMBOL: D("43210.1")}, balances={"USDT": D("100000")},
                fee_rate=D("0.00075"))

    events = venue.adapter().submit(placed("buy", "0.12345"), book(price="43210.1"))

    assert kinds(events) == [ORDER_ACK, FILL]
    ack, fill = events[0][1], events[1][1]
    (trade,) = venue.trades(on_venue(venue))
    assert ack == {"client_order_id": COID, "exchange_order_id": venue.order_id(on_venue(venue)),
                   "status": "filled"}
    assert fill == {"client_order_id": COID, "fill_id": trade.trade_id, "symbol": SYMBOL,
                    "side": "buy", "amount": D("0.12345"), "price": D("43210.1"),
                    "fee": D("4.00071513375"), "fee_currency": "USDT"}
    assert trade.fee == fill["fee"]  # 0.12345 × 43210.1 × 0.00075, exactly
    assert all(isinstance(fill[k], Decimal) for k in ("amount", "price", "fee"))
    assert answers(events[0][1]) and answers(events[0][1]) == answers(events[1][1])


def test_a_partly_filled_market_order_is_final_and_fills_less(venue: FakeVenue) -> None:
    venue.reset(balances={"USDT": D("100000")}, max_fill=D("0.3"))

    events = venue.adapter().submit(placed("buy", "1"), book())

    assert kinds(events) == [ORDER_ACK, FILL]
    assert events[0][1]["status"] == "expired"  # done on the exchange, not still working
    assert events[1][1]["amount"] == D("0.3")


def test_a_marketable_ioc_limit_fills_at_the_market(venue: FakeVenue) -> None:
    events = venue.adapter().submit(placed("buy", "0.1", limit="40100"), book())

    assert kinds(events) == [ORDER_ACK, FILL]
    assert events[1][1]["price"] == D("40000") and events[1][1]["amount"] == D("0.1")


def test_an_ioc_limit_away_from_the_market_ends_unfilled_and_is_rejected(
        venue: FakeVenue) -> None:
    events = venue.adapter().submit(placed("buy", "0.1", limit="39000"), book())

    assert kinds(events) == [ORDER_REJECTED]
    assert "39000" in events[0][1]["reason"] and "IOC" in events[0][1]["reason"]
    assert venue.trades(on_venue(venue)) == []  # booked by the exchange, never filled


def test_a_sell_is_capped_at_the_holding(venue: FakeVenue) -> None:
    events = venue.adapter().submit(placed("sell", "5"), book(held="1.5"))

    assert events[1][1]["amount"] == D("1.5")
    assert [t.amount for t in venue.trades(on_venue(venue))] == [D("1.5")]


# --- refusals ---------------------------------------------------------------------------------

def test_insufficient_balance_is_a_final_rejection_from_the_exchange(venue: FakeVenue) -> None:
    venue.reset(balances={"USDT": D("100")})

    events = venue.adapter().submit(placed("buy", "1"), book())

    assert kinds(events) == [ORDER_REJECTED]
    payload = events[0][1]
    assert payload["source"] == "exchange" and "ambiguous" not in payload
    assert "insufficient" in payload["reason"].lower() and "\n" not in payload["reason"]
    assert venue.placed == [] and answers(payload)  # the refusal is kept


def test_an_unlisted_symbol_is_rejected_before_sending(venue: FakeVenue) -> None:
    events = venue.adapter().submit(placed("buy", "1", symbol="DOGE/USDT"), book())

    assert kinds(events) == [ORDER_REJECTED] and "DOGE/USDT" in events[0][1]["reason"]
    assert venue.sent() == []


def test_a_repeated_client_id_is_looked_up_not_taken_for_a_refusal(venue: FakeVenue) -> None:
    adapter = venue.adapter()
    adapter.submit(placed("buy", "0.1", limit="39000"), book())  # booked under COID

    events = adapter.submit(placed("buy", "0.1"), book())

    if venue.exchange_id == "binance":  # binance refuses a repeat among *open* orders only
        assert kinds(events) == [ORDER_ACK, FILL]
        return
    assert kinds(events) == [ORDER_REJECTED]
    assert events[0][1]["ambiguous"] is True  # an order with this id exists: look it up


def test_markets_unreachable_is_a_rejection_not_an_exception(venue: FakeVenue) -> None:
    venue.fail_next(503, times=10)

    events = venue.adapter(sleep=lambda s: None).submit(placed("buy", "0.1"), book())

    assert kinds(events) == [ORDER_REJECTED] and "ambiguous" not in events[0][1]
    assert venue.sent() == []


# --- one send, and ambiguity resolved by the client order id ---------------------------------

@pytest.mark.parametrize("fault", [
    Fault("status", "before", 500), Fault("status", "after", 500),
    Fault("status", "before", 429), Fault("status", "after", 429),
    Fault("drop", "before"), Fault("drop", "after"),
    Fault("hang", "after", seconds=2.0)], ids=str)
def test_an_answer_that_proves_nothing_is_ambiguous_and_settled_by_lookup(
        venue: FakeVenue, fault: Fault) -> None:
    adapter = venue.adapter(timeout_ms=400, sleep=lambda s: None)
    adapter.markets()
    venue.inject(fault)
    sent = datetime.now(UTC)

    events = adapter.submit(placed("buy", "0.1"), book())

    assert kinds(events) == [ORDER_REJECTED]
    payload = events[0][1]
    assert payload["ambiguous"] is True and payload["reason"].startswith("fate unknown: ")
    until = datetime.fromisoformat(payload["valid_until"].replace("Z", "+00:00"))
    assert until >= sent + adapter.validity  # not before the exchange stops accepting it
    assert venue.sent() == [on_venue(venue)]  # sent once
    booked = fault.when == "after"
    assert venue.placed == ([on_venue(venue)] if booked else [])
    found = adapter.order_events(SYMBOL, COID, known_fill_ids=())
    assert kinds(found) == ([ORDER_ACK, FILL] if booked else [])
    if booked:
        (trade,) = venue.trades(on_venue(venue))
        assert found[1][1]["fill_id"] == trade.trade_id and found[1][1]["amount"] == D("0.1")


def test_order_events_returns_only_fills_not_already_known(venue: FakeVenue) -> None:
    adapter = venue.adapter()
    submitted = adapter.submit(placed("buy", "0.1"), book())
    fill_id = submitted[1][1]["fill_id"]

    fresh = adapter.order_events(SYMBOL, COID, known_fill_ids=set())
    known = adapter.order_events(SYMBOL, COID, known_fill_ids={fill_id})

    assert fresh == submitted
    assert known == [submitted[0]]


def test_order_events_of_an_unknown_order_is_empty_and_says_why(venue: FakeVenue) -> None:
    found = venue.adapter().order_events(SYMBOL, "af-never-placed", known_fill_ids=())

    assert found == [] and answers(found)  # the exchange's "no such order" is kept


def test_order_events_raises_when_unreachable(venue: FakeVenue) -> None:
    adapter = venue.adapter(sleep=lambda s: None)
    adapter.markets()
    venue.fail_next(503, times=10)

    with pytest.raises(VenueUnreachable):
        adapter.order_events(SYMBOL, COID, known_fill_ids=())


# --- balances, tickers, clock -----------------------------------------------------------------

def test_balances_are_the_exchanges_totals_exactly(venue: FakeVenue) -> None:
    venue.reset(balances={"USDT": D("1234.56789012"), "BTC": D("0.00000001")})

    assert venue.adapter().balances() == {"BTC": D("0.00000001"), "USDT": D("1234.56789012")}


def test_tickers_give_the_last_prices_exactly(venue: FakeVenue) -> None:
    venue.reset(prices={SYMBOL: D("43210.1"), "ETH/USDT": D("2345.67")})
    client = public_client(venue.exchange_id, urls={"api": venue.fake.url}, rate_limit=False)

    tickers = client.fetch_tickers([SYMBOL, "ETH/USDT"])

    assert {s: D(t["last"]) for s, t in tickers.items()} == {SYMBOL: D("43210.1"),
                                                            "ETH/USDT": D("2345.67")}
    assert all(isinstance(t["timestamp"], int) for t in tickers.values())


def test_the_clock_offset_is_measured(venue: FakeVenue) -> None:
    venue.fake.skew_ms = -3_000
    try:
        offset = venue.adapter().clock_offset()
    finally:
        venue.fake.skew_ms = 0

    assert -3.5 < offset.total_seconds() < -2.5


# --- okx's own: a passphrase, and a client order id of letters and digits ---------------------

@pytest.fixture()
def okx(running: FakeVenue) -> FakeVenue:
    if running.exchange_id != "okx":
        pytest.skip("okx only")
    running.reset()
    return running


def test_okx_gets_the_client_order_id_without_its_dashes(okx: FakeVenue) -> None:
    events = okx.adapter().submit(placed("buy", "0.1"), book())

    assert okx.sent() == ["af00000000000000000000000000001"]
    assert events[0][1]["client_order_id"] == COID  # the journal keeps agentfund's id


def test_okx_refuses_a_wrong_passphrase_and_it_is_never_shown(okx: FakeVenue) -> None:
    from fund.exchange.ccxt_adapter import CcxtAdapter
    from tests.integration.fake_venues import API_KEY

    adapter = CcxtAdapter(exchange_id="okx", api_key=API_KEY, secret=SECRET,
                          password="not-the-passphrase", urls={"api": okx.fake.url},
                          enable_rate_limit=False)

    events = adapter.submit(placed("buy", "0.1"), book())

    assert kinds(events) == [ORDER_REJECTED] and "ambiguous" not in events[0][1]
    assert "50105" in events[0][1]["reason"]
    assert okx.placed == []
    text = repr(events) + repr([answers(p) for _, p in events])
    assert "not-the-passphrase" not in text and PASSPHRASE not in text and SECRET not in text


def test_okx_refuses_a_request_stamped_too_long_ago(okx: FakeVenue) -> None:
    adapter = okx.adapter()
    adapter.markets()
    okx.fake.skew_ms = 31_000  # the exchange's clock 31 s ahead: every timestamp is stale
    try:
        events = adapter.submit(placed("buy", "0.1"), book())
    finally:
        okx.fake.skew_ms = 0

    assert kinds(events) == [ORDER_REJECTED] and "ambiguous" not in events[0][1]
    assert "50102" in events[0][1]["reason"]


def test_okx_fills_that_cannot_be_read_back_leave_the_order_to_reconciliation(
        okx: FakeVenue) -> None:
    adapter = okx.adapter(sleep=lambda s: None)
    adapter.markets()
    okx.fake.fail_next(503, times=10, path="/api/v5/trade/fills-history")

    events = adapter.submit(placed("buy", "0.1"), book())
    okx.fake.faults.clear()  # the exchange answers again
    found = adapter.order_events(SYMBOL, COID, known_fill_ids=())

    assert kinds(events) == [ORDER_REJECTED] and events[0][1]["ambiguous"] is True
    assert "placed as order" in events[0][1]["reason"] and okx.placed == [on_venue(okx)]
    assert kinds(found) == [ORDER_ACK, FILL]  # the lookup settles it, sent once
    assert okx.sent() == [on_venue(okx)]
