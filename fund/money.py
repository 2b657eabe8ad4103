"""The Decimal contexts of agentfund: one fixed standard, and exact for orders.

Decimal arithmetic follows the *thread's current context*, which any library may change
(ccxt's ``decimal_to_precision`` switches it to ROUND_HALF_UP, for one). A replay must
compute exactly what the live run computed, so everything deterministic — the runtime,
the handlers, the books, paper fills, verification — runs inside :data:`STANDARD`, and
calls into such libraries run inside a throwaway copy (:func:`isolated`).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import ParamSpec, TypeVar

STANDARD = Context(prec=28, rounding=ROUND_HALF_EVEN, Emin=-999_999, Emax=999_999,
                   traps=[InvalidOperation, DivisionByZero, Overflow])
"""The context every deterministic computation runs in (Python's default, pinned)."""

EXACT = Context(prec=80, rounding=ROUND_HALF_EVEN, Emin=-999_999, Emax=999_999,
                traps=[InvalidOperation, DivisionByZero, Overflow])
"""Products of 28-digit amounts and prices, and fees on them, are exact in here."""

MONEY_PLACES = 12
"""Decimal places a configured amount (cash, a flow, a market rule, a limit) may have."""

MONEY_LIMIT = Decimal(10) ** (STANDARD.prec - 1 - MONEY_PLACES)
"""Configured amounts are below this (10^15): with 12 places that is 27 digits, exact in
STANDARD's 28 with a digit to spare for sums, and a product with a 28-digit price or
amount (53 digits at most) exact in EXACT's 80."""

P = ParamSpec("P")
R = TypeVar("R")


def standard(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run the function in the STANDARD context, whatever the caller's is."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with localcontext(STANDARD):
            return fn(*args, **kwargs)
    return wrapper


def isolated(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: let the function change the Decimal context only for its own duration."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with localcontext():
            return fn(*args, **kwargs)
    return wrapper


def decimal_places(value: Decimal) -> int:
    """How many decimal places a finite number needs (trailing zeros do not count)."""
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int), "a finite number"
    if not any(digits):
        return 0
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + trailing))


_BOUNDS = (f"below 10^{MONEY_LIMIT.adjusted()} with at most {MONEY_PLACES} decimal places "
           f"(the fund computes exactly with {STANDARD.prec} digits)")


def exact_amount(value: Decimal, written: object = None) -> Decimal:
    """Return an amount from a config unchanged if the fund can compute with it exactly;
    else raise ValueError saying the bounds (finite, below 10^15, at most 12 places).

    ``written``: the value as parsed from the file; a float there has kept at most 15
    significant digits of what was written (``sys.float_info.dig``), so one that shows
    more may not be the amount written, and is refused too.
    """
    if isinstance(written, float) and math.isfinite(written):
        digits = len(Decimal(repr(written)).normalize(EXACT).as_tuple().digits)
        if digits > sys.float_info.dig:
            raise ValueError(f"{written!r} has {digits} significant digits, more than a "
                             f"TOML float keeps exactly ({sys.float_info.dig}): write it "
                             "with fewer, or as an integer")
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite amount")
    if abs(value) >= MONEY_LIMIT:
        raise ValueError(f"{value} is too large: an amount must be {_BOUNDS}")
    places = decimal_places(value)
    if places > MONEY_PLACES:
        raise ValueError(f"{value} has {places} decimal places: an amount must be {_BOUNDS}")
    return value
