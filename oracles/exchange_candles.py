"""Live OHLCV candles from an exchange's public klines endpoint, through ccxt.

The data is ``{"timeframe": tf, "candles": {symbol: [{"time", "close_time", "open",
"high", "low", "close", "volume"}, …]}, "prices": {symbol: {"price", "time"}}}``: the
last ``count`` *closed* candles of each market, oldest first, exact decimal strings, with
each candle's open time (``time``) and close time (open + timeframe). A candle still
forming at the wake — its close time after the wake — is never recorded, so no
observation holds a price from after it. ``prices`` is the last closed candle's close at
its close time (the shape the historical and ticker oracles give), so strategies and the
books value positions from it as they do from any price observation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from agentfund.oracles.base import NOTHING_RECORDED, BlobSink, Oracle, OracleError, Recorded
from agentfund.oracles.exchange_books import exact, fetch, ms_time, serial
from fund.canonical import format_decimal
from fund.money import isolated
from fund.timeframes import timeframe_seconds

MAX_CANDLES = 998  # binance serves at most 1000 klines a request; see ``observe``
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIELDS = ("open", "high", "low", "close")


class ExchangeOHLCV(Oracle):
    """The last ``count`` closed candles of each market, at ``timeframe``.

    Markets with no closed candle are left out; none at all is an error. A malformed
    candle fails the observation, naming the exchange and the market.
    """

    def __init__(self, name: str, symbols: Sequence[str], client: Any, *,
                 timeframe: str = "1h", count: int = 24) -> None:
        """``client``: a ccxt client, or a SerialClient shared between oracles."""
        if not symbols:
            raise ValueError(f"oracle {name!r}: no markets to observe")
        if not 1 <= count <= MAX_CANDLES:
            raise ValueError(f"oracle {name!r}: candles {count} is outside 1..{MAX_CANDLES}")
        try:
            seconds = timeframe_seconds(timeframe)
        except ValueError as exc:
            raise ValueError(f"oracle {name!r}: timeframe {exc}") from None
        self.name = name
        self.symbols = tuple(symbols)
        self.timeframe = timeframe
        self.count = count
        self.span_ms = seconds * 1000
        self.source = serial(client)

    @isolated  # ccxt rewrites the Decimal context: keep it from leaking
    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        now_ms = (at - _EPOCH) // timedelta(milliseconds=1)
        candles: dict[str, list[dict[str, Any]]] = {}
        prices: dict[str, dict[str, str]] = {}
        for symbol in self.symbols:
            # one more for the candle still forming, one for a wake running a little late
            rows = fetch(self.source, "fetch_ohlcv", symbol, self.timeframe, None,
                         self.count + 2)
            try:
                closed = self._closed(rows, now_ms)
            except (ValueError, TypeError, IndexError) as exc:
                raise OracleError(f"{self.source.id}: {symbol}: bad candle: {exc}") from None
            if closed:
                candles[symbol] = closed
                prices[symbol] = {"price": closed[-1]["close"], "time": closed[-1]["close_time"]}
        if not candles:
            raise OracleError(f"{self.source.id}: no closed {self.timeframe} candle for "
                              f"{', '.join(self.symbols)}")
        return {"timeframe": self.timeframe, "candles": candles, "prices": prices}

    def _closed(self, rows: Sequence[Sequence[Any]], now_ms: int) -> list[dict[str, Any]]:
        """The candles closed by ``now_ms``, oldest first, the last ``count`` of them."""
        if not isinstance(rows, list):
            raise TypeError(f"candles are {type(rows).__name__}, not a list")
        closed: dict[int, dict[str, Any]] = {}
        for row in rows:
            opened = row[0]
            if not isinstance(opened, int) or isinstance(opened, bool):
                raise ValueError(f"open time {opened!r} is not epoch milliseconds")
            if opened + self.span_ms > now_ms:
                continue  # still forming at the wake (or from after it): not yet known
            candle: dict[str, Any] = {"time": ms_time(opened),
                                      "close_time": ms_time(opened + self.span_ms)}
            for index, field in enumerate(_FIELDS, 1):
                candle[field] = format_decimal(exact(row[index], field, positive=True))
            candle["volume"] = format_decimal(exact(row[5], "volume", positive=False))
            closed[opened] = candle
        return [closed[key] for key in sorted(closed)][-self.count:]
