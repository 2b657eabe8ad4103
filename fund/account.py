"""A live account against the books: what the exchange holds, what the journals say.

At a live start-up the daemon fetches the account's balances and journals them beside the
books of every actor trading on it (an ``exchange_balances`` observation in each actor's
stream, with the differences), so a position the journal does not explain is on record. It
records differences and never trades them away.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from fund.canonical import format_ts
from fund.clock import Clock
from fund.messages import Observed
from fund.runtime import ActorRuntime

ZERO = Decimal(0)


def booked(runtimes: Iterable[ActorRuntime]) -> dict[str, Decimal]:
    """What the actors' books hold, per currency (every market's asset listed, even at 0)."""
    books: dict[str, Decimal] = {}
    for runtime in runtimes:
        ledger, quote = runtime.core.ledger, runtime.spec.terms.quote
        books[quote] = books.get(quote, ZERO) + ledger.cash
        for symbol in runtime.spec.markets:  # a market's asset held but not booked shows
            books.setdefault(symbol.partition("/")[0], ZERO)
        for symbol, position in ledger.positions.items():
            base = symbol.partition("/")[0]
            books[base] = books.get(base, ZERO) + position.amount
    return books


def comparison(held: Mapping[str, Decimal], books: Mapping[str, Decimal], actors: list[str],
               clock: Clock) -> tuple[Observed, dict[str, Decimal]]:
    """The ``exchange_balances`` observation, and the differences (account − books)."""
    differences = {c: held.get(c, ZERO) - books[c] for c in sorted(books)
                   if held.get(c, ZERO) != books[c]}
    data: dict[str, Any] = {
        "account": {c: held.get(c, ZERO) for c in sorted(books)},
        "booked": {c: books[c] for c in sorted(books)}, "differences": differences,
        "actors": sorted(actors)}
    return Observed(oracle="exchange_balances", as_of=format_ts(clock.now()), data=data), \
        differences
