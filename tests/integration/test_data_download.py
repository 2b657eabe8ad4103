"""``fund data download`` against the fake binance, driven by the real ccxt client.

The fake serves the shipped sample (six months of 5-minute binance candles for five pairs,
52,416 a pair) page by page as binance does: at most 1000 a page, ``startTime``/``endTime``
on open times, and the candle forming at the exchange's clock (frozen at 23:57:30 on the
last day) served half-formed, so the downloader must drop it. What lands on disk must be
the served closed series, row for row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow.feather as feather
import pytest

from agentfund.backtests.data import load_candles
from agentfund.backtests.download import (
    Retrying,
    check,
    download_pair,
    open_exchange,
    read_series,
    server_ms,
)
from tests.conftest import run_fund
from tests.integration.fake_exchange import FakeExchange, Reply, Symbol, frozen

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "binance_spot_2024"
PAIRS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT")
NOW = datetime(2024, 6, 30, 23, 57, 30, tzinfo=UTC)  # the 23:55 candle is still forming
SINCE = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_MS = 300_000
COLUMNS = ("open", "high", "low", "close", "volume")


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _sample(pair: str) -> tuple[np.ndarray, np.ndarray]:
    """The sample's open times (ms) and OHLCV values, as the fake serves them."""
    table = feather.read_table(str(SAMPLE / f"{pair.replace('/', '_')}-5m.feather"))
    times = table.column("date").cast("int64").to_numpy() // 1_000_000
    values = np.column_stack([table.column(c).to_numpy() for c in COLUMNS])
    return times, values


SERIES = {pair: _sample(pair) for pair in PAIRS}


def _rows(times: np.ndarray, values: np.ndarray) -> list[list[object]]:
    # repr(float) round-trips: the file must get back exactly the recorded float64s
    return [[int(t), *(repr(float(v)) for v in row)] for t, row in zip(times, values,
                                                                       strict=True)]


@pytest.fixture(scope="module")
def venue() -> Iterator[FakeExchange]:
    symbols = {pair.replace("/", ""): Symbol(*pair.split("/")) for pair in PAIRS}
    with FakeExchange(symbols, clock=frozen(_epoch_ms(NOW))) as fake:
        for pair, (times, values) in SERIES.items():
            fake.serve_history(pair.replace("/", ""), "5m", _rows(times, values))
        yield fake


@pytest.fixture
def fresh(venue: FakeExchange) -> FakeExchange:
    venue.requests.clear()
    venue.scripted.clear()
    return venue


def _klines(venue: FakeExchange) -> list[dict[str, str]]:
    return [r.params for r in venue.requests if r.path == "/api/v3/klines"]


def _closed(pair: str) -> tuple[np.ndarray, np.ndarray]:
    times, values = SERIES[pair]
    keep = times + SPAN_MS <= _epoch_ms(NOW)
    return times[keep], values[keep]


def _assert_same(path: Path, pair: str) -> None:
    series = read_series(path)
    times, values = _closed(pair)
    assert np.array_equal(series.times, times)
    assert np.array_equal(series.values, values)


def test_six_months_of_five_pairs_equal_the_served_series_with_a_429_honoured(
        fresh: FakeExchange, tmp_path: Path) -> None:
    sleeps: list[float] = []
    retrying = Retrying(retries=3, backoff_s=0.01, sleep=sleeps.append)
    client = open_exchange("binance", urls={"api": fresh.url}, rate_limit_ms=1,
                           retrying=retrying)
    check(client, list(PAIRS), "5m")
    fresh.script("/api/v3/klines", Reply(429, {"code": -1003, "msg": "Too many requests."},
                                         headers=(("Retry-After", "7"),)), after=3)
    fresh.script("/api/v3/klines", Reply(drop=True), after=20)
    now = server_ms(client, retrying)

    outcomes = [download_pair(client, pair, "5m", _epoch_ms(SINCE), None, tmp_path,
                              now_ms=now, retrying=retrying) for pair in PAIRS]

    for pair, outcome in zip(PAIRS, outcomes, strict=True):
        _assert_same(outcome.path, pair)
        assert outcome.rows == outcome.fetched == 52_415  # the forming candle dropped
        assert outcome.gaps == []
    assert sleeps == [7.0, 0.01]  # the 429's Retry-After, then a backoff for the drop
    pages = _klines(fresh)
    assert all(int(p["limit"]) == 1000 for p in pages)
    assert len(pages) == 5 * 53 + 2  # 52.4 pages a pair, plus the two retried
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    history = load_candles(tmp_path, "BTC/USDT", timedelta(minutes=5))  # what backtests read
    assert history.closes == _closed("BTC/USDT")[1][:, 3].tolist()



