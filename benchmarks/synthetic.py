"""Synthetic, deterministic inputs for the scaling benchmark (benchmarks/scaling.py).

* candle files for a universe of N assets: a seeded geometric random walk per asset,
  written as freqtrade-style feather files (``<BASE>_USDT-5m.feather``: date, open, high,
  low, close, volume), the layout ``[backtest] prices`` reads — the same seed gives the
  same bytes;
* a W1-style rebalancing config over such a universe (``python benchmarks/synthetic.py DIR
  ASSETS START END`` writes both: ``DIR/prices/`` and ``DIR/config.toml``);
* journal payloads for the journal-size rows: a wake, a price observation and a decision,
  cycled, shaped like a rebalancer's.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

FIVE_MINUTES = timedelta(minutes=5)


def symbols(count: int) -> list[str]:
    """``count`` synthetic market symbols, quoted in USDT: S001/USDT, S002/USDT, …"""
    return [f"S{number:03d}/USDT" for number in range(1, count + 1)]


def candle_times(start: date, end: date, step: timedelta = FIVE_MINUTES) -> np.ndarray:
    """Candle open times (epoch ms) from ``start`` 00:00 to the end of ``end``, UTC."""
    import numpy as np

    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    last = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    count = int((last - first) / step)
    return int(first.timestamp() * 1000) + np.arange(count, dtype=np.int64) * int(
        step.total_seconds() * 1000)


def random_walk(count: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One asset's OHLCV: a geometric random walk from a random start price."""
    import numpy as np

    start = 10 ** rng.uniform(-1, 4)
    steps = rng.normal(0.0, 0.002, count)
    closes = start * np.exp(np.cumsum(steps))
    opens = np.concatenate(([start], closes[:-1]))
    wick = np.abs(rng.normal(0.0, 0.001, (2, count)))
    return {"open": opens, "high": np.maximum(opens, closes) * (1 + wick[0]),
            "low": np.minimum(opens, closes) * (1 - wick[1]), "close": closes,
            "volume": rng.lognormal(3.0, 1.0, count)}


def write_universe(directory: Path, assets: int, start: date, end: date,
                   seed: int = 18) -> list[str]:
    """Write ``assets`` candle files (5-minute) into ``directory``; return their symbols."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.feather as feather

    directory.mkdir(parents=True, exist_ok=True)
    times = candle_times(start, end)
    stamps = pa.array(times, type=pa.timestamp("ms", tz="UTC"))
    names = symbols(assets)
    for number, symbol in enumerate(names):
        columns = random_walk(len(times), np.random.default_rng([seed, number]))
        table = pa.table({"date": stamps, **{k: pa.array(v) for k, v in columns.items()}})
        path = directory / f"{symbol.replace('/', '_')}-5m.feather"
        feather.write_feather(table, str(path), compression="uncompressed")
    return names


def rebalance_config(prices: Path, names: list[str], start: date, end: date,
                     cron: str = "*/5 * * * *") -> str:
    """A W1-style config over ``names``: 90 % spread evenly, band in proportion to W1's
    (1 % of NAV on 18 % weights)."""
    weight = Decimal("0.9") / len(names)
    weight = weight.quantize(Decimal("0.000001"), rounding="ROUND_DOWN")
    band = (weight * Decimal("0.01") / Decimal("0.18")).quantize(Decimal("0.000001"))
    lines = ["[fund]", f'name = "scaling-{len(names)}"', "initial_cash = 10000",
             'quote = "USDT"', "fee_rate = 0.001", "slippage_bps = 0", "",
             "[backtest]", f'prices = "{prices}"', 'timeframe = "5m"',
             f"start = {start.isoformat()}", f"end = {end.isoformat()}", "",
             "[actors.rebalancer]", f'cron = "{cron}"', 'strategy = "rebalance"', "",
             "[actors.rebalancer.params]", f"band = {band}", "min_notional = 0",
             "[actors.rebalancer.params.weights]"]
    lines += [f'"{symbol}" = {weight}' for symbol in names]
    return "\n".join(lines) + "\n"


def payload(number: int) -> tuple[str, dict[str, Any]]:
    """The ``number``-th synthetic journal entry: (kind, payload), a wake, an observation
    of five prices and a decision, in turn."""
    wake, step = divmod(number, 3)
    at = datetime(2024, 1, 1, tzinfo=UTC) + wake * FIVE_MINUTES
    if step == 0:
        return "Wake", {"actor": "bench", "at": at, "cron": "*/5 * * * *", "wake": wake + 1}
    if step == 1:
        prices = {f"S{k:03d}/USDT": Decimal(40_000 + (wake * 7 + k * 13) % 997) / 7
                  for k in range(1, 6)}
        return "Observation", {"oracle": "prices", "at": at, "values": prices}
    return "Decision", {"rule": "hold", "intents": 0, "at": at,
                        "nav": Decimal(10_000 + wake % 1000) / 3, "reason": "within band"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write a synthetic universe and its config")
    parser.add_argument("directory", type=Path)
    parser.add_argument("assets", type=int)
    parser.add_argument("start", type=date.fromisoformat)
    parser.add_argument("end", type=date.fromisoformat)
    parser.add_argument("--cron", default="*/5 * * * *")
    args = parser.parse_args(argv)
    prices = args.directory / "prices"
    names = write_universe(prices, args.assets, args.start, args.end)
    (args.directory / "config.toml").write_text(
        rebalance_config(prices, names, args.start, args.end, args.cron), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
