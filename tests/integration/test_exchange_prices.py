"""Live prices through the real ccxt client from the fake exchange on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from fund.actor import ActorSpec
from fund.canonical import loads
from fund.clock import SimulatedClock
from fund.exchange.paper import PaperAdapter
from fund.journal import JournalWriter, open_journal
from fund.markets import Market
from fund.runtime import ActorRuntime
from fund.strategy import FundTerms, parse_params, strategy_class
from fund.verify import verify_stream
from oracles.base import OracleError
from oracles.exchange_prices import ExchangePrices, public_client
from tests.integration.fake_exchange import FakeExchange

D = Decimal
AT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # the fake exchange's clock


class NoBlobs:
    def put_blob(self, data: bytes) -> str:
        raise AssertionError("prices need no blobs")


@pytest.fixture
def venue() -> Iterator[FakeExchange]:
    with FakeExchange() as exchange:
        exchange.reset(prices={"BTCUSDT": D("43210.57"), "ETHUSDT": D("2234.1")})
        yield exchange


def client(venue: FakeExchange) -> Any:
    return public_client("binance", urls={"api": venue.url}, timeout_ms=3000)


def test_prices_are_the_exchanges_exact_decimals(venue: FakeExchange) -> None:
    oracle = ExchangePrices("prices", ["BTC/USDT", "ETH/USDT"], client(venue))

    prices = oracle.observe(AT, NoBlobs())["prices"]

    assert prices["BTC/USDT"]["price"] == "43210.57"
    assert prices["ETH/USDT"]["price"] == "2234.1"
    assert prices["BTC/USDT"]["time"] == "2023-11-14T22:13:20.000000Z"
    assert [r.path for r in venue.requests if "ticker" in r.path]  # it asked the exchange


def test_an_unquoted_market_is_left_out_and_none_is_an_error(venue: FakeExchange) -> None:
    venue.reset(prices={"BTCUSDT": D("43000"), "ETHUSDT": None})

    partial = ExchangePrices("prices", ["BTC/USDT", "ETH/USDT"], client(venue)).observe(
        AT, NoBlobs())
    with pytest.raises(OracleError, match="no usable price"):
        ExchangePrices("prices", ["ETH/USDT"], client(venue)).observe(AT, NoBlobs())

    assert set(partial["prices"]) == {"BTC/USDT"}


def test_an_unavailable_exchange_is_a_one_line_oracle_error(venue: FakeExchange) -> None:
    oracle = ExchangePrices("prices", ["BTC/USDT"], client(venue))
    oracle.client.load_markets()
    venue.fail_next(503, times=5)

    with pytest.raises(OracleError) as caught:
        oracle.observe(AT, NoBlobs())

    assert str(caught.value).startswith("binance: ExchangeNotAvailable")
    assert "\n" not in str(caught.value)


def test_a_paper_wake_on_live_prices_fills_at_them_and_verifies(venue: FakeExchange,
                                                                journal_url: str) -> None:
    cls = strategy_class("rebalance")
    params = parse_params(cls, {"weights": {"BTC/USDT": "0.5", "ETH/USDT": "0.25"}})
    terms = FundTerms(quote="USDT", fee_rate=D("0.001"), slippage_bps=D(0))
    spec = ActorSpec(actor_id="live-paper", strategy="rebalance", params=params,
                     cron="* * * * *", terms=terms, mode="paper",
                     markets={s: Market.parse(s) for s in ("BTC/USDT", "ETH/USDT")})
    journal = open_journal(journal_url)
    writer = JournalWriter(journal, spec.actor_id)
    runtime = ActorRuntime(
        spec=spec, writer=writer, clock=SimulatedClock(AT),
        oracles={"prices": ExchangePrices("prices", list(spec.markets), client(venue))},
        adapter=PaperAdapter(fee_rate=terms.fee_rate, slippage_bps=terms.slippage_bps,
                             durable_intents=True))
    runtime.open(D(10_000))

    runtime.wake(AT)
    writer.flush()

    fills = [loads(e.payload) for e in journal.read(spec.actor_id) if e.kind == "Fill"]
    assert {(f["symbol"], f["price"]) for f in fills} == {("BTC/USDT", "43210.57"),
                                                          ("ETH/USDT", "2234.1")}
    assert abs(D(fills[0]["amount"]) * D(fills[0]["price"]) - D(5000)) < D("1e-20")
    assert venue.posts() == []  # paper: nothing was sent to the exchange
    assert verify_stream(journal, spec.actor_id).ok
    journal.close()


def test_actors_sharing_tickers_make_one_request_per_snapshot(venue: FakeExchange) -> None:
    from oracles.exchange_prices import SharedTickers

    now = [100.0]
    shared = SharedTickers(client(venue), max_age=0.5, clock=lambda: now[0])
    btc = ExchangePrices("prices", ["BTC/USDT"], shared)
    eth = ExchangePrices("prices", ["ETH/USDT"], shared)
    btc.observe(AT, NoBlobs())  # first request: BTC only
    before = sum("ticker" in r.path for r in venue.requests)

    eth.observe(AT, NoBlobs())  # ETH not in the snapshot yet: one more request, both symbols
    btc.observe(AT, NoBlobs())  # within 0.5 s: served from the snapshot
    now[0] += 0.6
    eth.observe(AT, NoBlobs())  # stale: a new request

    assert sum("ticker" in r.path for r in venue.requests) - before == 2
