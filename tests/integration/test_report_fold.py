"""The report's cheaper reading gives what the full reading gives: one fold of the journal
serves the snapshot and the trade book (the book equals fund.trades' fold of every entry),
the calendar returns are read on each day's last point, and the candles are read without
pandas exactly as pandas reads them."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fund.journal import open_journal
from fund.monitor.snapshot import ActorSnapshot, advance
from fund.performance import calendar_returns
from fund.trades import trades_of
from tests.conftest import EXAMPLES, SAMPLE_PRICES, run_fund

ACTOR = "rebalancer"


@pytest.fixture(scope="module")
def w1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("w1")
    done = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), "--out", str(out),
                    "--start", "2024-03-01", "--end", "2024-03-20", "--no-report", "--json")
    assert done.returncode == 0, done.stderr
    return out / "journal.db"


def test_one_fold_gives_the_book_of_every_entry(w1: Path) -> None:
    from agentfund.backtests.trades import trades_data

    snap, book = trades_data(str(w1), ACTOR)
    with open_journal(str(w1)) as store:
        full = trades_of(store.read(ACTOR))
        alone = ActorSnapshot(actor=ACTOR)
        advance(store, alone)
    assert snap.trusted and book.fills
    assert book == full  # fills, round trips, P&L per asset and marks alike
    assert snap.seq == alone.seq and snap.head_hash == alone.head_hash
    assert snap.series.unit == alone.series.unit and snap.series.prices == alone.series.prices


def test_also_is_handed_each_entry_the_snapshot_took(w1: Path) -> None:
    seen: list[tuple[int, str]] = []

    def also(seq: int, kind: str, ts: str, payload: dict[str, Any]) -> None:
        seen.append((seq, kind))

    with open_journal(str(w1)) as store:
        snap = ActorSnapshot(actor=ACTOR)
        read = advance(store, snap, limit=7, also=also)
        assert read == 7 and [s for s, _ in seen] == list(range(1, 8))
        advance(store, snap, also=also)
    assert [s for s, _ in seen] == list(range(1, snap.seq + 1))
    assert seen[0][1] == "Start"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_calendar_returns_on_day_ends_are_those_of_the_whole_curve(seed: int) -> None:
    from agentfund.backtests.trades import _day_ends

    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(1_700_000_000, 1_700_000_000 + 200 * 86_400, 5_000))
    times[10:20] = times[10]  # equal times
    values = np.asarray(1_000 * np.cumprod(1 + rng.normal(0, 0.01, len(times))),
                        dtype=np.float64)
    values[rng.integers(0, len(values), 300)] = math.nan
    days, closes = _day_ends(times, values)
    assert len(days) < len(times) / 10
    for period in ("day", "week", "month"):
        assert calendar_returns(days, closes, 1_000.0, period) == \
            calendar_returns(times, values, 1_000.0, period)


def test_day_ends_of_nothing() -> None:
    from agentfund.backtests.trades import _day_ends

    for times, values in (([], []), ([5.0], [math.nan])):
        days, closes = _day_ends(times, values)
        assert not len(days) and not len(closes)
    days, closes = _day_ends([5.0], [2.0])
    assert days.tolist() == [5.0] and closes.tolist() == [2.0]


def test_candles_read_without_pandas_as_pandas_reads_them() -> None:
    from agentfund.backtests.data import find_file
    from agentfund.backtests.trades import _arrow_columns, _frame_columns, load_ohlcv

    path = find_file(SAMPLE_PRICES, "BTC/USDT", timedelta(minutes=5))
    found = _arrow_columns(path)
    assert found is not None
    times, columns = found
    expected_times, expected = _frame_columns(path)
    assert np.array_equal(times, expected_times)
    assert columns.keys() == expected.keys() == {"open", "high", "low", "close", "volume"}
    for name, values in columns.items():
        assert np.array_equal(values, expected[name]), name
    window = (float(times[100]), float(times[400]))
    candles = load_ohlcv(SAMPLE_PRICES, "BTC/USDT", window=window)
    assert candles.times == tuple(times[100:401].tolist())
    assert candles.close == tuple(expected["close"][100:401].tolist())


@pytest.mark.parametrize("limit", [1, 2, 299, 300, 301, 1_500])
def test_candles_merged_as_read_are_the_chart_s_merge_of_the_whole_read(limit: int) -> None:
    """The report reads a file's candles merged from its columns; they are what merging
    the candles read whole gives (fund.monitor.trading.merged): fewer candles than the
    limit, exactly as many, one more, and a limit of one."""
    from agentfund.backtests.trades import load_ohlcv
    from fund.monitor import trading

    path_times = load_ohlcv(SAMPLE_PRICES, "ETH/USDT").times
    window = (path_times[1_000], path_times[1_299])  # 300 candles
    whole = load_ohlcv(SAMPLE_PRICES, "ETH/USDT", window=window)
    assert len(whole) == 300
    as_read = load_ohlcv(SAMPLE_PRICES, "ETH/USDT", window=window, max_candles=limit)
    assert as_read == trading.merged(whole, limit)
    assert len(as_read) == (300 if limit >= 300 else math.ceil(300 / math.ceil(300 / limit)))
    k = math.ceil(300 / limit)  # the first merged candle, computed here
    assert as_read.high[0] == max(whole.high[:k]) and as_read.low[0] == min(whole.low[:k])
    assert as_read.volume[0] == pytest.approx(sum(whole.volume[:k]))


def test_candles_without_volume_merge_as_read(tmp_path: Path) -> None:
    from agentfund.backtests.trades import load_ohlcv
    from fund.monitor import trading

    rows = "".join(f"2024-01-01T{h:02d}:00:00Z,{h + 1},{h + 3},{h},{h + 2}\n" for h in range(5))
    (tmp_path / "ABC_USDT-1h.csv").write_text("date,open,high,low,close\n" + rows)
    whole = load_ohlcv(tmp_path, "ABC/USDT")
    assert whole.volume == ()
    assert load_ohlcv(tmp_path, "ABC/USDT", max_candles=5) == whole
    merged = load_ohlcv(tmp_path, "ABC/USDT", max_candles=2)
    assert merged == trading.merged(whole, 2)
    assert merged.high == (5.0, 7.0) and merged.close == (4.0, 6.0)  # 3 candles, then 2
    assert merged.volume == (0.0, 0.0)


CSV_TIMES = {  # a time column as written, and whether pyarrow alone reads it
    "iso-z": ("2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", True),
    "offset": ("2024-01-01 02:00:00+02:00", "2024-01-01T01:30:00-00:30", True),
    "naive-fraction": ("2024-01-01 00:00:00.000000", "2024-01-01 01:00:00.999999", True),
    "milliseconds": ("1704067200000", "1704070800999", True),
    "day-first": ("01/02/2024 00:00", "01/02/2024 01:00", False),
    "dates": ("2024-01-01", "2024-01-02", False),
}


@pytest.mark.parametrize("name", sorted(CSV_TIMES))
def test_a_csv_read_without_pandas_is_what_pandas_reads(tmp_path: Path, name: str) -> None:
    """pyarrow reads the times pandas would read the same (to the second), the prices as
    floats; anything else it leaves to pandas. The engine's reader agrees with the
    report's."""
    from agentfund.backtests.data import _read_csv, arrow_candles
    from agentfund.backtests.trades import _arrow_columns, _frame_columns

    first, second, alone = CSV_TIMES[name]
    column = "timestamp" if name == "milliseconds" else "date"
    path = tmp_path / "ABC_USDT-1h.csv"
    path.write_text(f"{column},open,high,low,close,volume\n{first},1,2,0.5,1.5,10\n"
                    f"{second},1.5,3,1,2,5\n")
    found = _arrow_columns(path)
    assert (found is not None) is alone
    times, columns = _frame_columns(path)  # pandas
    if found is not None:
        assert np.array_equal(found[0], times)
        assert found[1].keys() == columns.keys()
        assert all(np.array_equal(found[1][k], columns[k]) for k in columns)
    seconds, closes = _read_csv(path)
    assert seconds.tolist() == times.astype(np.int64).tolist()
    assert closes.tolist() == [1.5, 2.0]
    assert (arrow_candles(path, ("close",)) is not None) is alone