def test_a_rerun_fetches_only_what_is_missing_and_gaps_are_reported(
        fresh: FakeExchange, tmp_path: Path) -> None:
    retrying = Retrying(retries=0)
    client = open_exchange("binance", urls={"api": fresh.url}, rate_limit_ms=1)
    times, values = SERIES["ETH/USDT"]
    fresh.serve_history("ETHUSDT", "1h", _rows(times[::12][:100], values[::12][:100]))
    hole = _rows(times[::12][:100], values[::12][:100])
    del hole[40:43]  # three hours the exchange does not have
    fresh.serve_history("ETHUSDT", "1h", hole)
    start = int(times[0])

    first = download_pair(client, "ETH/USDT", "1h", start + 3_600_000 * 50, None, tmp_path,
                          now_ms=_epoch_ms(NOW), retrying=retrying)
    fresh.requests.clear()
    second = download_pair(client, "ETH/USDT", "1h", start, None, tmp_path,
                           now_ms=_epoch_ms(NOW), retrying=retrying)

    assert first.rows == first.fetched == 50 and first.gaps == []
    assert second.fetched == 47 and second.rows == 97
    assert second.gaps == [(start + 40 * 3_600_000, 3)]
    asked = _klines(fresh)
    assert [int(p["startTime"]) for p in asked] == [start, start + 100 * 3_600_000]
    assert int(asked[0]["endTime"]) == start + 3_600_000 * 50 - 1  # only the head


def test_an_interrupted_download_resumed_gives_the_same_files(
        fresh: FakeExchange, tmp_path: Path) -> None:
    out = tmp_path / "data"
    pairs = PAIRS[:3]  # one done, one interrupted, one not begun (five: the test above)
    args = ("data", "download", "--exchange", "binance", "--pairs", *pairs, "--timeframe",
            "5m", "--since", "2024-01-01", "--out", str(out), "--url", f"api={fresh.url}",
            "--retries", "1", "--rate-limit", "1")
    fresh.script("/api/v3/klines", Reply(drop=True), after=53 + 25, times=2)  # ETH, page 26

    broken = run_fund(*args)

    assert broken.returncode == 1, broken.stderr
    assert "gave up after 2 attempts" in broken.stderr and "ETH/USDT" in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1
    _assert_same(out / "BTC_USDT-5m.feather", "BTC/USDT")
    saved = read_series(out / "ETH_USDT-5m.feather")
    assert len(saved) == 25_000  # what came before the failure, kept whole
    assert not (out / "SOL_USDT-5m.feather").exists()
    assert not list(out.glob(".*"))
    fresh.requests.clear()

    resumed = run_fund(*args)

    assert resumed.returncode == 0, resumed.stderr
    for pair in pairs:
        _assert_same(out / f"{pair.replace('/', '_')}-5m.feather", pair)
    starts = {p["symbol"]: int(p["startTime"]) for p in reversed(_klines(fresh))}
    assert starts["ETHUSDT"] == int(SERIES["ETH/USDT"][0][25_000])
    assert "BTCUSDT" not in starts  # complete: nothing asked
    assert "ETH/USDT 5m: 52415 candles 2024-01-01 00:00 → 2024-06-30 23:50, 27415 fetched, " \
           "0 gap(s)" in resumed.stdout
    listed = run_fund("data", "list", str(out), "--json")
    rows = {row["pair"]: row for row in json.loads(listed.stdout)}
    assert rows["SOL/USDT"] == {"pair": "SOL/USDT", "timeframe": "5m",
                                "file": "SOL_USDT-5m.feather", "first": "2024-01-01 00:00",
                                 "last": "2024-06-30 23:50", "rows": 52_415, "gaps": 0,
                                 "missing": 0}
    table = run_fund("data", "list", str(out))
    assert table.returncode == 0 and "BTC/USDT" in table.stdout


@pytest.mark.parametrize(("option", "value", "named"), [
    ("--exchange", "nosuchexchange", "'nosuchexchange'"),
    ("--pairs", "FOO/USDT", "binance does not list 'FOO/USDT'"),
    ("--timeframe", "7m", "binance does not serve '7m'"),
    ("--timeframe", "fortnight", "'fortnight' is not a timeframe"),
])
def test_bad_input_is_one_line_naming_it_exit_2(fresh: FakeExchange, tmp_path: Path,
                                                option: str, value: str, named: str) -> None:
    given = {"--exchange": "binance", "--pairs": "BTC/USDT", "--timeframe": "5m",
             option: value}

    result = run_fund("data", "download", *(x for kv in given.items() for x in kv),
                      "--since", "2024-06-01", "--out", str(tmp_path / "out"),
                      "--url", f"api={fresh.url}")

    assert result.returncode == 2, result.stderr
    assert named in result.stderr and option in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert not _klines(fresh)

