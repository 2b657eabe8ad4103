"""W1 on vectorbt (run by the benchmark venv's python; see benchmarks/compare.py).

    .bench-venv/bin/python benchmarks/peers/vectorbt_w1.py --every 60 [--out FILE]
    ... --variant no-band   # Portfolio.from_orders, target percent, no band

``--variant band`` (the default) is W1 exactly: ``Portfolio.from_order_func`` with one
group of five columns sharing cash, orders only on wake rows (``segment_mask``); a
``pre_segment_func_nb`` values the group at the wake's closes, applies the 1 % band and
sets the call sequence (sells first, then buys, each in listed order); the order function
scales a buy to the cash left after the sells. The rule functions are
``w1_common``'s, compiled with ``numba.njit``.

``--variant no-band`` is what vectorbt expresses without custom code:
``Portfolio.from_orders(size=0.18, size_type='targetpercent', group_by=True,
cash_sharing=True, call_seq='auto')`` on the wake rows. It has no band (it trades every
asset at every wake, however small the drift), so it is not W1.

Prints (and with ``--out`` writes) JSON: final_nav, fills, fees, first_s (the first
simulation in this process: numba compiles here unless its cache is warm), wall_s (a
second, warm simulation), load_s, notes.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
import vectorbt as vbt
import w1_common as w1
from numba import njit
from vectorbt.portfolio import nb as pnb
from vectorbt.portfolio.enums import NoOrder, SizeType

plan_w1 = njit(cache=True)(w1.plan_w1)
sells_then_buys = njit(cache=True)(w1.sells_then_buys)
scale_buy = njit(cache=True)(w1.scale_buy)


@njit(cache=True)
def pre_segment_nb(c, weight, band):
    """At a wake: value at the closes, decide the orders, order the calls."""
    cols = slice(c.from_col, c.to_col)
    price = c.close[c.i, cols]
    c.last_val_price[cols] = price  # value the group (and each order) at this wake's closes
    orders = np.empty(c.group_len, dtype=np.float64)
    threshold = plan_w1(c.last_cash[c.group], c.last_position[cols], price, weight, band,
                        orders)
    sells_then_buys(orders, c.call_seq_now)
    return orders, threshold


@njit(cache=True)
def order_nb(c, orders, threshold, fee):
    """One asset's order at this wake: the planned amount, a buy scaled to the cash left."""
    amount = orders[c.col - c.from_col]
    if amount == 0:
        return NoOrder
    price = c.close[c.i, c.col]
    if amount > 0:
        amount = scale_buy(amount, price, c.cash_now, fee, threshold)
        if amount == 0:
            return NoOrder
    return pnb.order_nb(size=amount, price=price, size_type=SizeType.Amount, fees=fee)


def run_band(close: pd.DataFrame, wakes: np.ndarray) -> vbt.Portfolio:
    return vbt.Portfolio.from_order_func(
        close,
        order_nb,
        w1.FEE,
        init_cash=w1.INITIAL_CASH,
        cash_sharing=True,
        group_by=True,
        segment_mask=wakes[:, None],
        pre_segment_func_nb=pre_segment_nb,
        pre_segment_args=(w1.WEIGHT, w1.BAND),
        freq="5min",
    )


def run_no_band(close: pd.DataFrame, wakes: np.ndarray) -> vbt.Portfolio:
    size = np.where(wakes[:, None], w1.WEIGHT, np.nan)
    return vbt.Portfolio.from_orders(
        close,
        size=np.broadcast_to(size, close.shape),
        size_type="targetpercent",
        price=close,
        fees=w1.FEE,
        init_cash=w1.INITIAL_CASH,
        cash_sharing=True,
        group_by=True,
        call_seq="auto",
        freq="5min",
    )


NOTES = {
    "band": (
        "Portfolio.from_order_func (numba): W1 exactly. The band, the sells-first-then-"
        "listed-order call sequence and the buy scaling are custom numba callbacks; "
        "from_orders cannot express the band."
    ),
    "no-band": (
        "Portfolio.from_orders(size_type='targetpercent', call_seq='auto'): no 1 % band "
        "(rebalances every asset at every wake), call order by order value: NOT W1's rules."
    ),
}


def main() -> int:
    args = w1.arguments(__doc__.splitlines()[0], sorted(NOTES))

    started = time.perf_counter()
    opens, closes = w1.load_closes(args.prices)
    close = pd.DataFrame(closes, index=opens, columns=list(w1.ASSETS))
    wakes = w1.wake_mask(w1.minutes_since_epoch(opens), args.every)
    load_s = time.perf_counter() - started

    run = run_band if args.variant == "band" else run_no_band
    started = time.perf_counter()
    portfolio = run(close, wakes)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    portfolio = run(close, wakes)
    wall_s = time.perf_counter() - started

    records = portfolio.order_records
    result = {
        "engine": "vectorbt",
        "version": vbt.__version__,
        "variant": args.variant,
        "every_minutes": args.every,
        "final_nav": float(portfolio.value().iloc[-1]),
        "fills": len(records),
        "fees": float(records["fees"].sum()),
        "wakes": int(wakes.sum()),
        "load_s": load_s,
        "first_s": first_s,
        "wall_s": wall_s,
        "notes": NOTES[args.variant],
    }
    return w1.emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
