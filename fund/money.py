"""The Decimal contexts of agentfund: one fixed standard, and exact for orders.

Decimal arithmetic follows the *thread's current context*, which any library may change
(ccxt's ``decimal_to_precision`` switches it to ROUND_HALF_UP, for one). A replay must
compute exactly what the live run computed, so everything deterministic — the runtime,
the handlers, the books, paper fills, verification — runs inside :data:`STANDARD`, and
calls into such libraries run inside a throwaway copy (:func:`isolated`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import (
    ROUND_HALF_EVEN,
    Context,
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
