"""The ccxt adapter with the real ccxt binance client against a local fake exchange."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from fund.exchange.base import Event, PlacedOrder
from fund.exchange.ccxt_adapter import CcxtAdapter, VenueUnreachable
from fund.ledger import PortfolioView
from fund.markets import Market
from fund.messages import FILL, ORDER_ACK, ORDER_REJECTED, OrderIntent
from tests.integration.fake_exchange import FakeExchange

D = Decimal
API_KEY = "test-key-Zq81kVd0aPq7"
SECRET = "test-secret-Hs92mXc4eLw1"
SYMBOL = "BTC/USDT"
COID = "af-00000000000000000000000000001"


@pytest.fixture(scope="module")
def venue() -> Iterator[FakeExchange]:
    with FakeExchange() as server:
        yield server


@pytest.fixture()
def fake(venue: FakeExchange) -> FakeExchange:
    venue.reset(prices={"BTCUSDT": D("40000"), "ETHUSDT": D("2000")},
                balances={"USDT": D("100000"), "BTC": D("2")}, fee_rate=D("0.001"))
    return venue


class Sleeps(list[float]):
    """An injected sleep that records its delays instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture()
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture()
def adapter(fake: FakeExchange, sleeps: Sleeps) -> CcxtAdapter:
    return make_adapter(fake, sleeps)


def make_adapter(fake: FakeExchange, sleep: Sleeps, **kwargs: Any) -> CcxtAdapter:
    return CcxtAdapter(exchange_id="binance", api_key=API_KEY, secret=SECRET,
                       urls={"api": fake.url}, sleep=sleep, enable_rate_limit=False,
                       **kwargs)


def book(*, cash: str = "100000", held: str = "2", price: str | None = "40000") -> PortfolioView:
    prices = {} if price is None else {SYMBOL: D(price)}
    return PortfolioView(quote="USDT", cash=D(cash), positions=MappingProxyType({SYMBOL: D(held)}),
                         avg_costs=MappingProxyType({SYMBOL: D(0)}),
                         prices=MappingProxyType(prices), fees_paid=D(0))


def placed(side: str, amount: str, *, limit: str | None = None, coid: str = COID,
           mkt: Market | None = None) -> PlacedOrder:
    intent = OrderIntent(symbol=SYMBOL, side=side,  # type: ignore[arg-type]
                         amount=D(amount), order_type="limit" if limit else "market",
                         limit_price=None if limit is None else D(limit))
    return PlacedOrder(client_order_id=coid, intent=intent,
                       market=mkt or Market(symbol=SYMBOL, base="BTC", quote="USDT"))


def kinds(events: list[Event]) -> list[str]:
    return [kind for kind, _ in events]


# --- markets ------------------------------------------------------------------------------

def test_markets_load_once_and_precision_becomes_steps(adapter: CcxtAdapter,
                                                       fake: FakeExchange) -> None:
    markets = adapter.markets()
    adapter.markets()

    assert markets[SYMBOL] == Market(symbol=SYMBOL, base="BTC", quote="USDT",
                                     amount_step=D("0.00001"), price_step=D("0.01"),
                                     min_amount=D("0.00001"), min_notional=D("5"))
    assert markets["ETH/USDT"].amount_step == D("0.0001")
    assert [r.path for r in fake.requests] == ["/api/v3/exchangeInfo"]


# --- fills --------------------------------------------------------------------------------

def test_market_buy_is_acked_then_filled_exactly_as_the_exchange_reports(
        adapter: CcxtAdapter, fake: FakeExchange) -> None:
    fake.reset(balances={"USDT": D("100000")}, fee_rate=D("0.00075"),
               prices={"BTCUSDT": D("43210.12")})

    events = adapter.submit(placed("buy", "0.12345"), book(price="43210.12"))

    assert kinds(events) == [ORDER_ACK, FILL]
    ack, fill = events[0][1], events[1][1]
    order = fake.order(COID)
    assert ack == {"client_order_id": COID, "exchange_order_id": str(order["orderId"]),
                   "status": "filled"}
    trade = order["fills"][0]
    assert fill == {"client_order_id": COID, "fill_id": str(trade["id"]), "symbol": SYMBOL,
                    "side": "buy", "amount": D("0.12345"), "price": D("43210.12"),
                    "fee": D("4.0007169855"), "fee_currency": "USDT"}
    assert D(trade["commission"]) == fill["fee"]  # 0.12345 × 43210.12 × 0.00075, exactly
    assert all(isinstance(fill[k], Decimal) for k in ("amount", "price", "fee"))


