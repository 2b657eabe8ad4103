"""Independent reference computation of workload W1 (no framework code used).

W1: BTC, ETH, SOL, XRP, DOGE / USDT, 5-minute candles 2024-01-01..2024-06-30,
10,000 USDT; at each cron wake T every asset is priced at the close of the
candle that opened at T - 5 min; target 18 % of the pre-trade NAV per asset;
trade only if |target - holding| * price >= 1 % of that NAV; sells first,
then buys, in listed order; fills at that price, 0.1 % fee in USDT.

Interpretation (checked empirically against the expected numbers, both variants):
(a) First wake = first cron time >= the first candle's close (00:05), i.e.
    01:00 hourly, 00:05 every-5-min.  This is binding: an extra hourly wake at
    00:05 gives 13,234.79; starting the 5-min run at 00:10 gives 13,201.36;
    starting the hourly run at 02:00 gives 13,143.26.
    Last wake = 2024-07-01 00:00 (sees the 23:55 candle).  Not binding: the
    final wake makes no fill, so stopping at the last cron time <= the last
    candle's open (23:00 / 23:55) gives identical numbers (one fewer wake).
(b) Buy scaling: amount * price * (1 + fee) <= cash, and the scaled buy must
    still clear the band.  Not binding: W1 never scales a buy (it stays at about
    90 % invested), so "amount * price <= cash - fee", "scaled buys skip the band",
    etc. all give identical numbers.
(c) Band: ">=" on exact Decimals.  Not binding: the closest band comparison
    misses the threshold by 2.9e-4 (hourly, 2024-04-28 10:00, ETH) and 5.7e-5
    (5-min, 2024-02-06 11:05, SOL) relative to it, so ">" gives the same result.

Exact results (Decimal, default context, prec 28):
  hourly  (every_minutes=60): final_nav 13232.33995212966703303142459, fills 143,
          fees 29.37715168694757149309634317, wakes 4368 (01:00 .. 07-01 00:00)
  5-min   (every_minutes=5):  final_nav 13205.45387656192385062906660, fills 167,
          fees 31.92408953650250090961922031, wakes 52416 (00:05 .. 07-01 00:00)
"""
from __future__ import annotations

import pathlib
import time
from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd

ASSETS: tuple[str, ...] = ("BTC", "ETH", "SOL", "XRP", "DOGE")
INITIAL_CASH = Decimal("10000")
TARGET_WEIGHT = Decimal("0.18")
BAND = Decimal("0.01")
FEE_RATE = Decimal("0.001")
CANDLE = timedelta(minutes=5)
DEFAULT_DIR = pathlib.Path(__file__).resolve().parents[2] / "data" / "sample" / "binance_spot_2024"


def _load(prices_dir: pathlib.Path) -> tuple[list[datetime], dict[str, list[float]]]:
    """Candle open times and closes (as Python floats) per asset."""
    opens: list[datetime] | None = None
    closes: dict[str, list[float]] = {}
    for asset in ASSETS:
        df = pd.read_feather(prices_dir / f"{asset}_USDT-5m.feather", columns=["date", "close"])
        these = df["date"].dt.to_pydatetime().tolist()
        assert opens is None or these == opens, f"{asset}: timestamps differ"
        opens = these
        closes[asset] = df["close"].tolist()  # Python floats, so repr() is the shortest repr
    assert opens is not None
    return opens, closes


def reference_w1(prices_dir: pathlib.Path = DEFAULT_DIR, every_minutes: int = 60) -> dict:
    """Run W1 waking every `every_minutes` minutes (cron `*/N * * * *`, N dividing 60)."""
    assert 60 % every_minutes == 0 and every_minutes % 5 == 0
    opens, closes = _load(prices_dir)
    # A wake at T sees the candle that opened at T - 5 min; every completed candle
    # close (T = open + 5 min) that is a cron time is a wake.
    wake_rows = [i for i, o in enumerate(opens) if (o + CANDLE).minute % every_minutes == 0]

    cash = INITIAL_CASH
    holding = {a: Decimal(0) for a in ASSETS}
    fills = 0
    fees = Decimal(0)
    for i in wake_rows:
        price = {a: Decimal(repr(closes[a][i])) for a in ASSETS}
        nav = cash + sum(holding[a] * price[a] for a in ASSETS)
        threshold = BAND * nav
        delta = {a: TARGET_WEIGHT * nav / price[a] - holding[a] for a in ASSETS}

        for a in ASSETS:  # sells
            if delta[a] < 0 and -delta[a] * price[a] >= threshold:
                notional = -delta[a] * price[a]
                fee = notional * FEE_RATE
                cash += notional - fee
                holding[a] += delta[a]
                fills += 1
                fees += fee
        for a in ASSETS:  # buys
            if delta[a] > 0 and delta[a] * price[a] >= threshold:
                amount = delta[a]
                notional = amount * price[a]
                if notional * (1 + FEE_RATE) > cash:  # scale down: never negative cash
                    notional = cash / (1 + FEE_RATE)
                    amount = notional / price[a]
                    if notional < threshold:
                        continue
                fee = notional * FEE_RATE
                cash -= notional + fee
                holding[a] += amount
                fills += 1
                fees += fee

    last_price = {a: Decimal(repr(closes[a][-1])) for a in ASSETS}
    final_nav = cash + sum(holding[a] * last_price[a] for a in ASSETS)
    return {
        "final_nav": final_nav,
        "fills": fills,
        "fees": fees,
        "wakes": len(wake_rows),
        "first_wake": opens[wake_rows[0]] + CANDLE,
        "last_wake": opens[wake_rows[-1]] + CANDLE,
    }


if __name__ == "__main__":
    for minutes in (60, 5):
        started = time.perf_counter()
        result = reference_w1(DEFAULT_DIR, minutes)
        elapsed = time.perf_counter() - started
        print(f"every {minutes:>2} min ({elapsed:.2f}s):", result)
