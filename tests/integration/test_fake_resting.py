"""The fake exchanges work resting and stop orders as the real venues do, through the real
ccxt clients: each test runs with ccxt's binance client on the fake Binance and its okx
client on the fake OKX (stops: Binance only; OKX's are algo orders, not faked).

The fakes run on a clock the test holds (signed requests are judged at wall time, when
ccxt signs them), and the market moves when the test says so: ``move`` (one price, now) or
a served candle series that the exchange's clock runs through.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt  # type: ignore[import-untyped]
import pytest

from agentfund.oracles.exchange_candles import ExchangeOHLCV
from agentfund.oracles.exchange_prices import public_client
from tests.integration.fake_exchange import NOW_MS, wall_ms
from tests.integration.fake_venues import EXCHANGES, FakeVenue, fake_venue

D = Decimal
SYMBOL = "BTC/USDT"
MINUTE = 60_000
START = (NOW_MS // MINUTE + 1) * MINUTE  # a minute's open, after NOW_MS


class Clock:
    """The fakes' clock, set by the tests (milliseconds)."""

    def __init__(self) -> None:
        self.ms = NOW_MS

    def __call__(self) -> int:
        return self.ms


CLOCK = Clock()


class NoBlobs:
    def put_blob(self, data: bytes) -> str:
        raise AssertionError("market data needs no blobs")


@pytest.fixture(scope="module", params=EXCHANGES)
def running(request: pytest.FixtureRequest) -> Iterator[tuple[FakeVenue, Any]]:
    with fake_venue(request.param, clock=CLOCK, signing_clock=wall_ms) as venue:
        client = venue.client()
        client.load_markets()
        yield venue, client


@pytest.fixture()
def venue(running: tuple[FakeVenue, Any]) -> FakeVenue:
    CLOCK.ms = NOW_MS
    running[0].reset()
    return running[0]


@pytest.fixture()
def client(running: tuple[FakeVenue, Any], venue: FakeVenue) -> Any:
    return running[1]


def place(client: Any, coid: str, side: str, amount: str, price: str | None = None,
          **params: Any) -> dict[str, Any]:
    """Place an order through ccxt under this client id; the exchange's order, read back."""
    order = client.create_order(SYMBOL, "limit" if price else "market", side, amount, price,
                                {"clientOrderId": coid, **params})
    return client.fetch_order(order["id"], SYMBOL)  # type: ignore[no-any-return]


def read(client: Any, order: dict[str, Any]) -> dict[str, Any]:
    return client.fetch_order(order["id"], SYMBOL)  # type: ignore[no-any-return]


# --- resting limits ------------------------------------------------------------------------

def test_a_gtc_buy_below_the_market_rests_then_fills_at_its_limit_as_a_maker(
        venue: FakeVenue, client: Any) -> None:
    order = place(client, "rest1", "buy", "0.1", "39000")
    assert (order["status"], D(order["filled"])) == ("open", D(0))
    assert [o.client_id for o in venue.open_orders()] == ["rest1"]

    CLOCK.ms = NOW_MS + 5_000
    venue.move(SYMBOL, "38990")

    order = read(client, order)
    assert (order["status"], D(order["filled"]), D(order["average"])) == ("closed", D("0.1"),
                                                                          D(39000))
    (trade,) = client.fetch_order_trades(order["id"], SYMBOL)
    assert (D(trade["price"]), D(trade["amount"]), trade["takerOrMaker"]) == (
        D(39000), D("0.1"), "maker")
    assert (D(trade["fee"]["cost"]), trade["fee"]["currency"]) == (D("3.9"), "USDT")
    assert trade["timestamp"] == NOW_MS + 5_000  # the exchange's clock at the fill
    state = venue.order("rest1")
    assert (state.status, state.filled, state.trades[0].maker) == ("filled", D("0.1"), True)
    assert venue.balance("USDT") == (D("100000") - D("3900") - D("3.9"), D(0))
    assert venue.balance("BTC") == (D("2.1"), D(0))
    assert venue.open_orders() == []


def test_a_touch_at_the_limit_does_not_fill(venue: FakeVenue, client: Any) -> None:
    order = place(client, "touch1", "sell", "0.1", "41000")

    venue.move(SYMBOL, "41000")

    assert read(client, order)["status"] == "open"
    venue.move(SYMBOL, "41000.1")
    assert (read(client, order)["status"], venue.order("touch1").trades[0].price) == (
        "closed", D(41000))