def test_a_partly_filled_market_order_is_final_and_fills_less(adapter: CcxtAdapter,
                                                           fake: FakeExchange) -> None:
    fake.reset(balances={"USDT": D("100000")}, max_fill=D("0.3"))

    events = adapter.submit(placed("buy", "1"), book())

    assert kinds(events) == [ORDER_ACK, FILL]
    # the exchange expired the rest: the order is done, not still working (reconciliation
    # would otherwise ask about it forever)
    assert events[0][1]["status"] == "expired"
    assert events[1][1]["amount"] == D("0.3")


def test_amount_is_truncated_to_the_exchange_lot_before_sending(adapter: CcxtAdapter,
                                                                fake: FakeExchange) -> None:
    events = adapter.submit(placed("buy", "0.123456789"), book())

    assert fake.posts()[0].params["quantity"] == "0.12345"
    assert events[1][1]["amount"] == D("0.12345")


def test_limit_order_is_sent_immediate_or_cancel_at_the_rounded_price(
        adapter: CcxtAdapter, fake: FakeExchange) -> None:
    events = adapter.submit(placed("buy", "0.1", limit="40100.004"), book())

    params = fake.posts()[0].params
    assert (params["type"], params["price"], params["timeInForce"]) == ("LIMIT", "40100",
                                                                        "IOC")
    assert events[1][1]["price"] == D("40000")


def test_limit_order_away_from_the_market_expires_and_is_rejected(
        adapter: CcxtAdapter, fake: FakeExchange) -> None:
    events = adapter.submit(placed("buy", "0.1", limit="39000"), book())

    assert kinds(events) == [ORDER_REJECTED]
    assert "39000" in events[0][1]["reason"]
    assert fake.order(COID)["status"] == "EXPIRED"


def test_sell_is_capped_at_the_holding(adapter: CcxtAdapter, fake: FakeExchange) -> None:
    events = adapter.submit(placed("sell", "5"), book(held="1.5"))

    assert fake.posts()[0].params["quantity"] == "1.5"
    assert events[1][1]["amount"] == D("1.5")


# --- rejections ---------------------------------------------------------------------------

def test_insufficient_balance_is_rejected_by_the_exchange(adapter: CcxtAdapter,
                                                          fake: FakeExchange) -> None:
    fake.reset(balances={"USDT": D("100")})

    events = adapter.submit(placed("buy", "1"), book())

    assert kinds(events) == [ORDER_REJECTED]
    payload = events[0][1]
    assert payload["source"] == "exchange"
    assert "insufficient balance" in payload["reason"]
    assert "\n" not in payload["reason"]
    assert fake.placed == []


def test_min_notional_is_rejected_before_sending(adapter: CcxtAdapter,
                                                 fake: FakeExchange) -> None:
    events = adapter.submit(placed("buy", "0.0001"), book())  # 4 USDT < 5

    assert kinds(events) == [ORDER_REJECTED]
    assert events[0][1]["source"] == "adapter"
    assert "notional" in events[0][1]["reason"] and "5" in events[0][1]["reason"]
    assert fake.posts() == []


def test_unknown_symbol_is_rejected_before_sending(adapter: CcxtAdapter,
                                                   fake: FakeExchange) -> None:
    intent = OrderIntent(symbol="DOGE/USDT", side="buy", amount=D("1"))
    order = PlacedOrder(client_order_id=COID, intent=intent,
                        market=Market(symbol="DOGE/USDT", base="DOGE", quote="USDT"))

    events = adapter.submit(order, book())

    assert kinds(events) == [ORDER_REJECTED] and "DOGE/USDT" in events[0][1]["reason"]
    assert fake.posts() == []


def test_a_second_order_with_the_same_client_id_is_refused(adapter: CcxtAdapter,
                                                           fake: FakeExchange) -> None:
    adapter.submit(placed("buy", "0.1"), book())

    events = adapter.submit(placed("buy", "0.1"), book())

    assert kinds(events) == [ORDER_REJECTED] and "Duplicate" in events[0][1]["reason"]
    assert fake.placed == [COID]


