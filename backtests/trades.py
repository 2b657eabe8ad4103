"""The report's trades section: fills, round trips, P&L per asset, win rate, turnover,
calendar returns and each asset's price (candles from the backtest's OHLCV files) with
the fund's buys and sells — the UI's Trades page, as HTML.

:func:`trades_section` reads the journal itself (the snapshot the UI folds, and
fund.trades' fold of the same stream), so the report and the UI cannot disagree.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fund import display, performance
from fund.figures import html_div
from fund.journal import open_journal
from fund.monitor import trading
from fund.monitor.snapshot import ActorSnapshot, advance
from fund.trades import Ohlcv, TradeBook, Trades, trading_fold

from .data import DataError, arrow_candles, find_file

MAX_ROWS = 200
"""Rows of the round-trip and fill tables shown (the newest); the count says how many."""
TEMPLATE = "plotly_white"
"""The trades section's plotly template (not whatever default was set: streamlit sets its
own)."""
_TIMEFRAME = re.compile(r"^(\d+)([mhdw])$")
_UNIT = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def _timeframes(directory: Path, symbol: str) -> list[timedelta]:
    """The timeframes of the files of a market in a directory, shortest first."""
    stem = symbol.replace("/", "_") + "-"
    found = set()
    for path in directory.glob(f"{stem}*"):
        label = path.name[len(stem):].split(".", 1)[0]
        match = _TIMEFRAME.match(label)
        if match:
            found.add(timedelta(seconds=int(match[1]) * _UNIT[match[2]]))
    return sorted(found)


def load_ohlcv(directory: Path, symbol: str, timeframe: timedelta | None = None,
               window: tuple[float, float] | None = None,
               max_candles: int | None = None) -> Ohlcv:
    """One market's candles from a freqtrade-style file (feather or CSV, see
    backtests/data.py), by open time; ``timeframe`` None takes the shortest there is;
    ``window`` (epoch seconds) keeps the candles that overlap it; ``max_candles``: merged
    as a chart draws them (fund.monitor.trading.merged), from the columns as read (None:
    every candle as it is)."""
    if timeframe is None:
        frames = _timeframes(directory, symbol)
        if not frames:
            raise DataError(f"no OHLCV file of {symbol} in {directory}")
        timeframe = frames[0]
    path = find_file(directory, symbol, timeframe)
    found = _arrow_columns(path)
    times, columns = found if found is not None else _frame_columns(path)
    keep = np.ones(len(times), dtype=bool)
    if window is not None:
        span = timeframe.total_seconds()
        keep = (times + span > window[0]) & (times <= window[1])

    volume = columns["volume"][keep] if "volume" in columns else ()
    return trading.merged_columns(symbol, times[keep], columns["open"][keep],
                                  columns["high"][keep], columns["low"][keep],
                                  columns["close"][keep], volume,
                                  len(times) if max_candles is None else max_candles)


_OHLCV = ("open", "high", "low", "close", "volume")
Columns = tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[np.float64]]]
"""Candle open times (epoch seconds) and the columns of ``_OHLCV`` a file has, as floats."""


def _arrow_columns(path: Path) -> Columns | None:
    """A file's candles read by pyarrow alone (pandas is not imported), or None when the
    file is one that only :func:`_frame_columns` reads as it is (data.arrow_candles)."""
    found = arrow_candles(path, _OHLCV)
    if found is None or not {"open", "high", "low", "close"} <= set(found[1]):
        return None
    return found[0].astype(np.float64), found[1]


def _frame_columns(path: Path) -> Columns:
    """A file's candles read by pandas (feather or CSV, dates as freqtrade writes them)."""
    import pandas as pd

    try:
        frame = pd.read_feather(path) if path.suffix == ".feather" else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a data error
        raise DataError(f"{path}: cannot read: {type(exc).__name__}: {exc}") from None
    column = "date" if "date" in frame.columns else "timestamp"
    missing = {column, "open", "high", "low", "close"} - set(frame.columns)
    if missing:
        raise DataError(f"{path}: no {', '.join(sorted(missing))} column")
    raw = frame[column]
    if pd.api.types.is_integer_dtype(raw):
        stamps = pd.to_datetime(raw, unit="ms", utc=True)
    else:
        stamps = pd.to_datetime(raw, utc=True, format="mixed")
    times = stamps.astype("datetime64[s, UTC]").astype("int64").to_numpy().astype(float)
    return times, {name: frame[name].to_numpy(dtype="float64") for name in _OHLCV
                   if name in frame.columns}


def trades_data(journal: str, actor: str) -> tuple[ActorSnapshot, TradeBook]:
    """The actor's snapshot (unit value, last prices) and its trade book, up to the last
    entry on the hash chain, read from the journal at ``journal`` (a URL or a path) once:
    the trades are folded from the entries the snapshot's fold accepted."""
    with open_journal(journal, must_exist=True) as store:
        snap = ActorSnapshot(actor=actor)
        trades = Trades()
        advance(store, snap, also=trading_fold(trades))  # the entries decoded once, for both
    return snap, trades.book(snap.ledger.prices if snap.ledger else None)


def _table(rows: Sequence[dict[str, Any]], caption: str = "") -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values())
                   + "</tr>" for row in rows)
    note = f"<p class=\"note\">{html.escape(caption)}</p>" if caption else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def _newest(rows: list[trading.Row], what: str, limit: int) -> str:
    caption = f"The newest {limit:,} of {len(rows):,} {what}." if len(rows) > limit else ""
    return _table(rows[:limit], caption)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "actor"


