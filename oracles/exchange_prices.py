"""Live prices from an exchange's public ticker endpoint, through ccxt."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import ccxt  # type: ignore[import-untyped]

from agentfund.oracles.base import NOTHING_RECORDED, BlobSink, Oracle, OracleError, Recorded
from fund.canonical import format_decimal, format_ts
from fund.exchange.ccxt_adapter import rewrite_urls
from fund.exchange.venues import ccxt_options
from fund.money import isolated


def public_client(exchange_id: str, *, urls: Mapping[str, str] | None = None,
                  options: Mapping[str, Any] | None = None, timeout_ms: int = 10_000,
                  rate_limit: bool = True) -> Any:
    """A ccxt client with no keys (public endpoints only), numbers kept as strings.
    ``rate_limit``: pace requests by the exchange's published weights (ccxt's throttle)."""
    if exchange_id not in ccxt.exchanges:
        raise OracleError(f"ccxt has no exchange {exchange_id!r}")
    factory = getattr(ccxt, exchange_id)
    client = factory({"timeout": timeout_ms, "enableRateLimit": rate_limit,
                      "options": {**ccxt_options(exchange_id), **(options or {})}})
    client.number = str
    if urls:
        rewrite_urls(client.urls, urls)
    return client


OFFSET_TTL_S = 600.0
"""How long a measured clock offset is used before it is measured again."""


class SharedTickers:
    """Ticker snapshots of one client, shared: a fetch serves every caller for ``max_age``.

    The union of all symbols asked for is fetched in one request; callers wait on a lock
    rather than each paying a request (and the client's rate-limit pause) of its own.

    It also measures the exchange's clock against ours (``GET time``: the server's time
    against the midpoint of the request, to within half the round trip), every ten minutes:
    the exchange stamps its quotes with its own clock, which may run ahead of ours.
    """

    def __init__(self, client: Any, max_age: float = 0.0,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.client = client
        self.max_age = max_age
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._symbols: set[str] = set()
        self._snapshot: tuple[float, dict[str, Any]] | None = None
        self._offset: tuple[float, dict[str, int] | None] | None = None

    def clock_offset(self) -> dict[str, int] | None:
        """``{"offset_ms": exchange − ours, "uncertainty_ms": half the round trip}``, or None
        when the exchange does not tell its time."""
        with self._lock:
            now = self._clock()
            if self._offset is not None and now - self._offset[0] < OFFSET_TTL_S:
                return self._offset[1]
            measured: dict[str, int] | None = None
            if self.client.has.get("fetchTime"):
                try:
                    sent = self._wall()
                    server = int(self.client.fetch_time())
                    back = self._wall()
                    measured = {"offset_ms": round(server - (sent + back) * 500),
                                "uncertainty_ms": int((back - sent) * 500) + 1}
                except (ccxt.BaseError, TypeError, ValueError):
                    measured = None
            self._offset = (now, measured)
            return measured

    def get(self, symbols: Sequence[str]) -> dict[str, Any]:
        """Tickers for at least ``symbols``, fetched now or at most ``max_age`` ago."""
        with self._lock:
            self._symbols.update(symbols)
            now = self._clock()
            if self._snapshot is not None:
                taken, tickers = self._snapshot
                if now - taken <= self.max_age and all(s in tickers for s in symbols):
                    return tickers
            tickers = dict(self.client.fetch_tickers(sorted(self._symbols)))
            self._snapshot = (self._clock(), tickers)  # fresh from when it arrived
            return tickers


class ExchangePrices(Oracle):
    """Last traded price per market, with the exchange's own timestamp for it.

    The data has the shape historical prices have (``{"prices": {symbol: {"price",
    "time"}}}``), so a strategy reads live and recorded prices the same way, plus ``clock``:
    the exchange's measured clock offset, against which ``fund verify`` judges the
    exchange's timestamps (they are on its clock, the answer's arrival on ours). Markets the
    exchange does not quote are left out; none at all is an error (the strategy holds).
    """

    def __init__(self, name: str, symbols: Sequence[str], client: Any) -> None:
        """``client``: a ccxt client, or a :class:`SharedTickers` shared between oracles."""
        if not symbols:
            raise ValueError(f"oracle {name!r}: no markets to price")
        self.name = name
        self.symbols = tuple(symbols)
        self.tickers = client if isinstance(client, SharedTickers) else SharedTickers(client)
        self.client = self.tickers.client

    @isolated  # ccxt rewrites the Decimal context: keep it from leaking
    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        try:
            tickers = self.tickers.get(self.symbols)
        except ccxt.BaseError as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise OracleError(f"{self.client.id}: {type(exc).__name__}: {text[:200]}") from None
        prices: dict[str, dict[str, str]] = {}
        for symbol in self.symbols:
            quote = _quote(tickers.get(symbol))
            if quote is not None:
                prices[symbol] = quote
        if not prices:
            raise OracleError(f"{self.client.id}: no usable price for "
                              f"{', '.join(self.symbols)}")
        offset = self.tickers.clock_offset()
        return {"prices": prices, "clock": offset} if offset else {"prices": prices}


def _quote(ticker: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The ticker's last price (exact decimal text) and its time, or None if unusable."""
    if not ticker or ticker.get("last") in (None, ""):
        return None
    try:
        price = Decimal(str(ticker["last"]))
    except InvalidOperation:
        return None
    if not price.is_finite() or price <= 0:
        return None
    stamp = ticker.get("timestamp")
    moment = datetime.fromtimestamp(int(stamp) / 1000, UTC) if stamp else None
    quote = {"price": format_decimal(price)}
    if moment is not None:
        quote["time"] = format_ts(moment)
    return quote