# --- retries and ambiguity ----------------------------------------------------------------

def test_rate_limited_twice_then_placed_once(adapter: CcxtAdapter, fake: FakeExchange,
                                             sleeps: Sleeps) -> None:
    adapter.markets()
    fake.fail_next(429, times=2)

    events = adapter.submit(placed("buy", "0.1"), book())

    assert kinds(events) == [ORDER_ACK, FILL]
    assert sleeps == [0.5, 1.0]
    assert fake.placed == [COID]
    assert len(fake.posts()) == 3


def test_banned_418_then_placed(adapter: CcxtAdapter, fake: FakeExchange,
                                sleeps: Sleeps) -> None:
    adapter.markets()
    fake.fail_next(418)

    events = adapter.submit(placed("buy", "0.1"), book())

    assert kinds(events) == [ORDER_ACK, FILL] and sleeps == [0.5]


def test_timeout_after_the_exchange_accepted_finds_the_order_by_client_id(
        fake: FakeExchange, sleeps: Sleeps) -> None:
    adapter = make_adapter(fake, sleeps, timeout_ms=300)
    adapter.markets()
    fake.hang_next_order(3.0)

    events = adapter.submit(placed("buy", "0.1"), book())

    assert kinds(events) == [ORDER_ACK, FILL]
    trade = fake.order(COID)["fills"][0]
    assert events[1][1]["fill_id"] == str(trade["id"])
    assert events[1][1]["amount"] == D("0.1") and events[1][1]["fee"] == D("4")
    assert fake.placed == [COID]  # exactly one order with this client id, ever
    assert len(fake.posts()) == 1
    assert sleeps == [0.5]


def test_without_fetch_order_the_lookup_scans_the_orders(fake: FakeExchange,
                                                         sleeps: Sleeps) -> None:
    adapter = make_adapter(fake, sleeps, timeout_ms=300)
    adapter._exchange.has["fetchOrder"] = False
    adapter.markets()
    fake.hang_next_order(3.0)

    events = adapter.submit(placed("buy", "0.1"), book())

    assert kinds(events) == [ORDER_ACK, FILL]
    assert events[1][1]["fill_id"] == str(fake.order(COID)["fills"][0]["id"])
    assert "/api/v3/allOrders" in [r.path for r in fake.requests]
    assert fake.placed == [COID]


def test_a_refused_lookup_after_a_timeout_is_an_ambiguous_rejection(
        fake: FakeExchange) -> None:
    class DropKey(Sleeps):
        def __call__(self, seconds: float) -> None:
            live._exchange.apiKey = ""  # so that the lookup is refused (not a network error)

    live = make_adapter(fake, DropKey(), timeout_ms=300)
    live.markets()
    fake.hang_next_order(3.0)

    events = live.submit(placed("buy", "0.1"), book())

    assert kinds(events) == [ORDER_REJECTED]
    assert events[0][1]["ambiguous"] is True
    assert "apiKey" in events[0][1]["reason"]
    assert fake.placed == [COID]


def test_503_is_ambiguous_and_an_absent_order_is_sent_again(adapter: CcxtAdapter,
                                                            fake: FakeExchange) -> None:
    adapter.markets()
    fake.fail_next(503)
    before = len(fake.requests)

    events = adapter.submit(placed("buy", "0.1"), book())

    assert kinds(events) == [ORDER_ACK, FILL]
    paths = [(r.method, r.path) for r in fake.requests[before:]]
    assert paths == [("POST", "/api/v3/order"), ("GET", "/api/v3/order"),
                     ("POST", "/api/v3/order")]
    assert fake.placed == [COID]


def test_unreachable_after_the_retries_is_an_ambiguous_rejection(adapter: CcxtAdapter,
                                                                 fake: FakeExchange,
                                                                 sleeps: Sleeps) -> None:
    adapter.markets()
    fake.fail_next(503, times=10)

    events = adapter.submit(placed("buy", "0.1"), book())

    assert kinds(events) == [ORDER_REJECTED]
    payload = events[0][1]
    assert payload["reason"].startswith("exchange unreachable: ")
    assert payload["ambiguous"] is True
    assert sleeps == [0.5, 1.0, 2.0]
    assert fake.placed == []