def test_a_csv_with_a_missing_price_is_left_to_pandas(tmp_path: Path) -> None:
    from agentfund.backtests.data import arrow_candles

    path = tmp_path / "ABC_USDT-1h.csv"
    path.write_text("date,close\n2024-01-01T00:00:00Z,\n2024-01-01T01:00:00Z,2\n")
    assert arrow_candles(path, ("close",)) is None


def test_the_sample_csv_is_read_without_pandas_as_pandas_reads_it() -> None:
    """The sentiment example's gzipped CSV: the backtest's reader, in a fresh interpreter,
    never imports pandas, and reads what pandas reads."""
    import subprocess
    import sys

    from agentfund.backtests.data import _read_csv
    from agentfund.backtests.trades import _frame_columns
    from tests.conftest import ROOT

    path = ROOT / "data" / "sample" / "ftx_btc_perp_2022" / "BTC_USD-1m.csv.gz"
    seconds, closes = _read_csv(path)
    times, columns = _frame_columns(path)
    assert seconds.tolist() == times.astype(np.int64).tolist() and len(seconds) > 1000
    assert closes.tolist() == columns["close"].tolist()
    code = ("import sys; from pathlib import Path; from agentfund.backtests.data import "
            "load_candles; from datetime import timedelta; load_candles(Path(sys.argv[1]), "
            "'BTC/USD', timedelta(minutes=1)); print('pandas' in sys.modules)")
    said = subprocess.run([sys.executable, "-c", code, str(path.parent)], check=True,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert said.stdout.strip() == "False"


def test_a_csv_is_read_for_the_report(tmp_path: Path) -> None:
    from agentfund.backtests.trades import load_ohlcv

    (tmp_path / "ABC_USDT-1h.csv").write_text(
        "date,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n"
        "2024-01-01T01:00:00Z,1.5,3,1,2,5\n")
    candles = load_ohlcv(tmp_path, "ABC/USDT")
    assert candles.times == (1_704_067_200.0, 1_704_070_800.0)
    assert candles.high == (2.0, 3.0) and candles.volume == (10.0, 5.0)
