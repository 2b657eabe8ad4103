"""Tables and plotly figures of a trade book (fund.trades): the fills, the round trips,
P&L per asset, each asset's price with the fund's buys and sells on it, calendar returns.
The UI's Trades page and the report's trades section show the same tables and figures;
every number in them is formatted by fund.display.

Nothing is dropped for drawing: a long price line keeps the lowest and the highest price
of every bucket of points, and many candles are merged into wider ones (first open,
highest high, lowest low, last close, summed volume).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go  # type: ignore[import-untyped]

from fund import display
from fund.markets import Market
from fund.trades import AssetPnL, Ohlcv, TradeBook, TradeFill, turnover

Row = dict[str, str | int]

MAX_POINTS = 4_000
MAX_CANDLES = 1_500
BUY, SELL = ("#2ca02c", "triangle-up"), ("#d62728", "triangle-down")
GAIN, LOSS = "#2ca02c", "#d62728"
LAYOUT = {"margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "legend": {"orientation": "h"}}
Floats = npt.NDArray[np.float64]


def _times(epochs: Sequence[float] | Floats) -> npt.NDArray[np.datetime64]:
    return (np.asarray(epochs, dtype=np.float64) * 1000).astype("datetime64[ms]")


def extremes(values: Sequence[float] | Floats, max_points: int = MAX_POINTS
             ) -> npt.NDArray[np.int64]:
    """Indices of at most about ``max_points`` points keeping, in every bucket of
    consecutive points, the lowest and the highest (and the first and the last point)."""
    data = np.asarray(values, dtype=np.float64)
    n = len(data)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    size = math.ceil(n / max(max_points // 2, 1))
    starts = np.arange(0, n, size)
    filled = np.where(np.isfinite(data), data, np.nan)
    keep = [0, n - 1]
    for first in starts:
        chunk = filled[first:first + size]
        if np.isfinite(chunk).any():
            keep += [int(first + np.nanargmin(chunk)), int(first + np.nanargmax(chunk))]
    return np.unique(np.asarray(keep, dtype=np.int64))


def merged(candles: Ohlcv, max_candles: int = MAX_CANDLES) -> Ohlcv:
    """The candles merged k at a time (k the smallest that leaves at most ``max_candles``):
    first open, highest high, lowest low, last close, volumes summed."""
    if len(candles) <= max_candles:
        return candles
    return merged_columns(candles.symbol, candles.times, candles.open, candles.high,
                          candles.low, candles.close, candles.volume, max_candles)


def merged_columns(symbol: str, times: Sequence[float] | Floats, open_: Sequence[float] | Floats,
                   high: Sequence[float] | Floats, low: Sequence[float] | Floats,
                   close: Sequence[float] | Floats, volume: Sequence[float] | Floats = (),
                   max_candles: int = MAX_CANDLES) -> Ohlcv:
    """:func:`merged` of candles given as columns (arrays, as a file is read: no tuple of
    every candle is made to be merged again); an empty ``volume``: none recorded."""
    def arr(values: Sequence[float] | Floats) -> Floats:
        return np.asarray(values, dtype=np.float64)

    n = len(times)
    if n <= max_candles:
        return Ohlcv(symbol=symbol, times=tuple(arr(times).tolist()),
                     open=tuple(arr(open_).tolist()), high=tuple(arr(high).tolist()),
                     low=tuple(arr(low).tolist()), close=tuple(arr(close).tolist()),
                     volume=tuple(arr(volume).tolist()))
    k = math.ceil(n / max_candles)
    starts = np.arange(0, n, k)
    lasts = np.minimum(starts + k, n) - 1
    summed = arr(volume) if len(volume) else np.zeros(n)
    return Ohlcv(symbol=symbol, times=tuple(arr(times)[starts].tolist()),
                 open=tuple(arr(open_)[starts].tolist()),
                 high=tuple(np.maximum.reduceat(arr(high), starts).tolist()),
                 low=tuple(np.minimum.reduceat(arr(low), starts).tolist()),
                 close=tuple(arr(close)[lasts].tolist()),
                 volume=tuple(np.add.reduceat(summed, starts).tolist()))


def fill_text(fill: TradeFill, market: Market | None, quote: str) -> str:
    """One fill for a hover: side, amount, price, notional, fee, and what a sell realised."""
    text = (f"{fill.side} {display.amount(fill.amount, market)} {fill.symbol} @ "
            f"{display.price(fill.price, market)}<br>notional {display.money(fill.notional, quote)}"
            f", fee {display.money(fill.fee, fill.fee_currency or quote)}")
    if fill.realised is not None:
        text += f"<br>realised {display.money(fill.realised, quote)} before fees"
    return f"{text}<br>entry {fill.seq:,}"


def price_figure(book: TradeBook, symbol: str, *, times: Sequence[float] = (),
                 prices: Sequence[float] = (), candles: Ohlcv | None = None) -> go.Figure:
    """One asset's price — candles when there are some, else the prices observed at the
    wakes (``times``, ``prices``) — with the fund's buys (▲) and sells (▼) at their prices."""
    market = book.markets.get(symbol)
    figure = go.Figure()
    if candles is not None and len(candles):
        shown = merged(candles)
        figure.add_trace(go.Candlestick(
            x=_times(shown.times), open=shown.open, high=shown.high, low=shown.low,
            close=shown.close, name=f"{symbol} candles", increasing_line_color="#7f7f7f",
            decreasing_line_color="#333333", showlegend=True))
    elif len(prices):
        index = extremes(prices)
        figure.add_trace(go.Scatter(
            x=_times(np.asarray(times, dtype=np.float64)[index]),
            y=np.asarray(prices, dtype=np.float64)[index], name=f"{symbol} price",
            mode="lines", line={"color": "#7f7f7f", "width": 1}))
    for side, (colour, marker) in (("buy", BUY), ("sell", SELL)):
        fills = [f for f in book.fills if f.symbol == symbol and f.side == side]
        if fills:
            figure.add_trace(go.Scatter(
                x=_times([f.at for f in fills]), y=[float(f.price) for f in fills],
                mode="markers", name=f"{side} ({len(fills):,})",
                marker={"color": colour, "symbol": marker, "size": 10,
                        "line": {"width": 1, "color": "white"}},
                text=[fill_text(f, market, book.quote) for f in fills], hoverinfo="text+x"))
    figure.update_layout(height=420, yaxis_title=f"{symbol} ({book.quote})",
                         xaxis_rangeslider_visible=False, **LAYOUT)
    return figure


