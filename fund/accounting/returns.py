"""Time-weighted and money-weighted returns.

Time-weighted return chains the growth of one unit between valuation points, so money
coming in or going out does not show up as profit or loss: it is the fund's (and, with its
own fee deductions, an investor's) performance. Money-weighted return is the investor's
internal rate of return: the annual rate at which their contributions, withdrawals and
final value discount to zero — what their money actually earned, timing included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

_YEAR_S = 365 * 24 * 3600


def time_weighted(growth: Sequence[float]) -> float:
    """Chain sub-period growth factors (value after / value before) into one return."""
    total = 1.0
    for factor in growth:
        total *= factor
    return total - 1


def money_weighted(flows: Sequence[tuple[datetime, float]]) -> float | None:
    """The annual internal rate of return of dated cash flows (investor's view: money paid
    in negative, money received — and the final value — positive), or None if it has
    none (flows all of one sign, or fewer than two)."""
    if len(flows) < 2 or all(a >= 0 for _, a in flows) or all(a <= 0 for _, a in flows):
        return None
    start = min(t for t, _ in flows)
    years = [(t - start).total_seconds() / _YEAR_S for t, _ in flows]
    amounts = [a for _, a in flows]

    def npv(rate: float) -> float:
        return float(sum(a / (1 + rate) ** y for a, y in zip(amounts, years, strict=True)))

    low, high = -0.999999, 1.0
    while npv(high) > 0 and high < 1e9:  # widen until the sign changes
        high *= 10
    if npv(low) * npv(high) > 0:
        return None
    for _ in range(200):  # bisection: slow, sure, and to full float precision
        mid = (low + high) / 2
        if npv(low) * npv(mid) <= 0:
            high = mid
        else:
            low = mid
        if high - low < 1e-15 * max(1.0, abs(mid)):
            break
    rate = (low + high) / 2
    return rate if math.isfinite(rate) else None
