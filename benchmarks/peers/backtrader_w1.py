"""W1 on backtrader (run by the benchmark venv's python; see benchmarks/compare.py).

    .bench-venv/bin/python benchmarks/peers/backtrader_w1.py --every 60 [--out FILE]

One ``Cerebro`` with the five 5-minute feeds (``PandasData``), each bar stamped with its
candle's *close* time (open + 5 min, backtrader's convention), so the strategy's ``next``
at the bar stamped T is W1's wake at T. Broker configuration that makes backtrader's fills
W1's fills:

* ``set_coc(True)`` (cheat-on-close): a market order placed in ``next`` fills at that bar's
  close, the wake's price (by default it would fill at the next bar's open);
* ``setcommission(commission=0.001, stocklike=True)``: 0.1 % of notional, paid in cash;
* explicit fractional sizes in ``buy``/``sell`` (``order_target_percent`` sizes through
  ``CommInfo.getsize``, which truncates to whole units, and it has no band);
* sells submitted before buys: backtrader checks and fills orders in submission order.

The rule (band, order, buy scaling) is ``w1_common``'s, the same as vectorbt's script;
cash, positions, fills and fees are backtrader's broker's.

``--variant target-percent`` is backtrader's own sizing instead: ``order_target_percent``
(0.18) for every asset at every wake, sells first, with the default ``getsize`` (whole
units) and no band. It is not W1; it shows what the engine does without custom sizing.

Prints (and with ``--out`` writes) JSON: final_nav, fills, fees, rejected, wall_s
(``cerebro.run``), load_s, notes.
"""

from __future__ import annotations

import sys
import time

import backtrader as bt
import numpy as np
import pandas as pd
import w1_common as w1


class W1(bt.Strategy):
    params = (("every", 60), ("variant", "band"))

    def __init__(self) -> None:
        self.fills = 0
        self.fees = 0.0
        self.rejected = 0
        self.wakes = 0
        count = len(self.datas)
        self.orders = np.zeros(count)
        self.sequence = np.zeros(count, dtype=np.int64)
        self.position_now = np.zeros(count)
        self.price_now = np.zeros(count)

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            self.fills += 1
            self.fees += order.executed.comm
        elif order.status in (order.Margin, order.Rejected, order.Canceled):
            self.rejected += 1

    def next(self) -> None:
        stamp = self.datas[0].datetime.datetime(0)
        if (stamp.hour * 60 + stamp.minute) % self.p.every:
            return
        self.wakes += 1
        if self.p.variant == "target-percent":
            self.target_percent()
            return
        for k, data in enumerate(self.datas):
            self.position_now[k] = self.getposition(data).size
            self.price_now[k] = data.close[0]
        cash = self.broker.getcash()
        threshold = w1.plan_w1(cash, self.position_now, self.price_now, w1.WEIGHT, w1.BAND,
                               self.orders)
        for j in range(w1.sells_then_buys(self.orders, self.sequence)):
            k = int(self.sequence[j])
            amount, price = float(self.orders[k]), float(self.price_now[k])
            if amount < 0:
                self.sell(data=self.datas[k], size=-amount)
                cash += -amount * price * (1 - w1.FEE)  # what the fill will pay in
                continue
            amount = w1.scale_buy(amount, price, cash, w1.FEE, threshold)
            if amount > 0:
                self.buy(data=self.datas[k], size=amount)
                cash -= amount * price * (1 + w1.FEE)

    def target_percent(self) -> None:
        """backtrader's own sizing: order_target_percent(0.18) for every asset, sells first."""
        nav = self.broker.getvalue()
        over = [d for d in self.datas if self.getposition(d).size * d.close[0] > w1.WEIGHT * nav]
        for data in over + [d for d in self.datas if d not in over]:
            self.order_target_percent(data=data, target=w1.WEIGHT)


NOTES = {
    "band": ("Strategy + cheat-on-close + 0.1 % stocklike commission, explicit fractional "
             "sizes: W1 exactly. The band and buy scaling are in the strategy; "
             "order_target_percent cannot express the band and truncates sizes to whole "
             "units."),
    "target-percent": ("order_target_percent(0.18) at every wake, sells first: no 1 % band, "
                       "sizes truncated to whole units (CommInfo.getsize), buys beyond the "
                       "cash rejected (Margin): NOT W1's rules."),
}


def main() -> int:
    args = w1.arguments(__doc__.splitlines()[0], sorted(NOTES))

    started = time.perf_counter()
    opens, closes = w1.load_closes(args.prices)
    stamps = (pd.DatetimeIndex(opens).tz_convert("UTC").tz_localize(None)
              + pd.Timedelta(minutes=w1.CANDLE_MINUTES))
    cerebro = bt.Cerebro(stdstats=False)
    for k, asset in enumerate(w1.ASSETS):
        column = closes[:, k]
        frame = pd.DataFrame({"open": column, "high": column, "low": column, "close": column,
                              "volume": 0.0}, index=stamps)
        cerebro.adddata(bt.feeds.PandasData(dataname=frame), name=f"{asset}/{w1.QUOTE}")
    cerebro.broker.setcash(w1.INITIAL_CASH)
    cerebro.broker.setcommission(commission=w1.FEE, stocklike=True)
    cerebro.broker.set_coc(True)
    cerebro.addstrategy(W1, every=args.every, variant=args.variant)
    load_s = time.perf_counter() - started

    started = time.perf_counter()
    strategy = cerebro.run()[0]
    wall_s = time.perf_counter() - started

    result = {
        "engine": "backtrader",
        "version": bt.__version__,
        "variant": args.variant,
        "every_minutes": args.every,
        "final_nav": float(cerebro.broker.getvalue()),
        "fills": strategy.fills,
        "fees": strategy.fees,
        "rejected": strategy.rejected,
        "wakes": strategy.wakes,
        "load_s": load_s,
        "wall_s": wall_s,
        "notes": NOTES[args.variant],
    }
    return w1.emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
