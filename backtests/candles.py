"""The historical ``ohlcv`` oracle: at a wake at T, the last N candles *closed* by T.

It reads the backtest's own data files (``backtest.prices``, at ``backtest.timeframe``) and
records what the live :class:`~agentfund.oracles.exchange_candles.ExchangeOHLCV` records:
``{"timeframe", "candles": {symbol: [{"time", "close_time", "open", "high", "low", "close",
"volume"}, …]}, "prices": {symbol: {"price", "time"}}}``, oldest first. A candle is closed
at T when its open time + timeframe <= T: at a wake exactly on a boundary the candle that
has just closed is seen, the one opening at T is not.

A timeframe coarser than the data's (a whole multiple of it) is resampled: candles are
grouped in buckets aligned on the epoch (``1h`` buckets start on the hour, ``1d`` at 00:00
UTC), open = the first candle's open, high = the highest high, low = the lowest low,
close = the last candle's close, volume = the sum (correctly rounded: ``math.fsum``); a
bucket is closed when its own close time is, so a bucket holding fewer candles (a gap, the
end of the data) is served with those it has. A finer timeframe, or one that is not a
multiple, is refused.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from agentfund.backtests.data import Candles, DataError, tf_label
from agentfund.oracles.base import NOTHING_RECORDED, BlobSink, Oracle, OracleError, Recorded
from fund.canonical import float_price, format_ts

COLUMNS = ("open", "high", "low", "close", "volume")
MAX_CANDLES = 998  # as live (binance's page, less the forming candle and a late wake)


class HistoricalOHLCV(Oracle):
    """The last ``count`` closed candles of each market at ``timeframe``, from the files.

    A market whose last closed candle closed more than ``max_age`` before T is left out
    (as the prices oracle leaves a stale price out); none at all is an error.
    """

    def __init__(self, name: str, candles: Mapping[str, Candles], *, timeframe: str,
                 count: int, max_age: timedelta | None = None) -> None:
        if not 1 <= count <= MAX_CANDLES:
            raise ValueError(f"candles {count} is outside 1..{MAX_CANDLES}")
        self.name = name
        self.timeframe = timeframe
        self.count = count
        self._max_age = int(max_age.total_seconds()) if max_age is not None else None
        self._series: list[tuple[str, list[int], npt.NDArray[np.float64]]] = []
        for symbol, history in candles.items():
            span = _span(timeframe, history.timeframe)
            opens, values = read_ohlcv(history.path, history)
            opens, values = resample(opens, values, span)
            self._series.append((symbol, (opens + span).tolist(), values))
        self.span = span if candles else 0

    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        now = int(at.timestamp())
        candles: dict[str, list[dict[str, Any]]] = {}
        prices: dict[str, dict[str, str]] = {}
        for symbol, closes, values in self._series:
            last = bisect_right(closes, now)  # candles closed by T: close time <= T
            if last == 0 or (self._max_age is not None and
                             now - closes[last - 1] > self._max_age):
                continue
            rows = [self._candle(closes[i], values[i]) for i in
                    range(max(0, last - self.count), last)]
            candles[symbol] = rows
            prices[symbol] = {"price": rows[-1]["close"], "time": rows[-1]["close_time"]}
        if not candles:
            raise OracleError(f"no {self.timeframe} candle closed at or before {format_ts(at)}"
                              + (f" within {timedelta(seconds=self._max_age)}"
                                 if self._max_age is not None else ""))
        return {"timeframe": self.timeframe, "candles": candles, "prices": prices}

    def _candle(self, close: int, row: npt.NDArray[np.float64]) -> dict[str, Any]:
        candle: dict[str, Any] = {"time": _ts(close - self.span), "close_time": _ts(close)}
        for index, field in enumerate(COLUMNS):
            candle[field] = float_price(float(row[index]))
        return candle


def _span(timeframe: str, data: timedelta) -> int:
    """The requested timeframe in seconds; OracleError unless a multiple of the data's."""
    from fund.timeframes import timeframe_seconds

    try:
        seconds = timeframe_seconds(timeframe)
    except ValueError as exc:
        raise OracleError(f"timeframe {exc}") from None
    base = int(data.total_seconds())
    if seconds % base:
        raise OracleError(f"timeframe {timeframe!r} is not a whole multiple of "
                          f"backtest.timeframe ({tf_label(data)}, the data's): set the "
                          "oracle's timeframe to a multiple of it, or download finer data")
    return seconds


def read_ohlcv(path: Path, history: Candles) -> tuple[npt.NDArray[np.int64],
                                                       npt.NDArray[np.float64]]:
    """Open times (epoch s) and open, high, low, close, volume of a history file."""
    try:
        if path.suffix == ".feather":
            import pyarrow as pa
            import pyarrow.feather as feather

            table = feather.read_table(str(path), columns=list(COLUMNS))
            values = np.column_stack([table.column(c).cast(pa.float64()).to_numpy()
                                      for c in COLUMNS])
        else:
            import pandas as pd

            frame = pd.read_csv(path)
            values = frame[list(COLUMNS)].to_numpy(dtype="float64")
    except Exception as exc:  # noqa: BLE001 - any reader failure is a data error
        raise DataError(f"{path}: the ohlcv oracle needs columns {', '.join(COLUMNS)}: "
                        f"{type(exc).__name__}: {exc}") from None
    opens = history.close_times - int(history.timeframe.total_seconds())
    if len(values) != len(opens) or not np.all(np.isfinite(values)):
        raise DataError(f"{path}: open, high, low, close and volume must be numbers")
    return opens.astype(np.int64), values


def resample(opens: npt.NDArray[np.int64], values: npt.NDArray[np.float64], span: int
             ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Candles grouped in epoch-aligned buckets of ``span`` seconds (unchanged when they
    already are one a bucket)."""
    buckets = opens - opens % span
    if len(buckets) == 0 or (np.all(buckets == opens) and np.all(np.diff(buckets) > 0)):
        return buckets, values
    starts = np.flatnonzero(np.r_[True, np.diff(buckets) != 0])
    ends = np.r_[starts[1:], len(buckets)] - 1
    out = np.column_stack([values[starts, 0], np.maximum.reduceat(values[:, 1], starts),
                           np.minimum.reduceat(values[:, 2], starts), values[ends, 3],
                           [math.fsum(values[a:b + 1, 4]) for a, b in zip(starts, ends,
                                                                          strict=True)]])
    return buckets[starts], out


def _ts(seconds: int) -> str:
    return format_ts(datetime.fromtimestamp(seconds, UTC))