def test_a_capped_fill_leaves_the_rest_working_until_the_market_comes_again(
        venue: FakeVenue, client: Any) -> None:
    venue.cap_fills(D("0.03"))
    order = place(client, "part1", "buy", "0.1", "39000")

    venue.move(SYMBOL, "38900")
    assert (read(client, order)["status"], D(read(client, order)["filled"])) == (
        "open", D("0.03"))
    assert venue.order("part1").status == "partially_filled"
    assert venue.order("part1").raw_status in ("PARTIALLY_FILLED", "partially_filled")
    assert [o.client_id for o in venue.open_orders()] == ["part1"]
    venue.move(SYMBOL, "38900")
    venue.cap_fills(None)
    venue.move(SYMBOL, "38900")

    order = read(client, order)
    assert (order["status"], D(order["filled"])) == ("closed", D("0.1"))
    assert [t.amount for t in venue.order("part1").trades] == [D("0.03"), D("0.03"), D("0.04")]


def test_a_marketable_gtc_limit_takes_now_and_rests_what_it_could_not(
        venue: FakeVenue, client: Any) -> None:
    venue.cap_fills(D("0.04"))
    order = place(client, "take1", "buy", "0.1", "40100")

    assert (order["status"], D(order["filled"])) == ("open", D("0.04"))
    (trade,) = venue.order("take1").trades
    assert (trade.price, trade.maker) == (D(40000), False)  # took at the market


# --- post-only and fill-or-kill ----------------------------------------------------------

def test_a_post_only_order_that_would_take_is_refused_or_cancelled(
        venue: FakeVenue, client: Any) -> None:
    if venue.exchange_id == "binance":  # LIMIT_MAKER: -2010, never booked
        with pytest.raises(ccxt.OrderImmediatelyFillable, match="immediately match and take"):
            place(client, "po1", "buy", "0.1", "40000", postOnly=True)
        assert venue.placed == []
    else:  # OKX books it, then cancels it (cancelSource 31)
        order = place(client, "po1", "buy", "0.1", "40000", postOnly=True)
        assert (order["status"], D(order["filled"]), order["info"]["cancelSource"]) == (
            "canceled", D(0), "31")
    assert venue.balance("USDT") == (D("100000"), D(0))


def test_a_post_only_order_away_from_the_market_rests_and_fills_as_a_maker(
        venue: FakeVenue, client: Any) -> None:
    order = place(client, "po2", "sell", "0.5", "40500", postOnly=True)
    assert order["status"] == "open"

    venue.move(SYMBOL, "40600")

    assert read(client, order)["status"] == "closed"
    assert [(t.price, t.maker) for t in venue.order("po2").trades] == [(D(40500), True)]


def test_a_fill_or_kill_not_wholly_fillable_ends_with_nothing_filled(
        venue: FakeVenue, client: Any) -> None:
    venue.cap_fills(D("0.05"))

    order = place(client, "fok1", "buy", "0.1", "40100", timeInForce="FOK")

    expected = "expired" if venue.exchange_id == "binance" else "canceled"
    assert (order["status"], D(order["filled"])) == (expected, D(0))
    assert venue.order("fok1").trades == ()
    assert venue.balance("USDT") == (D("100000"), D(0))
    venue.cap_fills(None)
    whole = place(client, "fok2", "buy", "0.1", "40100", timeInForce="FOK")
    assert (whole["status"], D(whole["filled"])) == ("closed", D("0.1"))


def test_a_fill_or_kill_away_from_the_market_ends_unfilled(
        venue: FakeVenue, client: Any) -> None:
    order = place(client, "fok3", "buy", "0.1", "39000", timeInForce="FOK")

    assert (order["status"], D(order["filled"])) in (("expired", D(0)), ("canceled", D(0)))
    venue.move(SYMBOL, "38000")
    assert venue.order("fok3").trades == ()


# --- stops (Binance) ---------------------------------------------------------------------

def binance_only(venue: FakeVenue) -> None:
    if venue.exchange_id != "binance":
        pytest.skip("stop orders on OKX are algo orders: not faked (refused by the adapter)")


