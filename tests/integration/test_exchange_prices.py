"""Live prices through the real ccxt client from the fake exchange on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from agentfund.oracles.base import OracleError
from agentfund.oracles.exchange_prices import ExchangePrices, public_client
from fund.actor import ActorSpec
from fund.canonical import format_ts, loads, parse_ts
from fund.clock import WallClock
from fund.exchange.paper import PaperAdapter
from fund.journal import JournalWriter, open_journal
from fund.markets import Market
from fund.runtime import ActorRuntime
from fund.strategy import FundTerms, parse_params, strategy_class
from fund.verify import verify_stream
from tests.fixtures.tamper import forge
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


def venue_ts(ms: int) -> str:
    return format_ts(datetime.fromtimestamp(ms / 1000, UTC))


def test_prices_are_the_exchanges_exact_decimals(venue: FakeExchange) -> None:
    oracle = ExchangePrices("prices", ["BTC/USDT", "ETH/USDT"], client(venue))
    oracle.client.load_markets()

    before = venue_ts(venue.now_ms())
    prices = oracle.observe(AT, NoBlobs())["prices"]
    after = venue_ts(venue.now_ms())

    assert prices["BTC/USDT"]["price"] == "43210.57"
    assert prices["ETH/USDT"]["price"] == "2234.1"
    # stamped by the exchange's clock when it answered (binance's closeTime)
    assert before <= prices["BTC/USDT"]["time"] <= after
    assert [r.path for r in venue.requests if "ticker" in r.path]  # it asked the exchange


@pytest.mark.parametrize("skew_ms", [0, 800, -800])
def test_the_exchanges_clock_offset_is_measured_and_recorded(skew_ms: int) -> None:
    with FakeExchange(skew_ms=skew_ms) as venue:
        data = ExchangePrices("prices", ["BTC/USDT"], client(venue)).observe(AT, NoBlobs())

    clock = data["clock"]
    assert abs(clock["offset_ms"] - skew_ms) <= clock["uncertainty_ms"] + 5
    assert 0 < clock["uncertainty_ms"] < 1000


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


def paper_wake(venue: FakeExchange, journal_url: str) -> tuple[Any, str]:
    """One paper wake of the rebalancer on the wall clock, as the daemon runs it."""
    cls = strategy_class("rebalance")
    params = parse_params(cls, {"weights": {"BTC/USDT": 0.5, "ETH/USDT": 0.25}})
    terms = FundTerms(quote="USDT", fee_rate=D("0.001"), slippage_bps=D(0))
    spec = ActorSpec(actor_id="live-paper", strategy="rebalance", params=params,
                     cron="* * * * *", terms=terms, mode="paper",
                     markets={s: Market.parse(s) for s in ("BTC/USDT", "ETH/USDT")})
    journal = open_journal(journal_url)
    writer = JournalWriter(journal, spec.actor_id)
    clock = WallClock()
    runtime = ActorRuntime(
        spec=spec, writer=writer, clock=clock, wake_budget=timedelta(seconds=10),
        oracles={"prices": ExchangePrices("prices", list(spec.markets), client(venue))},
        adapter=PaperAdapter(fee_rate=terms.fee_rate, slippage_bps=terms.slippage_bps,
                             durable_intents=True))
    runtime.open(D(10_000))
    runtime.wake(clock.now())
    writer.flush()
    return journal, spec.actor_id


@pytest.mark.parametrize("skew_ms", [0, 800, -800])
def test_a_paper_wake_on_live_prices_fills_at_them_and_verifies(skew_ms: int,
                                                                journal_url: str) -> None:
    # the exchange stamps its answer with its own clock: after the wake began, and here
    # up to 800 ms ahead of ours; an honest journal must verify all the same
    with FakeExchange(skew_ms=skew_ms) as venue:
        venue.reset(prices={"BTCUSDT": D("43210.57"), "ETHUSDT": D("2234.1")})
        journal, actor = paper_wake(venue, journal_url)

    entries = list(journal.read(actor))
    observed = next(loads(e.payload) for e in entries if e.kind == "Observation")
    fills = [loads(e.payload) for e in entries if e.kind == "Fill"]
    assert {(f["symbol"], f["price"]) for f in fills} == {("BTC/USDT", "43210.57"),
                                                          ("ETH/USDT", "2234.1")}
    assert abs(D(fills[0]["amount"]) * D(fills[0]["price"]) - D(5000)) < D("1e-20")
    assert venue.posts() == []  # paper: nothing was sent to the exchange
    assert observed["received"] >= observed["as_of"]  # when the answer arrived, recorded
    report = verify_stream(journal, actor)
    journal.close()
    assert report.ok, report.error


def test_a_price_stamped_after_its_arrival_is_look_ahead(store_url: str) -> None:
    with FakeExchange(skew_ms=800) as venue:
        journal, actor = paper_wake(venue, store_url)
    entry = next(e for e in journal.read(actor) if e.kind == "Observation")
    journal.close()
    payload = loads(entry.payload)
    clock = payload["data"]["clock"]
    allowed = parse_ts(payload["received"]) + timedelta(
        milliseconds=clock["offset_ms"] + clock["uncertainty_ms"])
    payload["data"]["prices"]["BTC/USDT"]["time"] = format_ts(allowed + timedelta(
        milliseconds=2))
    forge(store_url, actor, entry.seq, payload)

    with open_journal(store_url) as store:
        report = verify_stream(store, actor)

    assert not report.ok and report.seq == entry.seq
    assert "look-ahead: BTC/USDT price" in (report.error or "")


def test_actors_sharing_tickers_make_one_request_per_snapshot(venue: FakeExchange) -> None:
    from agentfund.oracles.exchange_prices import SharedTickers

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