def _periods(times: Sequence[float]) -> Iterable[str]:
    """The calendar periods worth a chart: each with more than one bar (the day at least)."""
    span = (times[-1] - times[0]) / 86_400 if len(times) > 1 else 0.0
    yield "day"
    if span > 14:
        yield "week"
    if span > 60:
        yield "month"


def _day_ends(times: Sequence[float] | npt.NDArray[np.float64],
              values: Sequence[float] | npt.NDArray[np.float64]
              ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The last point with a value (not NaN) of each UTC day of a curve: its calendar
    returns (fund.performance) are those of the whole curve — a day, a week or a month is
    whole UTC days, and its return reads only its last value and the one before it."""
    t = np.array(times, dtype=np.float64)
    v = np.array(values, dtype=np.float64)
    finite = np.isfinite(v)
    t, v = t[finite], v[finite]
    days = np.floor(t / performance.DAY_SECONDS)
    last = np.append(days[1:] != days[:-1], len(days) > 0)[:len(days)]
    return t[last], v[last]


def trades_section(journal: str, actor: str, *, prices: Path | None = None,
                   timeframe: timedelta | None = None, plotlyjs: bool = False,
                   max_rows: int = MAX_ROWS,
                   data: tuple[ActorSnapshot, TradeBook] | None = None) -> str:
    """The report's trades section of one actor, as an HTML fragment (a ``<section>``).

    ``prices`` (the backtest's ``[backtest] prices`` directory) and ``timeframe`` give the
    candles the price charts draw; without them, or without a file, the prices observed at
    the wakes are drawn. The figures are plotly ``<div>``s that need plotly.js on the page:
    ``plotlyjs=True`` puts it (inline, offline) in the first figure; leave it False when the
    report includes it once itself. Output is deterministic (fixed element ids). ``data``
    is :func:`trades_data` of the same journal and actor, when the caller folded it already.
    """
    snap, book = data if data is not None else trades_data(journal, actor)
    points = snap.points()
    slug = _slug(actor)
    figures: list[str] = []

    def figure(fig: Any, name: str) -> str:
        include: bool | str = "inline" if plotlyjs and not figures else False
        div = html_div(fig, TEMPLATE, div_id=f"trades-{slug}-{name}",
                       config={"displaylogo": False, "responsive": True},
                       include_plotlyjs=include)
        figures.append(div)
        return div

    parts = [f"<section class=\"trades\" id=\"trades-{slug}\"><h2>Trades: "
             f"{html.escape(actor)}</h2>"]
    if not snap.trusted:
        parts.append(f"<p class=\"note\"><strong>{html.escape(str(snap.chain_error))}"
                     "</strong> The figures stop at the last entry on the hash chain.</p>")
    parts.append(_table([{"figure": label, "value": value, "definition": note}
                         for label, value, note in trading.summary(book, points.nav)],
                        "Average cost (the books' convention): each sell is a round trip "
                        "closing that amount of the position at its average cost; its "
                        "realised P&L counts its own fee and the buys' fees on the amount "
                        "sold. Net P&L is the NAV's change that is not money in or out. "
                        "See docs/metrics.md."))
    if book.assets:
        parts.append("<h3>P&amp;L and fees per asset</h3>")
        parts.append(figure(trading.pnl_figure(book.assets, book.quote), "pnl"))
        parts.append(_table(trading.asset_rows(book)))
    start = snap.units.start
    if start is not None and len(points.unit):
        parts.append("<h3>Returns per calendar period</h3><p class=\"note\">UTC days, weeks "
                     "from Monday and months, measured on the unit value (NAV per share): "
                     "money in or out is not return.</p>")
        days, closes = _day_ends(points.times, points.unit)
        for period in _periods(points.times):
            returns = performance.calendar_returns(days, closes, start, period)
            parts.append(f"<h4>{trading_period(period)}</h4>")
            parts.append(figure(trading.calendar_figure(returns, period), f"calendar-{period}"))
    if points.times:
        window = (float(points.times[0]), float(points.times[-1]))
        parts.append("<h3>Prices and trades</h3>")
        for symbol in snap.symbols:
            candles = book.candles.get(symbol)
            if candles is None and prices is not None:
                try:
                    candles = load_ohlcv(prices, symbol, timeframe, window,
                                         trading.MAX_CANDLES)
                except DataError:
                    candles = None
            parts.append(f"<h4>{html.escape(symbol)}</h4>")
            parts.append(figure(trading.price_figure(
                book, symbol, times=points.times, prices=points.prices.get(symbol, ()),
                candles=candles), f"price-{_slug(symbol)}"))
    parts.append(f"<h3>Round trips ({display.count(len(book.round_trips))})</h3>")
    parts.append(_newest(trading.round_trip_rows(book), "round trips", max_rows))
    parts.append(f"<h3>Fills ({display.count(len(book.fills))})</h3>")
    parts.append(_newest(trading.fill_rows(book), "fills", max_rows))
    parts.append("</section>")
    return "\n".join(parts)


def trading_period(period: str) -> str:
    """'Daily', 'Weekly' or 'Monthly' returns."""
    return {"day": "Daily", "week": "Weekly", "month": "Monthly"}[period] + " returns"
