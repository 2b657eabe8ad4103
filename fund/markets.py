"""Markets and their trading rules; the one place amounts and prices are rounded."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Market:
    """A tradable pair and its limits; ``None`` means the exchange sets no such limit."""

    symbol: str
    base: str
    quote: str
    amount_step: Decimal | None = None
    price_step: Decimal | None = None
    min_amount: Decimal | None = None
    min_notional: Decimal | None = None

    @classmethod
    def parse(cls, symbol: str, rules: dict[str, Any] | None = None) -> Market:
        """Build a market from ``BASE/QUOTE`` and an optional mapping of limits."""
        base, _, quote = symbol.partition("/")
        if not base or not quote:
            raise ValueError(f"market symbol {symbol!r} is not of the form BASE/QUOTE")
        rules = rules or {}
        unknown = set(rules) - {"amount_step", "price_step", "min_amount", "min_notional"}
        if unknown:
            raise ValueError(f"market {symbol}: unknown limit(s) {', '.join(sorted(unknown))}")

        def dec(key: str) -> Decimal | None:
            value = rules.get(key)
            return None if value is None else Decimal(str(value))

        return cls(symbol=symbol, base=base, quote=quote, amount_step=dec("amount_step"),
                   price_step=dec("price_step"), min_amount=dec("min_amount"),
                   min_notional=dec("min_notional"))

    def to_payload(self) -> dict[str, Any]:
        """Return the journaled form of the market's rules."""
        return {"symbol": self.symbol, "amount_step": self.amount_step,
                "price_step": self.price_step, "min_amount": self.min_amount,
                "min_notional": self.min_notional}

    def round_amount(self, amount: Decimal) -> Decimal:
        """Truncate an amount to the lot size (never rounds up: never over-spends)."""
        if self.amount_step is None:
            return amount
        return (amount / self.amount_step).to_integral_value(ROUND_DOWN) * self.amount_step

    def round_price(self, price: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
        """Round a price to the tick size (half to even unless told otherwise)."""
        if self.price_step is None:
            return price
        return (price / self.price_step).to_integral_value(rounding) * self.price_step

    def violation(self, amount: Decimal, price: Decimal, *,
                  notional: Decimal | None = None) -> str | None:
        """Name the limit an order of this amount at this price breaks, or None.

        ``notional``: the order's exact notional when it is not ``amount × price`` (a fill
        spread over several price levels).
        """
        if amount <= 0:
            return "amount is zero after rounding to the lot size"
        if self.min_amount is not None and amount < self.min_amount:
            return f"amount {amount} below the market minimum {self.min_amount}"
        value = amount * price if notional is None else notional
        if self.min_notional is not None and value < self.min_notional:
            return f"notional {value} below the market minimum {self.min_notional}"
        return None
