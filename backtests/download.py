"""Download OHLCV history through ccxt into the files backtests read.

One feather file per market and timeframe, ``<BASE>_<QUOTE>-<tf>.feather`` (freqtrade's
layout and columns: ``date`` — the candle's *open* time, ``timestamp[ns, UTC]`` —, ``open``,
``high``, ``low``, ``close``, ``volume`` as float64), so ``backtests/data.py`` and freqtrade
read them as they are. Only closed candles are kept: a candle whose close time (open +
timeframe) is after the exchange's clock is still forming and is dropped.

Pages are fetched forward from ``since`` (``fetch_ohlcv(since=…, limit=page)``), each
starting one timeframe after the last candle received, paced by ccxt's rate limiter
(``enableRateLimit``: the exchange's published weights). A transient failure — a
dropped connection, a timeout, a 5xx, a 429 — is retried a bounded number of times,
after the ``Retry-After`` the exchange asked for or an exponential backoff. The file is
rewritten (a temporary file in the same directory, then an atomic rename) every few pages
and when a market is done or fails, so an interrupted run leaves the last complete file
and a re-run fetches only what is missing: candles before the file's first one (when
``since`` is earlier) and after its last one. Gaps — candles the exchange does not have —
are reported, never filled.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from agentfund.backtests.data import DataError, tf_label

COLUMNS = ("open", "high", "low", "close", "volume")
FLUSH_PAGES = 10  # rewrite the file every this many pages
MAX_WAIT_S = 120.0  # never wait longer than this before a retry, whatever Retry-After says


class DownloadError(DataError):
    """Bad input: an exchange, market or timeframe that cannot be downloaded (exit 2)."""


class DownloadFailed(Exception):
    """The exchange kept failing after the retries; what was fetched is kept on disk."""


@dataclass(frozen=True, slots=True)
class Series:
    """Candles of one market: open times (epoch ms, ascending, unique) and OHLCV columns."""

    times: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]  # shape (rows, 5): open, high, low, close, volume

    @staticmethod
    def empty() -> Series:
        """No candles."""
        return Series(np.zeros(0, np.int64), np.zeros((0, 5), np.float64))

    def __len__(self) -> int:
        return len(self.times)

    def merge(self, other: Series) -> Series:
        """Both series, by open time; a candle in both is kept as ``self`` has it."""
        times = np.concatenate([self.times, other.times])
        values = np.concatenate([self.values, other.values])
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[order]
        keep = np.ones(len(times), bool)
        keep[1:] = np.diff(times) != 0
        return Series(times[keep], values[keep])


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What a download left in one market's file."""

    pair: str
    path: Path
    rows: int
    fetched: int
    gaps: list[tuple[int, int]]  # (first missing open ms, number of candles missing)


@dataclass(frozen=True, slots=True, kw_only=True)
class Retrying:
    """How to retry a failing request: attempts after the first, the first backoff, how
    to wait (injectable for tests)."""

    retries: int = 5
    backoff_s: float = 1.0
    sleep: Callable[[float], None] = time.sleep


def file_path(out: Path, pair: str, timeframe: str) -> Path:
    """The file a market's candles go to (the name ``backtests/data.py`` looks for)."""
    label = tf_label(timedelta(seconds=timeframe_seconds(timeframe)))
    return out / f"{pair.replace('/', '_')}-{label}.feather"


def timeframe_seconds(timeframe: str) -> int:
    """A ccxt timeframe label (``5m``, ``1h``) in seconds; DownloadError if it is not one."""
    from fund.timeframes import timeframe_seconds as seconds

    try:
        return seconds(timeframe)
    except ValueError as exc:
        raise DownloadError(f"--timeframe: {exc}") from None