def calendar_figure(returns: Sequence[tuple[float, float]], period: str) -> go.Figure:
    """Bars of the return over each calendar period (green up, red down)."""
    values = [r for _, r in returns]
    figure = go.Figure(go.Bar(
        x=_times([t for t, _ in returns]), y=values,
        marker_color=[GAIN if v >= 0 else LOSS for v in values],
        text=[display.signed_percent(v) for v in values], hoverinfo="text+x",
        textposition="none", name=f"return per {period}"))
    spread = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    figure.update_yaxes(tickformat=".2%" if spread < 0.02 else ".1%" if spread < 0.2 else ".0%")
    figure.update_layout(height=320, bargap=0.15, **LAYOUT)
    return figure


def pnl_figure(assets: Sequence[AssetPnL], quote: str) -> go.Figure:
    """Realised and unrealised P&L and fees per asset (stacked: the bars sum to net P&L)."""
    names = [a.symbol for a in assets]
    figure = go.Figure()
    for label, values, colour in (
            ("realised (before fees)", [float(a.realised) for a in assets], "#1f77b4"),
            ("unrealised", [float(a.unrealised) for a in assets], "#aec7e8"),
            ("fees", [-float(a.fees) for a in assets], "#ff7f0e")):
        figure.add_trace(go.Bar(x=names, y=values, name=label, marker_color=colour,
                                text=[display.money(v, quote) for v in values],
                                hoverinfo="text+name", textposition="none"))
    figure.add_trace(go.Scatter(x=names, y=[float(a.net) for a in assets], mode="markers",
                                name="net P&L", marker={"color": "black", "symbol": "diamond",
                                                        "size": 10},
                                text=[display.money(a.net, quote) for a in assets],
                                hoverinfo="text+name"))
    figure.update_layout(height=340, barmode="relative", yaxis_title=quote, **LAYOUT)
    return figure


def when(ts: str) -> str:
    """A journal timestamp as 'YYYY-MM-DD HH:MM' (UTC; seconds shown only when not 0)."""
    text = ts[:19].replace("T", " ")
    return text[:16] if text.endswith(":00") else text