def test_a_stop_loss_sell_waits_then_fills_at_the_market_when_the_price_drops_to_it(
        venue: FakeVenue, client: Any) -> None:
    binance_only(venue)
    order = place(client, "stop1", "sell", "0.5", stopLossPrice="39000")
    assert (order["status"], order["info"]["type"], D(order["info"]["stopPrice"])) == (
        "open", "STOP_LOSS", D(39000))
    assert order["info"]["isWorking"] is False
    assert venue.balance("BTC") == (D("1.5"), D("0.5"))  # held while it waits

    venue.move(SYMBOL, "39000.01")
    assert read(client, order)["status"] == "open"
    venue.move(SYMBOL, "38950")

    order = read(client, order)
    assert (order["status"], D(order["filled"]), D(order["average"])) == (
        "closed", D("0.5"), D(38950))
    assert venue.order("stop1").trades[0].maker is False
    assert venue.balance("BTC") == (D("1.5"), D(0))


def test_a_stop_limit_becomes_a_limit_at_its_price_when_triggered(
        venue: FakeVenue, client: Any) -> None:
    binance_only(venue)
    order = place(client, "stop2", "sell", "0.5", "38900", stopLossPrice="39000")
    assert (order["status"], order["info"]["type"]) == ("open", "STOP_LOSS_LIMIT")

    venue.move(SYMBOL, "38800")  # triggered at 38800: below its limit, it rests at 38900
    assert (read(client, order)["status"], venue.order("stop2").stop_price) == ("open",
                                                                               D(39000))
    assert read(client, order)["info"]["isWorking"] is True
    venue.move(SYMBOL, "38950")

    assert read(client, order)["status"] == "closed"
    assert [(t.price, t.maker) for t in venue.order("stop2").trades] == [(D(38900), True)]


def test_a_stop_that_would_trigger_at_once_is_refused(venue: FakeVenue, client: Any) -> None:
    binance_only(venue)
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="trigger immediately"):
        place(client, "stop3", "sell", "0.5", stopLossPrice="40000")


# --- cancels -----------------------------------------------------------------------------

def test_a_resting_order_is_cancelled_and_its_funds_freed(venue: FakeVenue,
                                                          client: Any) -> None:
    order = place(client, "cxl1", "buy", "0.2", "39000")
    assert venue.balance("USDT")[1] == D("7807.8")

    client.cancel_order(order["id"], SYMBOL)

    assert read(client, order)["status"] == "canceled"
    assert venue.balance("USDT") == (D("100000"), D(0))
    venue.move(SYMBOL, "38000")
    assert venue.order("cxl1").trades == ()


def test_cancelling_a_filled_order_is_the_exchanges_order_not_found(
        venue: FakeVenue, client: Any) -> None:
    order = place(client, "cxl2", "buy", "0.1")
    assert order["status"] == "closed"

    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order(order["id"], SYMBOL)
    rest = place(client, "cxl3", "buy", "0.1", "39000")
    client.cancel_order(rest["id"], SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):  # nor twice
        client.cancel_order(rest["id"], SYMBOL)
    code = "-2011" if venue.exchange_id == "binance" else "51400"
    assert code in venue.fake.replies[-1][2].decode()


def test_cancelling_a_partly_filled_order_keeps_its_fills(venue: FakeVenue,
                                                          client: Any) -> None:
    venue.cap_fills(D("0.03"))
    order = place(client, "cxl4", "buy", "0.1", "39000")
    venue.move(SYMBOL, "38000")

    client.cancel_order(order["id"], SYMBOL)

    order = read(client, order)
    assert (order["status"], D(order["filled"])) == ("canceled", D("0.03"))
    assert [t.amount for t in venue.order("cxl4").trades] == [D("0.03")]
    assert venue.balance("BTC") == (D("2.03"), D(0))


# --- locked funds ------------------------------------------------------------------------

def test_a_resting_order_locks_its_funds_and_a_second_cannot_spend_them(
        venue: FakeVenue, client: Any) -> None:
    venue.reset(balances={"USDT": D("10000"), "BTC": D("2")})
    place(client, "lock1", "buy", "0.2", "39000")

    balance = client.fetch_balance()
    assert (D(balance["USDT"]["free"]), D(balance["USDT"]["used"]),
            D(balance["USDT"]["total"])) == (D("2192.2"), D("7807.8"), D("10000"))
    with pytest.raises(ccxt.InsufficientFunds):
        place(client, "lock2", "buy", "0.1", "39000")
    place(client, "lock3", "sell", "1.5", "41000")
    with pytest.raises(ccxt.InsufficientFunds):
        place(client, "lock4", "sell", "1")
    assert venue.balance("BTC") == (D("0.5"), D("1.5"))