def open_exchange(exchange_id: str, *, urls: dict[str, str] | None = None,
                  rate_limit_ms: float | None = None, retrying: Retrying = Retrying()) -> Any:
    """A public ccxt client with its markets loaded; DownloadError for an unknown id."""
    from agentfund.oracles.base import OracleError
    from agentfund.oracles.exchange_prices import public_client

    try:
        client = public_client(exchange_id, urls=urls, timeout_ms=30_000)
    except OracleError as exc:
        raise DownloadError(f"--exchange: {exc}") from None
    if rate_limit_ms is not None:
        client.rateLimit = rate_limit_ms
        client.enableRateLimit = rate_limit_ms > 0
    _retried(client, "markets", retrying, client.load_markets)
    return client


def check(client: Any, pairs: list[str], timeframe: str) -> None:
    """Refuse a market the exchange does not list or a timeframe it does not serve."""
    timeframe_seconds(timeframe)
    known = getattr(client, "timeframes", None) or {}
    if known and timeframe not in known:
        raise DownloadError(f"--timeframe: {client.id} does not serve {timeframe!r} candles "
                            f"(it serves {', '.join(known)})")
    for pair in pairs:
        if pair not in client.markets:
            raise DownloadError(f"--pairs: {client.id} does not list {pair!r}")


def read_series(path: Path) -> Series:
    """The candles already in a downloaded file (none if there is no file)."""
    import pyarrow as pa
    import pyarrow.feather as feather

    if not path.exists():
        return Series.empty()
    try:
        table = feather.read_table(str(path), columns=["date", *COLUMNS])
        kind = table.schema.field("date").type
        per_ms = {"s": 0, "ms": 1, "us": 1_000, "ns": 1_000_000}[kind.unit]
        ticks = table.column("date").cast(pa.int64()).to_numpy()
        times = ticks * 1000 if per_ms == 0 else ticks // per_ms
        values = np.column_stack([table.column(c).cast(pa.float64()).to_numpy()
                                  for c in COLUMNS]) if len(table) else np.zeros((0, 5))
    except Exception as exc:  # noqa: BLE001 - any reader failure is a data error
        raise DataError(f"{path}: cannot read: {type(exc).__name__}: {exc}") from None
    return Series(times.astype(np.int64), values.astype(np.float64))