def summary(book: TradeBook, nav: Sequence[float]) -> list[tuple[str, str, str]]:
    """The headline figures as (label, value, help), money to the cent."""
    quote = book.quote
    rate = book.win_rate
    return [
        (f"Net trading P&L ({quote})", display.money(book.net),
         "Realised + unrealised − fees, over every asset."),
        (f"Realised P&L ({quote})", display.money(book.realised),
         "Σ (sell price − average cost) × amount, before fees."),
        (f"Unrealised P&L ({quote})", display.money(book.unrealised),
         "Held × (last price − average cost)."),
        (f"Fees ({quote})", display.money(book.fees), "Every fee paid on fills."),
        ("Win rate", display.percent(rate) if rate is not None else display.NOTHING,
         "Round trips with a realised P&L above zero, fees included, over all round trips."),
        ("Round trips", display.count(len(book.round_trips)),
         "Sells: each closes that amount of the position at its average cost."),
        ("Turnover", f"{display.ratio(turnover_of(book, nav))}×",
         "Traded notional / mean total assets over the wakes."),
        (f"Traded ({quote})", display.money(book.traded), "Σ amount × price over every fill."),
    ]


def turnover_of(book: TradeBook, nav: Sequence[float]) -> float:
    """The book's turnover over the end-of-wake total assets ``nav``."""
    return turnover(book.traded, nav)


def fill_rows(book: TradeBook) -> list[Row]:
    """Every fill, newest first: notional, fee, and for a sell the P&L it realised."""
    rows: list[Row] = []
    for fill in reversed(book.fills):
        market = book.markets.get(fill.symbol)
        rows.append({
            "entry": fill.seq, "time (UTC)": when(fill.ts), "asset": fill.symbol,
            "side": fill.side, "amount": display.amount(fill.amount, market),
            "price": display.price(fill.price, market),
            "notional": display.money(fill.notional),
            "fee": display.money(fill.fee, fill.fee_currency if fill.fee_currency
                                 and fill.fee_currency != book.quote else ""),
            "realised (before fees)": display.money(fill.realised)
            if fill.realised is not None else ""})
    return rows


def round_trip_rows(book: TradeBook) -> list[Row]:
    """Every round trip (sell), newest first, with its realised P&L fees included."""
    rows: list[Row] = []
    for trip in reversed(book.round_trips):
        market = book.markets.get(trip.symbol)
        ret = trip.ret
        rows.append({
            "entry": trip.seq, "asset": trip.symbol, "opened (UTC)": when(trip.opened),
            "closed (UTC)": when(trip.closed), "amount": display.amount(trip.amount, market),
            "entry price (avg cost)": display.price(trip.entry_price, market),
            "exit price": display.price(trip.exit_price, market),
            "fees": display.money(trip.fees), "realised P&L": display.money(trip.pnl),
            "return": display.signed_percent(ret) if ret is not None else display.NOTHING,
            "closed the position": "yes" if trip.flat else "partly"})
    return rows


def asset_rows(book: TradeBook) -> list[Row]:
    """P&L and fees per asset, and a total row."""
    rows: list[Row] = []
    for asset in book.assets:
        market = book.markets.get(asset.symbol)
        rows.append({
            "asset": asset.symbol, "held": display.amount(asset.held, market),
            "average cost": display.price(asset.avg_cost, market) if asset.held else "",
            "last price": display.price(asset.mark, market) if asset.mark is not None else "",
            "realised": display.money(asset.realised),
            "unrealised": display.money(asset.unrealised), "fees": display.money(asset.fees),
            "net P&L": display.money(asset.net), "fills": display.count(asset.fills),
            "round trips": display.count(asset.round_trips),
            "win rate": display.percent(asset.wins / asset.round_trips)
            if asset.round_trips else display.NOTHING,
            "bought": display.money(asset.bought), "sold": display.money(asset.sold)})
    if book.assets:
        rate = book.win_rate
        rows.append({
            "asset": "total", "held": "", "average cost": "", "last price": "",
            "realised": display.money(book.realised),
            "unrealised": display.money(book.unrealised), "fees": display.money(book.fees),
            "net P&L": display.money(book.net), "fills": display.count(len(book.fills)),
            "round trips": display.count(len(book.round_trips)),
            "win rate": display.percent(rate) if rate is not None else display.NOTHING,
            "bought": display.money(sum(a.bought for a in book.assets)),
            "sold": display.money(sum(a.sold for a in book.assets))})
    return rows
