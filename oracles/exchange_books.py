"""Live order books from an exchange's public depth endpoint, through ccxt.

The data is ``{"books": {symbol: {"bids": [[price, amount], …], "asks": […], "time"?,
"nonce"?}}}``: the exchange's own decimal text, bids highest first and asks lowest first,
at most ``depth`` levels a side. The paper adapter walks these books for the wake's orders.

ccxt turns book levels into floats whatever its ``number`` setting; the client used here
is given a level parser that keeps the exchange's text instead (:func:`keep_level_text`),
and the levels are sorted here, as Decimals.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from agentfund.oracles.base import NOTHING_RECORDED, BlobSink, Oracle, OracleError, Recorded
from fund.canonical import format_decimal, format_ts
from fund.money import isolated

MAX_DEPTH = 5000  # binance's own cap on /api/v3/depth
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SerialClient:
    """A ccxt client shared by oracles (and by actors waking on other threads): one request
    at a time, so its rate limiter and market cache see calls in order."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.lock = threading.Lock()

    @property
    def id(self) -> str:
        """The exchange id (``binance``)."""
        return str(self.client.id)

    def call(self, method: str, *args: Any) -> Any:
        """Call one of the client's methods, holding the lock."""
        with self.lock:
            return getattr(self.client, method)(*args)


def keep_level_text(client: Any) -> Any:
    """Make a ccxt client keep order-book levels as the exchange's text (not floats)."""
    def parse(bidask: Any, price_key: Any = 0, amount_key: Any = 1,
              count_key: Any = 2) -> list[Any]:
        return [client.safe_string(bidask, price_key), client.safe_string(bidask, amount_key)]

    client.parse_order_book_bid_ask = parse
    return client


def serial(client: Any) -> SerialClient:
    """Wrap a ccxt client (a :class:`SerialClient` is returned as it is)."""
    return client if isinstance(client, SerialClient) else SerialClient(client)


def fetch(source: SerialClient, method: str, symbol: str, *args: Any) -> Any:
    """Call ``method(symbol, *args)``; any failure becomes a one-line OracleError."""
    try:
        return source.call(method, symbol, *args)
    except Exception as exc:  # noqa: BLE001 - ccxt errors and malformed answers alike
        text = str(exc).splitlines()[0] if str(exc).strip() else ""
        raise OracleError(f"{source.id}: {symbol}: {type(exc).__name__}"
                          + (f": {text[:200]}" if text else "")) from None


def exact(value: Any, what: str, *, positive: bool) -> Decimal:
    """A number from the exchange as an exact Decimal; ValueError if unusable."""
    try:
        number = Decimal(str(value)) if isinstance(value, (str, int)) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number < 0 or (positive and number == 0):
        raise ValueError(f"{what} {value!r} is not a {'positive' if positive else 'non-negative'}"
                         " number")
    return number


def ms_time(stamp: Any) -> str | None:
    """An exchange timestamp (epoch ms) in the journal's time format, or None."""
    if not isinstance(stamp, int) or isinstance(stamp, bool):
        return None
    return format_ts(_EPOCH + timedelta(milliseconds=stamp))


class ExchangeOrderBook(Oracle):
    """Each market's order book, ``depth`` levels a side, as the exchange serves it.

    A market whose book cannot be fetched or holds a level that is not a positive price
    with a non-negative amount fails the whole observation (the error names the exchange
    and the market); levels with a zero amount are dropped.
    """

    def __init__(self, name: str, symbols: Sequence[str], client: Any, depth: int = 20) -> None:
        """``client``: a ccxt client, or a :class:`SerialClient` shared between oracles."""
        if not symbols:
            raise ValueError(f"oracle {name!r}: no markets to observe")
        if not 1 <= depth <= MAX_DEPTH:
            raise ValueError(f"oracle {name!r}: depth {depth} is outside 1..{MAX_DEPTH}")
        self.name = name
        self.symbols = tuple(symbols)
        self.depth = depth
        self.source = serial(client)
        keep_level_text(self.source.client)

    @isolated  # ccxt rewrites the Decimal context: keep it from leaking
    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        books: dict[str, dict[str, Any]] = {}
        for symbol in self.symbols:
            raw = fetch(self.source, "fetch_order_book", symbol, self.depth)
            try:
                books[symbol] = self._book(raw)
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                raise OracleError(f"{self.source.id}: {symbol}: bad order book: {exc}") from None
        return {"books": books}

    def _book(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        book: dict[str, Any] = {"bids": self._side(raw["bids"], "bid", best_high=True),
                                "asks": self._side(raw["asks"], "ask", best_high=False)}
        if not book["bids"] and not book["asks"]:
            raise ValueError("no bids and no asks (is the answer an order book at all?)")
        moment = ms_time(raw.get("timestamp"))
        if moment is not None:
            book["time"] = moment
        nonce = raw.get("nonce")
        if isinstance(nonce, int) and not isinstance(nonce, bool):
            book["nonce"] = nonce
        return book

    def _side(self, rows: Sequence[Sequence[Any]], what: str, *,
              best_high: bool) -> list[list[str]]:
        if not isinstance(rows, list):
            raise TypeError(f"{what}s are {type(rows).__name__}, not a list")
        levels = []
        for row in rows:
            price = exact(row[0], f"{what} price", positive=True)
            amount = exact(row[1], f"{what} amount", positive=False)
            if amount:
                levels.append((price, amount))
        levels.sort(key=lambda level: level[0], reverse=best_high)
        return [[format_decimal(p), format_decimal(a)] for p, a in levels[:self.depth]]
