"""The ccxt adapter with the real ccxt binance client against a local fake exchange: what
is binance's own (its request fields, -1006, recvWindow, URL overrides). The contract every
exchange passes is in test_adapter_venues.py."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from fund.exchange.base import Event, PlacedOrder
from fund.exchange.ccxt_adapter import CcxtAdapter, VenueRefused, VenueUnreachable
from fund.ledger import PortfolioView
from fund.markets import Market
from fund.messages import FILL, ORDER_ACK, ORDER_REJECTED, OrderIntent
from tests.integration.fake_exchange import FakeExchange, Fault

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


# --- binance's own shape --------------------------------------------------------------------

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


def test_min_notional_is_rejected_before_sending(adapter: CcxtAdapter,
                                                 fake: FakeExchange) -> None:
    events = adapter.submit(placed("buy", "0.0001"), book())  # 4 USDT < 5

    assert kinds(events) == [ORDER_REJECTED]
    assert events[0][1]["source"] == "adapter"
    assert "notional" in events[0][1]["reason"] and "5" in events[0][1]["reason"]
    assert fake.posts() == []


def test_binance_minus_1006_execution_status_unknown_is_ambiguous(fake: FakeExchange,
                                                                  sleeps: Sleeps) -> None:
    adapter = make_adapter(fake, sleeps)
    adapter.markets()
    fake.inject(Fault("status", "after", 500, code=-1006))

    events = adapter.submit(placed("buy", "0.1"), book())

    assert events[0][1]["ambiguous"] is True and "Execution status unknown" in \
        events[0][1]["reason"]
    assert kinds(adapter.order_events(SYMBOL, COID, known_fill_ids=())) == [ORDER_ACK, FILL]


def test_an_order_held_up_on_the_way_lands_within_its_window(fake: FakeExchange,
                                                             sleeps: Sleeps) -> None:
    adapter = make_adapter(fake, sleeps, timeout_ms=300, validity_ms=5_000)
    adapter.markets()
    fake.inject(Fault("hang", "before", seconds=1.0))

    events = adapter.submit(placed("buy", "0.1"), book())
    nothing_yet = adapter.order_events(SYMBOL, COID, known_fill_ids=())
    time.sleep(1.3)  # the fake processes the held request now: within the window
    landed = adapter.order_events(SYMBOL, COID, known_fill_ids=())

    assert events[0][1]["ambiguous"] is True
    assert nothing_yet == [] and kinds(landed) == [ORDER_ACK, FILL]


def test_an_order_held_up_past_its_window_is_refused_by_the_exchange(fake: FakeExchange,
                                                                     sleeps: Sleeps) -> None:
    adapter = make_adapter(fake, sleeps, timeout_ms=300, validity_ms=500)
    adapter.markets()
    fake.inject(Fault("hang", "before", seconds=1.0))

    adapter.submit(placed("buy", "0.1"), book())
    time.sleep(1.3)

    assert fake.placed == [] and adapter.order_events(SYMBOL, COID, known_fill_ids=()) == []
    assert [r.params["recvWindow"] for r in fake.posts()] == ["500"]


def test_an_expired_signature_proves_refusal(fake: FakeExchange, sleeps: Sleeps) -> None:
    adapter = make_adapter(fake, sleeps)
    adapter.markets()
    fake.skew_ms = 60_000  # the exchange's clock a minute ahead: every signature is stale

    events = adapter.submit(placed("buy", "0.1"), book())

    assert kinds(events) == [ORDER_REJECTED] and "ambiguous" not in events[0][1]
    assert "recvWindow" in events[0][1]["reason"]


def test_the_clock_offset_is_measured_and_widens_the_window(fake: FakeExchange,
                                                            sleeps: Sleeps) -> None:
    adapter = make_adapter(fake, sleeps)
    fake.skew_ms = -3_000  # the exchange runs 3 s behind: it accepts orders 3 s longer
    offset = adapter.clock_offset()
    sent = datetime.now(UTC)

    until = adapter.settles_after(sent)

    assert timedelta(seconds=-3.5) < offset < timedelta(seconds=-2.5)
    assert until - sent >= adapter.validity + timedelta(seconds=3)


def test_an_order_answered_under_another_client_id_is_not_taken(adapter: CcxtAdapter,
                                                                fake: FakeExchange) -> None:
    adapter.submit(placed("buy", "0.1", coid="af-someone-else"), book())
    other = json.dumps(fake._order_json(fake.order("af-someone-else"))).encode()
    fake.serve_raw("/api/v3/order", other)

    assert adapter.order_events(SYMBOL, COID, known_fill_ids=()) == []


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
    fake.refuse_key(API_KEY)  # binance's 401 names the key it refused
    outputs.append(adapter.submit(placed("buy", "0.1", coid="af-6"), book()))
    with pytest.raises((VenueRefused, VenueUnreachable)) as refused:
        adapter.balances()
    outputs += [str(refused.value), repr(refused.value)]
    bad = CcxtAdapter(exchange_id="binance", api_key="", secret=SECRET,
                      urls={"api": fake.url}, sleep=sleeps, enable_rate_limit=False)
    outputs.append(bad.submit(placed("buy", "0.1", coid="af-5"), book()))

    text = repr(outputs)
    assert "Invalid API-key ***" in text  # the echo was there, and blanked
    assert API_KEY not in text and SECRET not in text
    assert "apiKey" in text  # the client without a key refused to send, and said so
    assert all(SECRET not in repr(r) for r in fake.requests)
