"""The ``ohlcv`` oracle in a backtest: at each wake only candles closed by then, verified.

The sample's 5-minute BTC candles, hourly wakes: a wake at 01:00 sees the candle that
opened at 00:55 (closed at 01:00), never the one opening at 01:00; asked for 1h candles it
sees 00:00–01:00 resampled from the twelve 5-minute ones. A tampered candle fails verify.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.feather as feather
import pytest
from sqlalchemy import text

from fund.canonical import float_price
from tests.conftest import run_fund
from tests.fixtures.tamper import rehash_from, tampering

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "binance_spot_2024"
CONFIG = """
[fund]
name = "candles"
initial_cash = 10000
quote = "USDT"
fee_rate = 0.001

[backtest]
prices = "{prices}"
timeframe = "5m"
start = 2024-01-01
end = 2024-01-02

[actors.reader]
cron = "0 * * * *"
strategy = "tests.fixtures.candle_reader:CandleReader"

[actors.reader.params]
timeframe = "{timeframe}"
candles = 3
"""


def _sample() -> tuple[np.ndarray, np.ndarray]:
    table = feather.read_table(str(SAMPLE / "BTC_USDT-5m.feather"))
    opens = table.column("date").cast("int64").to_numpy() // 1_000_000_000
    values = np.column_stack([table.column(c).to_numpy()
                              for c in ("open", "high", "low", "close", "volume")])
    return opens, values


def _backtest(tmp_path: Path, timeframe: str) -> tuple[Path, list[dict[str, object]]]:
    config = tmp_path / f"fund-{timeframe}.toml"
    config.write_text(CONFIG.format(prices=SAMPLE, timeframe=timeframe))
    out = tmp_path / f"run-{timeframe}"
    result = run_fund("backtest", str(config), "--out", str(out), "--no-report")
    assert result.returncode == 0, result.stderr
    journal = out / "journal.db"
    shown = run_fund("journal", "export", str(journal), "--kind", "Observation")
    assert shown.returncode == 0, shown.stderr
    return journal, [json.loads(line) for line in shown.stdout.splitlines()]


def _stamp(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _bars(observations: list[dict[str, object]]) -> list[dict[str, object]]:
    rows = []
    for entry in observations:
        payload = entry["payload"]
        assert isinstance(payload, dict)
        if payload["oracle"] == "bars":
            rows.append(payload)
    return rows


def test_each_wake_sees_only_closed_candles_and_it_verifies(tmp_path: Path) -> None:
    opens, values = _sample()

    journal, observations = _backtest(tmp_path, "5m")

    bars = _bars(observations)
    assert len(bars) >= 48
    for payload in bars:
        at = int(datetime.fromisoformat(str(payload["as_of"])).timestamp())
        candles = payload["data"]["candles"]["BTC/USDT"]  # type: ignore[index]
        assert len(candles) == 3
        last = candles[-1]
        if at % 3600 == 0:  # a wake on a boundary: the candle that just closed
            assert last["close_time"] == _stamp(at)
            assert last["time"] == _stamp(at - 300)
        assert all(c["close_time"] <= payload["as_of"] for c in candles)
        index = int(np.searchsorted(opens, at - 300))
        expected = [float_price(float(v)) for v in values[index]]
        assert [last[k] for k in ("open", "high", "low", "close", "volume")] == expected
        assert payload["data"]["prices"]["BTC/USDT"] == {  # type: ignore[index]
            "price": last["close"], "time": last["close_time"]}
    assert run_fund("verify", str(journal)).returncode == 0


def test_a_coarser_timeframe_is_resampled_from_the_data(tmp_path: Path) -> None:
    opens, values = _sample()

    _, observations = _backtest(tmp_path, "1h")

    wake = next(p for p in _bars(observations) if p["as_of"].startswith("2024-01-01T01:00"))
    last = wake["data"]["candles"]["BTC/USDT"][-1]  # type: ignore[index]
    hour = values[(opens >= opens[0]) & (opens < opens[0] + 3600)]
    assert len(hour) == 12
    assert (last["time"], last["close_time"]) == (_stamp(int(opens[0])),
                                                 _stamp(int(opens[0]) + 3600))
    assert last["open"] == float_price(float(hour[0, 0]))
    assert last["high"] == float_price(float(hour[:, 1].max()))
    assert last["low"] == float_price(float(hour[:, 2].min()))
    assert last["close"] == float_price(float(hour[-1, 3]))
    assert last["volume"] == float_price(math.fsum(hour[:, 4]))


def test_a_finer_timeframe_is_refused_naming_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "fund.toml"
    config.write_text(CONFIG.format(prices=SAMPLE, timeframe="1m"))

    result = run_fund("backtest", str(config), "--out", str(tmp_path / "run"))

    assert result.returncode == 2
    assert "backtest.timeframe" in result.stderr and "'1m'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("field", ["close", "high"])
def test_a_tampered_candle_fails_verify(tmp_path: Path, field: str) -> None:
    journal, observations = _backtest(tmp_path, "5m")
    entry = next(e for e in observations if e["payload"]["oracle"] == "bars"  # type: ignore[index]
                 and e["seq"] > 20)
    payload = entry["payload"]
    candle = payload["data"]["candles"]["BTC/USDT"][0]  # type: ignore[index]
    candle[field] = str(float(candle[field]) * 0.5)  # an older candle: no decision reads it
    url = f"sqlite:///{journal}"
    with tampering(url) as conn:
        conn.execute(text("UPDATE journal_entries SET payload = :p WHERE seq = :s AND "
                          "process_id = :a"),
                     {"p": json.dumps(payload, sort_keys=True, separators=(",", ":")),
                      "s": entry["seq"], "a": "reader"})
        rehash_from(conn, "reader", int(entry["seq"]))  # type: ignore[arg-type]

    result = run_fund("verify", str(journal))

    assert result.returncode == 1
    assert f"entry {entry['seq']}" in result.stdout + result.stderr or \
        str(entry["seq"]) in result.stdout + result.stderr
