"""Order books as journaled, and walking one to fill an order.

An order-book observation's data is ``{"books": {symbol: {"bids": [[price, amount], …],
"asks": […], "time"?: ts}}}`` — exact decimal strings, best level first. The books of the
current wake reach the paper adapter through the portfolio view (the ledger keeps them
from the wake's observations and forgets them at the next wake), so a replay walks
exactly the book the live run walked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from fund.money import EXACT

Level = tuple[Decimal, Decimal]
"""One price level: (price, amount in base units)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderBook:
    """One market's book as observed: bids best (highest) first, asks best (lowest) first."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    time: str | None = None

    def side(self, order_side: str) -> tuple[Level, ...]:
        """The levels an order of this side takes from: asks for a buy, bids for a sell."""
        return self.asks if order_side == "buy" else self.bids


def parse_books(data: Mapping[str, Any] | None) -> dict[str, OrderBook] | None:
    """Return the order books an observation's data carries (``{"books": {sym: …}}``)."""
    if not data or "books" not in data:
        return None
    return {symbol: OrderBook(bids=_levels(book["bids"]), asks=_levels(book["asks"]),
                              time=book.get("time"))
            for symbol, book in data["books"].items()}


def _levels(rows: Iterable[Sequence[str]]) -> tuple[Level, ...]:
    return tuple((Decimal(price), Decimal(amount)) for price, amount in rows)


def take(levels: Iterable[Level], amount: Decimal) -> list[Level]:
    """The (price, amount) an order of ``amount`` takes from each level, best first, exactly."""
    taken: list[Level] = []
    left = amount
    with localcontext(EXACT):
        for price, size in levels:
            if left <= 0:
                break
            part = min(size, left)
            if part > 0:
                taken.append((price, part))
                left -= part
    return taken


def depth(levels: Iterable[Level]) -> Decimal:
    """Total amount on the levels, exactly."""
    with localcontext(EXACT):
        return sum((size for _, size in levels), Decimal(0))
