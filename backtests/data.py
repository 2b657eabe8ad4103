"""OHLCV history from files: freqtrade feather, or CSV (plain or gzipped).

Files are named ``<BASE>_<QUOTE>-<timeframe>.feather|.csv|.csv.gz`` (freqtrade's layout),
with a ``date`` (or ``timestamp``) column holding each candle's *open* time and a
``close`` column. Times are UTC; naive times are read as UTC; integers as epoch ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

SUFFIXES = (".feather", ".csv", ".csv.gz")


class DataError(Exception):
    """History is missing or unreadable; the message names the file."""


@dataclass(frozen=True, slots=True)
class Candles:
    """Closes of one market, indexed by candle close time (epoch seconds, ascending)."""

    symbol: str
    path: Path
    close_times: npt.NDArray[np.int64]
    closes: list[float]
    timeframe: timedelta

    @property
    def first_close(self) -> datetime:
        """Close time of the first candle."""
        return datetime.fromtimestamp(int(self.close_times[0]), UTC)

    @property
    def last_close(self) -> datetime:
        """Close time of the last candle."""
        return datetime.fromtimestamp(int(self.close_times[-1]), UTC)


def tf_label(timeframe: timedelta) -> str:
    """Return freqtrade's label for a timeframe (``5m``, ``1h``, ``1d``)."""
    minutes = int(timeframe.total_seconds()) // 60
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def find_file(directory: Path, symbol: str, timeframe: timedelta) -> Path:
    """Locate the history file of a market in a directory."""
    stem = f"{symbol.replace('/', '_')}-{tf_label(timeframe)}"
    try:
        for suffix in SUFFIXES:
            candidate = directory / (stem + suffix)
            if candidate.is_file():
                return candidate
        present = directory.is_dir()
    except OSError as exc:  # a path the system cannot look up (too long, …)
        raise DataError(f"backtest.prices: {directory}: {exc.strerror or exc}") from None
    if not present:
        raise DataError(f"backtest.prices: {directory} is not a directory")
    raise DataError(f"backtest.prices: no {stem}.feather/.csv/.csv.gz in {directory}")


def _column(table: Any, name: str, dtype: type[np.generic]) -> npt.NDArray[Any]:
    """Copy a numeric Arrow column out of its buffers (pyarrow's to_numpy imports pandas)."""
    column = table.column(name)
    if column.null_count:
        raise DataError(f"column {name} has {column.null_count} missing values")
    width = np.dtype(dtype).itemsize
    parts = [np.frombuffer(chunk.buffers()[1], dtype=dtype, count=len(chunk),
                           offset=chunk.offset * width) for chunk in column.chunks]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _read_feather(path: Path) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    import pyarrow as pa
    import pyarrow.feather as feather

    table = feather.read_table(str(path), columns=["date", "close"])
    kind = table.schema.field("date").type
    if not pa.types.is_timestamp(kind):
        raise DataError(f"{path}: column date is {kind}, not a timestamp")
    if not pa.types.is_float64(table.schema.field("close").type):
        table = table.set_column(1, "close", table.column("close").cast(pa.float64()))
    ticks = _column(table, "date", np.int64)  # UTC ticks since the epoch
    return ticks // _PER_SECOND[kind.unit], _column(table, "close", np.float64)


_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def arrow_candles(path: Path, names: tuple[str, ...]
                  ) -> tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[np.float64]]] | None:
    """A candle file's open times (epoch seconds) and those of the columns ``names`` it
    has, as floats, read by pyarrow alone (pandas, a fifth of a second to import, is not):
    a feather file, or a CSV file (gzipped too) whose time column (``date``, else
    ``timestamp``) pyarrow reads as times — naive ones as UTC, others converted — or as
    integer milliseconds, as pandas reads them. None for anything else (dates without a
    time, another format, a missing value, no time column): pandas reads it then, and says
    what is wrong."""
    import pyarrow as pa

    try:
        if path.suffix == ".feather":
            import pyarrow.feather as feather

            table = feather.read_table(str(path))
        else:
            import pyarrow.csv as csv

            table = csv.read_csv(str(path))
    except Exception:  # noqa: BLE001 - pandas reads it again and says why
        return None
    column = "date" if "date" in table.column_names else "timestamp"
    present = [name for name in names if name in table.column_names]
    if column not in table.column_names or any(
            table.column(name).null_count for name in (column, *present)):
        return None
    kind = table.schema.field(column).type
    if pa.types.is_timestamp(kind):
        seconds = _column(table, column, np.int64) // _PER_SECOND[kind.unit]
    elif pa.types.is_integer(kind):  # milliseconds since the epoch (pandas' unit="ms")
        seconds = table.column(column).cast(pa.int64())
        seconds = _column(pa.table({column: seconds}), column, np.int64) // 1_000
    else:
        return None
    columns = {}
    for name in present:
        if not pa.types.is_floating(table.schema.field(name).type) and \
                not pa.types.is_integer(table.schema.field(name).type):
            return None
        values = table.column(name)
        if not pa.types.is_float64(values.type):  # (a cast imports pyarrow.compute: 60 ms)
            values = values.cast(pa.float64())
        columns[name] = _column(pa.table({name: values}), name, np.float64)
    return seconds, columns


def _read_csv(path: Path) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    found = arrow_candles(path, ("close",))
    if found is not None and "close" in found[1]:
        return found[0], found[1]["close"]
    import pandas as pd

    frame = pd.read_csv(path)
    column = "date" if "date" in frame.columns else "timestamp"
    if column not in frame.columns or "close" not in frame.columns:
        raise DataError(f"{path}: needs a date (or timestamp) column and a close column")
    raw = frame[column]
    if pd.api.types.is_integer_dtype(raw):
        stamps = pd.to_datetime(raw, unit="ms", utc=True)
    else:
        stamps = pd.to_datetime(raw, utc=True, format="mixed")
    seconds = (stamps.astype("datetime64[s, UTC]").astype("int64")).to_numpy()
    return seconds, frame["close"].to_numpy(dtype="float64")


def load_candles(directory: Path, symbol: str, timeframe: timedelta) -> Candles:
    """Load, check and index one market's history by candle close time."""
    path = find_file(directory, symbol, timeframe)
    try:
        opens, closes = _read_feather(path) if path.suffix == ".feather" else _read_csv(path)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a data error
        raise DataError(f"{path}: cannot read: {type(exc).__name__}: {exc}") from None
    if len(opens) == 0:
        raise DataError(f"{path}: no candles")
    if np.any(np.diff(opens) <= 0):
        raise DataError(f"{path}: candle times are not strictly increasing")
    if not np.all(np.isfinite(closes)) or np.any(closes <= 0):
        raise DataError(f"{path}: close prices must be positive numbers")
    close_times = (opens + int(timeframe.total_seconds())).astype(np.int64)
    return Candles(symbol=symbol, path=path, close_times=close_times,
                   closes=closes.tolist(), timeframe=timeframe)
