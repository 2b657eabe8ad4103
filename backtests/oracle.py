"""Historical oracles: at wake time T they see only what was known at T."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from agentfund.backtests.data import Candles
from agentfund.oracles.base import NOTHING_RECORDED, BlobSink, Oracle, OracleError, Recorded
from fund.canonical import float_price, format_epoch, format_ts


class HistoricalPrices(Oracle):
    """Last completed candle's close per market: the candle must have *closed* by T.

    A price older than ``max_age`` is not served (the market is treated as unpriced), so
    a backtest running past the end of its price data does not trade on a stale close.

    A candle that opened at T − timeframe closes at T and is visible at T; the candle
    that opens at T is not. There is no other way into the data, so a strategy cannot
    look ahead.
    """

    def __init__(self, name: str, candles: Mapping[str, Candles],
                 max_age: timedelta | None = None) -> None:
        self.name = name
        self.symbols = tuple(candles)  # the markets it prices, in the given order
        # markets whose candles close at the same times share one search (and one time
        # text) per wake
        groups: dict[tuple[int, ...], list[tuple[str, list[float]]]] = {}
        for symbol, c in candles.items():
            groups.setdefault(tuple(c.close_times.tolist()), []).append((symbol, c.closes))
        self._groups = [(list(times), members) for times, members in groups.items()]
        self._max_age = int(max_age.total_seconds()) if max_age is not None else None
        # the candles the previous observation saw (per group, -1 for none) and its prices
        self._last: tuple[tuple[int, ...], dict[str, dict[str, str]]] = ((), {})

    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        now = int(at.timestamp())
        max_age = self._max_age
        seen = []
        for times, _members in self._groups:
            index = bisect_right(times, now) - 1
            seen.append(index if index >= 0 and (max_age is None or
                                                 now - times[index] <= max_age) else -1)
        key = tuple(seen)
        if key == self._last[0]:  # the same candles as the previous wake
            prices = self._last[1]
        else:
            prices = {}
            for (times, members), index in zip(self._groups, seen, strict=True):
                if index >= 0:
                    time = format_epoch(times[index])
                    for symbol, closes in members:
                        prices[symbol] = {"price": float_price(closes[index]), "time": time}
            self._last = (key, prices)
        if not prices:
            raise OracleError(f"no completed candle at or before {format_ts(at)}"
                              + (f" within {timedelta(seconds=self._max_age)}"
                                 if self._max_age is not None else ""))
        return {"prices": dict(prices)}
