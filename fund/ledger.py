"""Portfolio state as a fold over journal payloads, in Decimal.

The runtime and ``fund verify`` feed the same decoded payloads to :meth:`Ledger.apply`,
so the portfolio a handler sees live is the portfolio a replay reconstructs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Context, Decimal, localcontext
from types import MappingProxyType
from typing import Any

from fund.books import OrderBook, parse_books
from fund.messages import DEPOSIT, FILL, OBSERVATION, VALUATION, WAKE, parse_prices
from fund.money import EXACT
from fund.quick_init import quick_init

ZERO = Decimal(0)
NO_BOOKS: Mapping[str, OrderBook] = MappingProxyType({})
_PLAIN = Context(prec=28)  # average prices need no more digits than prices have


class LedgerError(Exception):
    """A payload would make the books inconsistent (e.g. sell more than is held)."""


@dataclass(slots=True)
class Position:
    """Holding of one asset: amount in base units and its average entry price."""

    amount: Decimal = ZERO
    avg_cost: Decimal = ZERO


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioView:
    """A read-only snapshot of the portfolio, as handed to handlers."""

    quote: str
    cash: Decimal
    positions: Mapping[str, Decimal]
    avg_costs: Mapping[str, Decimal]
    prices: Mapping[str, Decimal]
    fees_paid: Decimal
    books: Mapping[str, OrderBook] = field(default_factory=lambda: NO_BOOKS)
    """Order books observed at the current wake (none outside a wake that records one)."""

    @property
    def nav(self) -> Decimal:
        """Net asset value: cash plus every position at its last observed price."""
        total = self.cash
        for symbol, amount in self.positions.items():
            if amount:
                total += amount * self.prices[symbol]
        return total

    def holding(self, symbol: str) -> Decimal:
        """Return the amount held of a symbol (zero when none)."""
        return self.positions.get(symbol, ZERO)


@dataclass(slots=True)
class Ledger:
    """Cash, positions, fees and marks, updated by :meth:`apply`."""

    quote: str
    cash: Decimal = ZERO
    positions: dict[str, Position] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)
    books: dict[str, OrderBook] = field(default_factory=dict)
    fees_paid: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    traded_notional: Decimal = ZERO
    deposits: Decimal = ZERO
    fills: int = 0
    other_fees: dict[str, Decimal] = field(default_factory=dict)  # in neither quote nor asset
    _held: tuple[Mapping[str, Decimal], Mapping[str, Decimal]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """The books without the view's cache (what ActorCore.fingerprint digests)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_held"}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        self._held = None

    def apply(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Fold one decoded journal payload into the books; other kinds are ignored."""
        if kind == FILL:
            self._fill(payload)
        elif kind == OBSERVATION:
            prices = parse_prices(payload.get("data"))
            if prices:
                self.prices.update(prices)
            self.observe_books(payload.get("data"))
        elif kind == WAKE:
            self.books.clear()  # a book is good for the wake that observed it only
        elif kind == DEPOSIT:
            amount = Decimal(payload["amount"])
            self.cash += amount
            self.deposits += amount
        elif kind == VALUATION:  # investors' money in and out, and fees paid
            cash_in, redeemed = Decimal(payload["cash_in"]), Decimal(payload["redeemed"])
            self.cash += cash_in - Decimal(payload["cash_out"])
            self.deposits += cash_in - redeemed

    def observe_books(self, data: Mapping[str, Any] | None) -> None:
        """Keep the order books an observation's data carries, for this wake's orders."""
        books = parse_books(data)
        if books:
            self.books.update(books)

    def _fill(self, payload: Mapping[str, Any]) -> None:
        symbol = payload["symbol"]
        amount = Decimal(payload["amount"])
        price = Decimal(payload["price"])
        fee = Decimal(payload["fee"])
        currency = payload.get("fee_currency") or self.quote
        with localcontext(EXACT):
            if currency == self.quote:
                self._settle(symbol, payload["side"], amount, price, fee)
            elif currency == symbol.partition("/")[0]:  # in the asset: binance's buy fee
                self._settle(symbol, payload["side"], amount, price, ZERO, base_fee=fee)
            else:  # a third currency (BNB): not cash nor the position; the balance check
                self._settle(symbol, payload["side"], amount, price, ZERO)  # says so
                self.other_fees[currency] = self.other_fees.get(currency, ZERO) + fee

    def _settle(self, symbol: str, side: str, amount: Decimal, price: Decimal,
                fee: Decimal, *, base_fee: Decimal = ZERO) -> None:
        """Book a fill; ``fee`` is paid in the quote currency, ``base_fee`` in the asset
        (taken from what a buy receives, or on top of what a sell gives)."""
        if amount <= 0 or price <= 0 or fee < 0 or base_fee < 0 or \
                (side == "buy" and base_fee >= amount):
            raise LedgerError(f"fill of {amount} {symbol} at {price} (fee {fee or base_fee}) "
                              "is not valid")
        notional = amount * price
        held = self.positions.get(symbol)
        if side != "buy" and amount + base_fee > (held.amount if held else ZERO):
            raise LedgerError(f"sell of {amount + base_fee} {symbol} exceeds the "
                              f"{held.amount if held else ZERO} held")
        position = held or self.positions.setdefault(symbol, Position())
        if side == "buy":
            total = position.amount + amount - base_fee
            position.avg_cost = _PLAIN.divide(position.amount * position.avg_cost + notional, total)
            position.amount = total
            self.cash -= notional + fee
        else:
            self.realized_pnl += (price - position.avg_cost) * amount
            position.amount -= amount + base_fee
            if not position.amount:
                position.avg_cost = ZERO
            self.cash += notional - fee
        self.fees_paid += fee + base_fee * price  # in the quote currency, at the fill's price
        self.traded_notional += notional
        self.fills += 1
        self._held = None
        self.prices.setdefault(symbol, price)

    def nav(self) -> Decimal:
        """Net asset value at the last observed prices."""
        total = self.cash
        for symbol, position in self.positions.items():
            if position.amount:
                total += position.amount * self.prices[symbol]
        return total

    def view(self) -> PortfolioView:
        """Return an immutable snapshot for a handler."""
        if self._held is None:
            self._held = (
                MappingProxyType({s: p.amount for s, p in self.positions.items()}),
                MappingProxyType({s: p.avg_cost for s, p in self.positions.items()}),
            )
        return PortfolioView(quote=self.quote, cash=self.cash, positions=self._held[0],
                             avg_costs=self._held[1], prices=MappingProxyType(dict(self.prices)),
                             fees_paid=self.fees_paid,
                             books=MappingProxyType(dict(self.books)) if self.books else NO_BOOKS)