def test_markets_unreachable_is_a_rejection_not_an_exception(adapter: CcxtAdapter,
                                                             fake: FakeExchange) -> None:
    fake.fail_next(503, times=10)

    events = adapter.submit(placed("buy", "0.1"), book())

    assert kinds(events) == [ORDER_REJECTED]
    assert "ambiguous" not in events[0][1]
    assert fake.posts() == []


# --- reconciliation -----------------------------------------------------------------------

def test_order_events_returns_only_fills_not_already_known(adapter: CcxtAdapter,
                                                           fake: FakeExchange) -> None:
    submitted = adapter.submit(placed("buy", "0.1"), book())
    fill_id = submitted[1][1]["fill_id"]

    fresh = adapter.order_events(SYMBOL, COID, known_fill_ids=set())
    known = adapter.order_events(SYMBOL, COID, known_fill_ids={fill_id})

    assert fresh == submitted
    assert known == [submitted[0]]


def test_order_events_of_an_unknown_order_is_empty(adapter: CcxtAdapter) -> None:
    assert adapter.order_events(SYMBOL, "af-never-placed", known_fill_ids=()) == []


def test_order_events_raises_when_unreachable(adapter: CcxtAdapter, fake: FakeExchange) -> None:
    adapter.markets()
    fake.fail_next(503, times=10)

    with pytest.raises(VenueUnreachable):
        adapter.order_events(SYMBOL, COID, known_fill_ids=())


def test_signed_endpoints_require_the_api_key_header(fake: FakeExchange) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(fake.url + "/api/v3/account?signature=any", timeout=5)
    public = urllib.request.urlopen(fake.url + "/api/v3/ping", timeout=5)

    assert refused.value.code == 401
    assert json.loads(refused.value.read())["code"] == -2014
    assert public.status == 200


# --- urls and secrets ---------------------------------------------------------------------

def test_urls_override_rewrites_every_entry_on_the_main_host(fake: FakeExchange) -> None:
    adapter = make_adapter(fake, Sleeps())
    urls = adapter._exchange.urls["api"]

    assert urls["public"] == fake.url + "/api/v3"
    assert urls["sapi"] == fake.url + "/sapi/v1"
    assert urls["fapiPublic"].startswith("https://fapi.binance.com")


def test_testnet_urls_by_origin() -> None:
    adapter = CcxtAdapter(exchange_id="binance", api_key=API_KEY, secret=SECRET,
                          urls={"https://api.binance.com": "https://testnet.binance.vision"})

    assert adapter._exchange.urls["api"]["private"] == "https://testnet.binance.vision/api/v3"


def test_key_and_secret_appear_in_no_output(fake: FakeExchange, sleeps: Sleeps) -> None:
    adapter = make_adapter(fake, sleeps, timeout_ms=300)
    outputs: list[Any] = [repr(adapter), str(adapter)]
    outputs.append(adapter.submit(placed("buy", "0.1"), book()))
    outputs.append(adapter.submit(placed("buy", "0.1"), book()))  # duplicate
    fake.reset(balances={"USDT": D("1")})
    outputs.append(adapter.submit(placed("buy", "1", coid="af-2"), book()))
    fake.fail_next(503, times=4)  # one answer per attempt
    outputs.append(adapter.submit(placed("buy", "0.1", coid="af-3"), book()))
    fake.fail_next(429, times=4)
    with pytest.raises(VenueUnreachable) as raised:
        adapter.order_events(SYMBOL, COID, known_fill_ids=())
    outputs += [str(raised.value), repr(raised.value)]
    fake.hang_next_order(3.0)
    outputs.append(adapter.submit(placed("buy", "0.1", coid="af-4"), book()))
    bad = CcxtAdapter(exchange_id="binance", api_key="", secret=SECRET,
                      urls={"api": fake.url}, sleep=sleeps, enable_rate_limit=False)
    outputs.append(bad.submit(placed("buy", "0.1", coid="af-5"), book()))

    text = repr(outputs)
    assert API_KEY not in text and SECRET not in text
    assert "apiKey" in text  # the client without a key refused to send, and said so
    assert all(SECRET not in repr(r) for r in fake.requests)
