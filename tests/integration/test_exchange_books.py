"""Order books and candles through the real ccxt client from the fake exchange on 127.0.0.1,
and paper wakes that walk the recorded book, verified (and caught when tampered)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from agentfund.oracles.base import Oracle, OracleError
from agentfund.oracles.exchange_books import ExchangeOrderBook
from agentfund.oracles.exchange_candles import ExchangeOHLCV
from agentfund.oracles.exchange_prices import ExchangePrices, public_client
from fund.actor import ActorSpec
from fund.canonical import loads
from fund.clock import SimulatedClock
from fund.exchange.paper import PaperAdapter
from fund.journal import JournalWriter, open_journal
from fund.markets import Market
from fund.runtime import ActorRuntime
from fund.strategy import FundTerms, parse_params, strategy_class
from fund.verify import verify_stream
from tests.fixtures.tamper import forge, tampering
from tests.integration.fake_exchange import NOW_MS, FakeExchange, frozen

D = Decimal
AT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # the fake exchange's clock (NOW_MS)
HOUR = 3_600_000
ACTOR = "book-paper"


class NoBlobs:
    def put_blob(self, data: bytes) -> str:
        raise AssertionError("market data needs no blobs")


@pytest.fixture
def venue() -> Iterator[FakeExchange]:
    # these tests judge exact instants against a wake at AT: the exchange's clock stands
    # still there, as the test's own (simulated) clock does
    with FakeExchange(clock=frozen(NOW_MS)) as exchange:
        exchange.reset(prices={"BTCUSDT": D("40000"), "ETHUSDT": D("2000")})
        yield exchange


def client(venue: FakeExchange) -> Any:
    return public_client("binance", urls={"api": venue.url}, timeout_ms=3000)


# --- the order-book oracle -----------------------------------------------------------------

def test_a_book_is_recorded_as_served_sorted_by_price_and_capped(venue: FakeExchange) -> None:
    # the fake serves the first ``limit`` rows as given: here, out of order
    venue.set_book("BTCUSDT", time_ms=NOW_MS - 250,
                   bids=[("9.5", "1"), ("10.00000000", "2.50000000"), ("9.99", "0"), ("8", "4")],
                   asks=[("11", "1"), ("10.5", "3"), ("100", "0.001"), ("12", "2")])
    oracle = ExchangeOrderBook("book", ["BTC/USDT"], client(venue), depth=3)

    data = oracle.observe(AT, NoBlobs())

    book = data["books"]["BTC/USDT"]
    # the exchange's text, numerically best first ("9.5" > "10" and "100" < "11" as text),
    # zero amounts dropped
    assert book["bids"] == [["10.00000000", "2.50000000"], ["9.5", "1"]]
    assert book["asks"] == [["10.5", "3"], ["11", "1"], ["100", "0.001"]]
    assert book["time"] == "2023-11-14T22:13:19.750000Z"
    assert isinstance(book["nonce"], int)
    depth_requests = [r for r in venue.requests if r.path == "/api/v3/depth"]
    assert [r.params for r in depth_requests] == [{"symbol": "BTCUSDT", "limit": "3"}]


def test_a_book_deeper_than_asked_is_cut_to_the_depth(venue: FakeExchange) -> None:
    venue.serve_raw("/api/v3/depth", b'{"lastUpdateId": 7, "bids": [["5", "1"], ["4", "1"], '
                                      b'["3", "1"]], "asks": [["6", "1"], ["7", "1"]]}')

    data = ExchangeOrderBook("book", ["BTC/USDT"], client(venue), depth=2).observe(
        AT, NoBlobs())

    assert data["books"]["BTC/USDT"] == {"bids": [["5", "1"], ["4", "1"]],
                                         "asks": [["6", "1"], ["7", "1"]], "nonce": 7}


@pytest.mark.parametrize(("body", "says"), [
    (b"<html>maintenance</html>", "no bids and no asks"),
    (b'{"lastUpdateId": 1, "bids": [["abc", "1"]], "asks": []}', "bid price 'abc'"),
    (b'{"lastUpdateId": 1, "bids": [], "asks": [["100", "-2"]]}', "ask amount '-2'"),
    (b'{"lastUpdateId": 1, "bids": [["0", "1"]], "asks": []}', "bid price '0'"),
    (b'{"lastUpdateId": 1, "bids": [["NaN", "1"]], "asks": []}', "bid price 'NaN'"),
])
def test_a_garbled_book_is_a_one_line_error_naming_the_market(
        venue: FakeExchange, body: bytes, says: str) -> None:
    venue.serve_raw("/api/v3/depth", body)
    oracle = ExchangeOrderBook("book", ["BTC/USDT"], client(venue))

    with pytest.raises(OracleError) as caught:
        oracle.observe(AT, NoBlobs())

    assert str(caught.value).startswith("binance: BTC/USDT: bad order book: ")
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_an_unreachable_exchange_is_a_one_line_error(venue: FakeExchange) -> None:
    oracle = ExchangeOrderBook("book", ["ETH/USDT"], client(venue))
    oracle.source.client.load_markets()
    venue.fail_next(503, times=5)

    with pytest.raises(OracleError) as caught:
        oracle.observe(AT, NoBlobs())

    assert str(caught.value).startswith("binance: ETH/USDT: ExchangeNotAvailable")
    assert "\n" not in str(caught.value)


# --- the OHLCV oracle ------------------------------------------------------------------------

def test_candles_are_the_last_closed_ones_exactly(venue: FakeExchange) -> None:
    venue.set_candles("BTCUSDT", [
        (NOW_MS - 3 * HOUR, "41000.01", "41500", "40900.5", "41200.10", "12.5"),
        (NOW_MS - 2 * HOUR, "41200.10", "41300", "40000", "40100.00", "20"),
        (NOW_MS - HOUR, "40100.00", "40200", "39900", "40050.5", "0"),  # closes at the wake
        (NOW_MS, "40001", "40001", "40001", "40001", "1"),  # forming
    ])
    oracle = ExchangeOHLCV("candles", ["BTC/USDT", "ETH/USDT"], client(venue), timeframe="1h",
                           count=2)

    data = oracle.observe(AT, NoBlobs())

    assert data["timeframe"] == "1h"
    assert data["candles"]["BTC/USDT"] == [
        {"time": "2023-11-14T20:13:20.000000Z", "close_time": "2023-11-14T21:13:20.000000Z",
         "open": "41200.10", "high": "41300", "low": "40000", "close": "40100.00",
         "volume": "20"},
        {"time": "2023-11-14T21:13:20.000000Z", "close_time": "2023-11-14T22:13:20.000000Z",
         "open": "40100.00", "high": "40200", "low": "39900", "close": "40050.5",
         "volume": "0"},
    ]
    assert data["prices"] == {"BTC/USDT": {"price": "40050.5",
                                           "time": "2023-11-14T22:13:20.000000Z"}}
    assert "ETH/USDT" not in data["candles"]  # its only candle (1 m) is not a closed hour
    klines = [r.params for r in venue.requests if r.path == "/api/v3/klines"]
    assert klines[0] == {"symbol": "BTCUSDT", "interval": "1h", "limit": "4"}
    # a microsecond before the wake, the candle closing at the wake is not known yet
    before = oracle.observe(AT - timedelta(microseconds=1), NoBlobs())
    assert [c["close"] for c in before["candles"]["BTC/USDT"]] == ["41200.10", "40100.00"]


def test_garbled_candles_are_a_one_line_error(venue: FakeExchange) -> None:
    venue.serve_raw("/api/v3/klines", b'[[1699999880000, "1", "2", "0.5", "x", "1"]]')
    oracle = ExchangeOHLCV("candles", ["BTC/USDT"], client(venue), timeframe="1m")

    with pytest.raises(OracleError, match=r"^binance: BTC/USDT: bad candle: close 'x'"):
        oracle.observe(AT, NoBlobs())


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="timeframe"):
        ExchangeOHLCV("candles", ["BTC/USDT"], object(), timeframe="soon")
    with pytest.raises(ValueError, match="depth 0"):
        ExchangeOrderBook("book", ["BTC/USDT"], object(), depth=0)


# --- paper wakes on the recorded book --------------------------------------------------------

def runtime(venue: FakeExchange, url: str, extra: dict[str, Oracle] | None = None,
            book_depth: int = 3) -> tuple[ActorRuntime, JournalWriter]:
    cls = strategy_class("rebalance")
    params = parse_params(cls, {"weights": {"BTC/USDT": "0.5", "ETH/USDT": "0.25"},
                                "book_depth": book_depth})
    terms = FundTerms(quote="USDT", fee_rate=D("0.001"), slippage_bps=D(25))
    spec = ActorSpec(actor_id=ACTOR, strategy="rebalance", params=params, cron="* * * * *",
                     terms=terms, mode="paper",
                     markets={s: Market.parse(s) for s in ("BTC/USDT", "ETH/USDT")})
    writer = JournalWriter(open_journal(url), ACTOR)
    oracles: dict[str, Oracle] = {
        "prices": ExchangePrices("prices", list(spec.markets), client(venue)),
        "book": ExchangeOrderBook("book", list(spec.markets), client(venue), depth=book_depth),
        **(extra or {})}
    run = ActorRuntime(spec=spec, writer=writer, clock=SimulatedClock(AT), oracles=oracles,
                       adapter=PaperAdapter(fee_rate=terms.fee_rate,
                                            slippage_bps=terms.slippage_bps,
                                            durable_intents=True))
    run.open(D(10_000))
    return run, writer


def rows(db: str) -> list[tuple[int, str, str]]:
    with tampering(db) as conn:
        found = conn.execute(text("SELECT seq, kind, payload FROM journal_entries "
                                  "WHERE process_id = :pid ORDER BY seq"), {"pid": ACTOR})
        return [(seq, kind, payload) for seq, kind, payload in found]


def verify(db: str) -> Any:
    with open_journal(db) as store:
        return verify_stream(store, ACTOR)


@pytest.fixture
def walked(venue: FakeExchange, store_url: str) -> str:
    """A journal of one paper wake whose BTC buy (0.125 at 40000) walks three asks."""
    venue.set_book("BTCUSDT", time_ms=NOW_MS - 100,
                   bids=[("39990", "1")],
                   asks=[("40010", "0.05"), ("40020.5", "0.05"), ("40100", "1"), ("41000", "9")])
    db = store_url
    run, writer = runtime(venue, db)
    run.wake(AT)
    writer.flush()
    writer.journal.close()
    return db


def test_a_paper_wake_walks_the_recorded_book_and_verifies(walked: str) -> None:
    entries = rows(walked)
    book = next(loads(p) for _, k, p in entries
                if k == "Observation" and loads(p)["oracle"] == "book")
    assert book["data"]["books"]["BTC/USDT"]["asks"] == [["40010", "0.05"], ["40020.5", "0.05"],
                                                         ["40100", "1"]]  # depth 3
    fills = [loads(p) for _, k, p in entries if k == "Fill"]
    btc = [(f["fill_id"][-2:], f["amount"], f["price"], D(f["fee"])) for f in fills
           if f["symbol"] == "BTC/USDT"]
    # 0.125 BTC wanted (0.5 × 10000 / 40000): 0.05 + 0.05 + 0.025, fee 0.1 % of each notional
    assert btc == [("-1", "0.05", "40010", D("2.0005")), ("-2", "0.05", "40020.5", D("2.001025")),
                   ("-3", "0.025", "40100", D("1.0025"))]
    eth = [(f["amount"], f["price"]) for f in fills if f["symbol"] == "ETH/USDT"]
    assert eth == [("1.25", "2000")]  # the default book: one level at the last price
    report = verify(walked)
    assert report.ok, report.error


def test_a_tampered_book_level_fails_verification_at_the_fill_it_changes(walked: str) -> None:
    entries = rows(walked)
    seq, payload = next((s, loads(p)) for s, k, p in entries
                        if k == "Observation" and loads(p)["oracle"] == "book")
    payload["data"]["books"]["BTC/USDT"]["asks"][1] = ["40020.4", "0.05"]  # a cent better
    forge(walked, ACTOR, seq, payload)

    report = verify(walked)

    second_fill = next(s for s, k, p in entries if k == "Fill" and p.count('-2"'))
    assert not report.ok
    assert report.seq == second_fill, report.error
    assert "exchange event differs from replay" in (report.error or "")


def test_a_book_dated_after_its_wake_is_a_look_ahead(walked: str) -> None:
    entries = rows(walked)
    seq, payload = next((s, loads(p)) for s, k, p in entries
                        if k == "Observation" and loads(p)["oracle"] == "book")
    payload["data"]["books"]["BTC/USDT"]["time"] = "2023-11-14T22:13:21.000000Z"
    forge(walked, ACTOR, seq, payload)

    report = verify(walked)

    assert report.seq == seq
    assert "look-ahead: BTC/USDT order book from 2023-11-14T22:13:21" in (report.error or "")


def test_a_candle_closing_after_its_wake_is_a_look_ahead(venue: FakeExchange,
                                                          store_url: str) -> None:
    venue.set_candles("BTCUSDT", [(NOW_MS - 2 * HOUR, "1", "2", "1", "2", "1"),
                                  (NOW_MS - HOUR, "2", "3", "2", "3", "1")])
    db = store_url
    candles = ExchangeOHLCV("candles", ["BTC/USDT"], client(venue), timeframe="1h", count=2)
    run, writer = runtime(venue, db, {"candles": candles})
    run.wake(AT)
    writer.flush()
    writer.journal.close()
    assert verify(db).ok
    seq, payload = next((s, loads(p)) for s, k, p in rows(db)
                        if k == "Observation" and loads(p)["oracle"] == "candles")
    last = payload["data"]["candles"]["BTC/USDT"][-1]
    last["close_time"] = (datetime.fromisoformat(last["close_time"].replace("Z", "+00:00"))
                          + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    forge(db, ACTOR, seq, payload)

    report = verify(db)

    assert report.seq == seq
    assert "look-ahead: BTC/USDT candle closing 2023-11-14T23:13:20" in (report.error or "")


def test_a_failed_book_is_an_error_observation_and_orders_fill_at_the_price(
        venue: FakeExchange, store_url: str) -> None:
    venue.serve_raw("/api/v3/depth", b"<html>maintenance</html>")
    db = store_url
    run, writer = runtime(venue, db)

    run.wake(AT)
    writer.flush()
    writer.journal.close()

    entries = rows(db)
    book = next(loads(p) for _, k, p in entries
                if k == "Observation" and loads(p)["oracle"] == "book")
    assert book["error"].startswith("OracleError: binance: BTC/USDT: bad order book")
    fills = [loads(p) for _, k, p in entries if k == "Fill"]
    assert {(f["symbol"], f["price"]) for f in fills} == {("BTC/USDT", "40100"),  # + 25 bps
                                                          ("ETH/USDT", "2005")}
    assert verify(db).ok


def test_the_registry_builds_book_and_candle_specs_as_live_oracles(venue: FakeExchange) -> None:
    from agentfund.oracles.kinds import Live, build
    from fund.config import DaemonSettings
    from fund.strategy import OracleSpec

    live = Live(settings=DaemonSettings(exchange_urls={"api": venue.url}))
    markets = ("BTC/USDT", "ETH/USDT")  # a spec without symbols reads every market
    venue.set_candles("BTCUSDT", [(NOW_MS - HOUR, "1", "2", "1", "2", "1")])

    built = build((OracleSpec(name="c", kind="ohlcv", options={
        "symbols": ["BTC/USDT"], "timeframe": "1h", "candles": 5}),
        OracleSpec(name="b", kind="order_book")), markets, live)

    assert built["c"].observe(AT, NoBlobs())["prices"] == {
        "BTC/USDT": {"price": "2", "time": "2023-11-14T22:13:20.000000Z"}}
    assert set(built["b"].observe(AT, NoBlobs())["books"]) == {"BTC/USDT", "ETH/USDT"}
    with pytest.raises(OracleError, match=r"unknown option\(s\) levels for kind 'order_book'"):
        build((OracleSpec(name="b", kind="order_book", options={"levels": 3}),), markets, live)
    with pytest.raises(OracleError, match=r"oracle 'c': .*timeframe 'hourly'"):
        build((OracleSpec(name="c", kind="ohlcv", options={"timeframe": "hourly"}),), markets,
              live)