# --- history: the market runs on a served candle series -----------------------------------

def candles(*rows: tuple[str, str, str, str]) -> list[list[Any]]:
    """One-minute candles from START: (open, high, low, close), volume 2."""
    return [[START + i * MINUTE, *row, "2"] for i, row in enumerate(rows)]


def test_the_served_history_fills_a_resting_order_as_the_clock_passes_each_close(
        venue: FakeVenue, client: Any) -> None:
    venue.serve_history(SYMBOL, "1m", candles(
        ("40000", "40100", "38000", "40000"),  # opened before the order: not for it
        ("40000", "40050", "39000", "39500"),  # touches the limit only
        ("39500", "39600", "38900", "39100"),  # trades through it
        ("39100", "39200", "39000", "39150")))
    CLOCK.ms = START + 1_000
    order = place(client, "hist1", "buy", "0.1", "39000")

    CLOCK.ms = START + MINUTE
    assert read(client, order)["status"] == "open"
    assert D(client.fetch_ticker(SYMBOL)["last"]) == D(40000)
    CLOCK.ms = START + 2 * MINUTE
    assert read(client, order)["status"] == "open"
    assert D(client.fetch_ticker(SYMBOL)["last"]) == D(39500)
    CLOCK.ms = START + 3 * MINUTE + 30_000

    order = read(client, order)
    assert (order["status"], D(order["average"])) == ("closed", D(39000))
    (trade,) = venue.order("hist1").trades
    assert trade.maker
    assert client.fetch_order_trades(order["id"], SYMBOL)[0]["timestamp"] == CLOCK.ms
    assert D(client.fetch_ticker(SYMBOL)["last"]) == D(39100)  # the last closed candle's


def test_a_stop_in_the_history_triggers_at_the_open_when_the_market_gaps_through(
        venue: FakeVenue, client: Any) -> None:
    binance_only(venue)
    venue.serve_history(SYMBOL, "1m", candles(
        ("40000", "40100", "39500", "39600"),
        ("38500", "38700", "38000", "38600")))  # opens below the stop
    CLOCK.ms = START
    order = place(client, "hist2", "sell", "0.5", stopLossPrice="39000")

    CLOCK.ms = START + 2 * MINUTE

    order = read(client, order)
    assert (order["status"], D(order["average"])) == ("closed", D(38500))


def test_ccxt_fetch_ohlcv_gives_the_served_candles_and_the_one_forming(
        venue: FakeVenue, client: Any) -> None:
    rows = candles(("40000", "40100", "39900", "40050"), ("40050", "40200", "40000", "40150"),
                   ("40150", "40300", "40100", "40250"), ("40250", "40400", "40200", "40350"))
    venue.serve_history(SYMBOL, "1m", rows)
    CLOCK.ms = START + 3 * MINUTE + 10_000  # the fourth is forming

    got = client.fetch_ohlcv(SYMBOL, "1m", limit=10)
    since = client.fetch_ohlcv(SYMBOL, "1m", since=START + MINUTE, limit=2)

    assert [[r[0], *map(D, r[1:])] for r in got[:3]] == [[r[0], *map(D, r[1:])]
                                                         for r in rows[:3]]
    assert [got[3][0], *map(D, got[3][1:])] == [START + 3 * MINUTE, D(40250), D(40350),
                                                D(40250), D(40250), D(1)]
    assert [r[0] for r in since] == [START + MINUTE, START + 2 * MINUTE]
    oracle = ExchangeOHLCV("candles", [SYMBOL], public_client(
        venue.exchange_id, urls={"api": venue.fake.url}, rate_limit=False),
        timeframe="1m", count=2)
    observed = oracle.observe(datetime.fromtimestamp(CLOCK.ms / 1000, UTC), NoBlobs())
    assert [c["close"] for c in observed["candles"][SYMBOL]] == ["40150", "40250"]
