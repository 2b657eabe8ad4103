"""W1's rules as plain functions of floats and NumPy arrays, shared by the peer engines.

The peer scripts (``vectorbt_w1.py``, ``backtrader_w1.py``) run in the separate benchmark
virtual environment; this module needs only NumPy and pandas (plus pyarrow to read the
feather files), so the main test suite can import and check it too.

What is shared is the *rule* (which orders a wake places); each engine does its own
accounting: fills, fees, cash and the final NAV. The functions use nothing but scalar
arithmetic, loops and NumPy arrays, so vectorbt's script compiles the very same functions
with ``numba.njit`` and backtrader's calls them as they are.

W1 (tests/acceptance/reference_w1.py): at each wake, with NAV = cash + sum(holding * price),
target 18 % of NAV per asset; trade an asset only if |target - holding| * price >= 1 % of
NAV; sells first, then buys, each in the listed order; a buy is scaled down so that
amount * price * (1 + fee) <= cash, and skipped if the scaled buy no longer clears the band.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ASSETS: tuple[str, ...] = ("BTC", "ETH", "SOL", "XRP", "DOGE")
QUOTE = "USDT"
INITIAL_CASH = 10_000.0
WEIGHT = 0.18
BAND = 0.01
FEE = 0.001
CANDLE_MINUTES = 5
ROOT = Path(__file__).resolve().parents[2]
PRICES_DIR = ROOT / "data" / "sample" / "binance_spot_2024"

FloatArray = npt.NDArray[np.float64]


def load_closes(prices_dir: Path = PRICES_DIR) -> tuple[object, FloatArray]:
    """Candle open times (a tz-aware pandas DatetimeIndex) and closes, shape (rows, assets)."""
    import pandas as pd

    opens = None
    columns = []
    for asset in ASSETS:
        frame = pd.read_feather(prices_dir / f"{asset}_{QUOTE}-5m.feather",
                                columns=["date", "close"])
        these = pd.DatetimeIndex(frame["date"])
        if opens is None:
            opens = these
        elif not these.equals(opens):
            raise ValueError(f"{asset}: candle times differ from {ASSETS[0]}'s")
        columns.append(frame["close"].to_numpy(dtype=np.float64))
    return opens, np.column_stack(columns)


def minutes_since_epoch(opens: object) -> npt.NDArray[np.int64]:
    """Each time of a pandas DatetimeIndex as whole minutes since 1970-01-01 UTC."""
    seconds = np.asarray(opens.as_unit("s").asi8, dtype=np.int64)  # type: ignore[attr-defined]
    return seconds // 60


def wake_mask(open_minutes: npt.NDArray[np.int64], every_minutes: int) -> npt.NDArray[np.bool_]:
    """Rows that are wakes: the candle's close time (open + 5 min) is a cron time.

    ``open_minutes`` is each candle's open time in minutes since any whole hour (e.g. minutes
    since the epoch). A wake at T sees the candle that opened at T - 5 min, so the hourly run
    wakes first at 01:00 on the 00:55 candle and last at 07-01 00:00 on the 23:55 one.
    """
    if 60 % every_minutes or every_minutes % CANDLE_MINUTES:
        raise ValueError("every_minutes must divide 60 and be a multiple of 5")
    return np.asarray((open_minutes + CANDLE_MINUTES) % every_minutes == 0)


def plan_w1(cash: float, position: FloatArray, price: FloatArray, weight: float,
            band: float, out: FloatArray) -> float:
    """Fill ``out`` with each asset's order (+ buy, - sell, 0 none); return the band's threshold.

    The orders are the full move to ``weight`` of the pre-trade NAV, for the assets whose
    move is worth at least ``band`` of that NAV. Buys are not yet scaled to the cash.
    """
    held = 0.0
    for k in range(position.shape[0]):
        held += position[k] * price[k]
    nav = cash + held
    threshold = band * nav
    for k in range(position.shape[0]):
        delta = weight * nav / price[k] - position[k]
        out[k] = delta if abs(delta) * price[k] >= threshold else 0.0
    return threshold


def sells_then_buys(orders: FloatArray, out: npt.NDArray[np.int64]) -> int:
    """Write into ``out`` the asset indices to trade, sells first then buys, each in listed order.

    Returns how many were written; assets with no order are appended after them, so ``out``
    is always a permutation (vectorbt's call sequence must be one).
    """
    n = 0
    for k in range(orders.shape[0]):
        if orders[k] < 0:
            out[n] = k
            n += 1
    for k in range(orders.shape[0]):
        if orders[k] > 0:
            out[n] = k
            n += 1
    trading = n
    for k in range(orders.shape[0]):
        if orders[k] == 0:
            out[n] = k
            n += 1
    return trading


def scale_buy(amount: float, price: float, cash: float, fee: float, threshold: float) -> float:
    """The amount actually bought: scaled so that amount * price * (1 + fee) <= cash.

    0.0 means skip: the scaled buy no longer clears the band (or there is no cash).
    """
    notional = amount * price
    if notional * (1 + fee) > cash:
        notional = cash / (1 + fee)
        amount = notional / price
        if notional < threshold or notional <= 0:
            return 0.0
    return amount


def simulate(closes: FloatArray, wakes: npt.NDArray[np.bool_], initial_cash: float = INITIAL_CASH,
             weight: float = WEIGHT, band: float = BAND, fee: float = FEE) -> dict[str, float]:
    """W1 in plain float arithmetic, no engine: the cross-check for the helpers above."""
    assets = closes.shape[1]
    cash = initial_cash
    position = np.zeros(assets)
    orders = np.zeros(assets)
    sequence = np.zeros(assets, dtype=np.int64)
    fills = 0
    fees = 0.0
    for i in np.flatnonzero(wakes):
        price = closes[i]
        threshold = plan_w1(cash, position, price, weight, band, orders)
        for j in range(sells_then_buys(orders, sequence)):
            k = sequence[j]
            amount = orders[k]
            if amount > 0:
                amount = scale_buy(amount, price[k], cash, fee, threshold)
                if amount == 0:
                    continue
            notional = abs(amount) * price[k]
            paid = notional * fee
            cash += -notional - paid if amount > 0 else notional - paid
            position[k] += amount
            fills += 1
            fees += paid
    final_nav = cash + float(np.dot(position, closes[-1]))
    return {"final_nav": float(final_nav), "fills": fills, "fees": float(fees)}


def emit(result: dict[str, Any], out: Path | None) -> int:
    """Print an engine's result as one JSON line (and write it to ``out``); exit code 0."""
    text = json.dumps(result)
    if out:
        out.write_text(text)
    print(text)
    return 0


def arguments(description: str, variants: list[str]) -> argparse.Namespace:
    """The command line every engine script takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--every", type=int, default=60, help="wake every N minutes")
    parser.add_argument("--variant", choices=variants, default="band")
    parser.add_argument("--prices", type=Path, default=PRICES_DIR)
    parser.add_argument("--out", type=Path)
    return parser.parse_args()