def write_series(path: Path, series: Series) -> None:
    """Write a market's file: to a temporary file beside it, then renamed over it."""
    import pyarrow as pa
    import pyarrow.feather as feather

    columns = {"date": pa.array(series.times * 1_000_000, pa.timestamp("ns", tz="UTC"))}
    columns.update({name: pa.array(series.values[:, i], pa.float64())
                    for i, name in enumerate(COLUMNS)})
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        feather.write_feather(pa.table(columns), str(temporary), compression="lz4")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def gaps(times: npt.NDArray[np.int64], span_ms: int) -> list[tuple[int, int]]:
    """Runs of missing candles: (open ms of the first missing one, how many are missing)."""
    steps = np.diff(times)
    holes = np.nonzero(steps > span_ms)[0]
    return [(int(times[i]) + span_ms, int(steps[i]) // span_ms - 1) for i in holes]


def server_ms(client: Any, retrying: Retrying) -> int:
    """The exchange's clock (its ``time`` endpoint), or ours if it has none."""
    if client.has.get("fetchTime"):
        return int(_retried(client, "time", retrying, client.fetch_time))
    return int(client.milliseconds())


def download_pair(client: Any, pair: str, timeframe: str, since_ms: int, until_ms: int | None,
                  out: Path, *, now_ms: int, retrying: Retrying = Retrying(),
                  advance: Callable[[int], None] = lambda n: None) -> Outcome:
    """Fetch what ``out`` lacks of one market's closed candles in [since, until)."""
    span = timeframe_seconds(timeframe) * 1000
    end = min(until_ms if until_ms is not None else now_ms, now_ms - span + 1)  # opens < end
    path = file_path(out, pair, timeframe)
    have = read_series(path)
    fetched = 0
    ranges = [(since_ms, min(end, int(have.times[0])))] if len(have) else [(since_ms, end)]
    if len(have):
        ranges.append((max(since_ms, int(have.times[-1]) + span), end))
    advance(int(np.count_nonzero((have.times >= since_ms) & (have.times < end))))
    for start, stop in ranges:
        have, count = _fetch_range(client, pair, timeframe, (start, stop), path, have,
                                   retrying=retrying, advance=advance)
        fetched += count
    return Outcome(pair=pair, path=path, rows=len(have), fetched=fetched,
                   gaps=gaps(have.times, span))


def _fetch_range(client: Any, pair: str, timeframe: str, bounds: tuple[int, int], path: Path,
                 have: Series, *, retrying: Retrying, advance: Callable[[int], None]
                 ) -> tuple[Series, int]:
    """Fetch the candles opening in [start, stop), page by page, saving as it goes."""
    start, stop = bounds
    span = timeframe_seconds(timeframe) * 1000
    limit = int(((client.features or {}).get("spot") or {}).get("fetchOHLCV", {})
                .get("limit") or 500)
    new, pages, cursor = Series.empty(), 0, start
    try:
        while cursor < stop:
            rows = _retried(client, pair, retrying, client.fetch_ohlcv, pair, timeframe,
                            cursor, limit, {"until": stop - 1})
            page = _parse(rows, cursor, stop)
            if not len(page):
                break
            new = new.merge(page)
            advance(len(page))
            cursor = int(page.times[-1]) + span
            pages += 1
            if pages % FLUSH_PAGES == 0:
                write_series(path, have.merge(new))
    finally:
        if len(new):
            write_series(path, have.merge(new))
    return have.merge(new), len(new)


def _parse(rows: Any, start: int, stop: int) -> Series:
    """A page of ccxt candles as a Series, only those opening in [start, stop)."""
    if not isinstance(rows, list):
        raise DownloadFailed(f"candles are {type(rows).__name__}, not a list")
    kept = [row for row in rows if start <= int(row[0]) < stop]
    if not kept:
        return Series.empty()
    times = np.array([int(row[0]) for row in kept], np.int64)
    values = np.array([row[1:6] for row in kept]).astype(np.float64)
    order = np.argsort(times, kind="stable")
    return Series.empty().merge(Series(times[order], values[order]))


def _retried(client: Any, what: str, retrying: Retrying, call: Callable[..., Any],
             *args: Any) -> Any:
    """Call ``call(*args)``, retrying transient failures; DownloadFailed when they last."""
    import ccxt  # type: ignore[import-untyped]

    for attempt in range(retrying.retries + 1):
        try:
            return call(*args)
        except ccxt.NetworkError as exc:  # timeouts, dropped connections, 5xx, 429
            if attempt == retrying.retries:
                raise DownloadFailed(f"{client.id}: {what}: gave up after "
                                     f"{attempt + 1} attempts: {_brief(exc)}") from None
            retrying.sleep(_wait(client, exc, retrying.backoff_s * 2 ** attempt))
        except ccxt.BadSymbol as exc:
            raise DownloadError(f"--pairs: {client.id}: {what}: {_brief(exc)}") from None
        except ccxt.BaseError as exc:
            raise DownloadFailed(f"{client.id}: {what}: {_brief(exc)}") from None
    raise AssertionError("unreachable")


def _wait(client: Any, exc: Exception, backoff: float) -> float:
    """How long to wait before retrying: the exchange's Retry-After on a 429, else backoff."""
    import ccxt

    if isinstance(exc, ccxt.DDoSProtection):
        headers = getattr(client, "last_response_headers", None) or {}
        try:
            return min(MAX_WAIT_S, max(float(headers.get("Retry-After", "")), 0.0))
        except ValueError:
            pass
    return min(MAX_WAIT_S, backoff)


def _brief(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}" + (f": {text[:200]}" if text else "")


def ms(moment: datetime) -> int:
    """A UTC moment in epoch milliseconds."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
