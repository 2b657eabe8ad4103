"""Historical oracles: at wake time T they see only what was known at T."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from agentfund.backtests.data import Candles
from agentfund.oracles.base import NOTHING_RECORDED, BlobSink, Oracle, OracleError, Recorded
from fund.canonical import float_price, format_ts


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
        self._series = [(s, c.close_times.tolist(), c.closes) for s, c in candles.items()]
        self._max_age = int(max_age.total_seconds()) if max_age is not None else None
        self._ts_cache: dict[int, str] = {}

    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        now = int(at.timestamp())
        prices: dict[str, dict[str, Any]] = {}
        for symbol, times, closes in self._series:
            index = bisect_right(times, now) - 1
            if index >= 0 and (self._max_age is None or now - times[index] <= self._max_age):
                prices[symbol] = {"price": float_price(closes[index]),
                                  "time": self._format(times[index])}
        if not prices:
            raise OracleError(f"no completed candle at or before {format_ts(at)}"
                              + (f" within {timedelta(seconds=self._max_age)}"
                                 if self._max_age is not None else ""))
        return {"prices": prices}

    def _format(self, seconds: int) -> str:
        text = self._ts_cache.get(seconds)
        if text is None:
            if len(self._ts_cache) > 4096:
                self._ts_cache.clear()
            text = self._ts_cache[seconds] = format_ts(datetime.fromtimestamp(seconds, UTC))
        return text
