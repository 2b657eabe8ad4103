"""Live prices from an exchange's public ticker endpoint, through ccxt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import ccxt  # type: ignore[import-untyped]

from fund.canonical import format_decimal, format_ts
from fund.exchange.ccxt_adapter import DEFAULT_OPTIONS, rewrite_urls
from fund.money import isolated
from oracles.base import NOTHING_RECORDED, BlobSink, Oracle, OracleError, Recorded


def public_client(exchange_id: str, *, urls: Mapping[str, str] | None = None,
                  options: Mapping[str, Any] | None = None, timeout_ms: int = 10_000) -> Any:
    """A ccxt client with no keys (public endpoints only), numbers kept as strings."""
    try:
        factory = getattr(ccxt, exchange_id)
    except AttributeError:
        raise OracleError(f"ccxt has no exchange {exchange_id!r}") from None
    client = factory({"timeout": timeout_ms, "enableRateLimit": True,
                      "options": {**DEFAULT_OPTIONS.get(exchange_id, {}), **(options or {})}})
    client.number = str
    if urls:
        rewrite_urls(client.urls, urls)
    return client


class ExchangePrices(Oracle):
    """Last traded price per market, with the exchange's own timestamp for it.

    The data has the shape historical prices have (``{"prices": {symbol: {"price",
    "time"}}}``), so a strategy reads live and recorded prices the same way. Markets the
    exchange does not quote are left out; none at all is an error (the strategy holds).
    """

    def __init__(self, name: str, symbols: Sequence[str], client: Any) -> None:
        if not symbols:
            raise ValueError(f"oracle {name!r}: no markets to price")
        self.name = name
        self.symbols = tuple(symbols)
        self.client = client

    @isolated  # ccxt rewrites the Decimal context: keep it from leaking
    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        try:
            tickers = self.client.fetch_tickers(list(self.symbols))
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
        return {"prices": prices}


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
