"""Performance metrics of an equity curve."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

YEAR_SECONDS = 365.25 * 24 * 3600


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    """Return and risk figures of one equity curve (fractions, not percent)."""

    total_return: float
    annualized_return: float
    sharpe: float
    sortino: float
    max_drawdown: float
    periods_per_year: float


def _annualize(total: float, span: float) -> float:
    """Compound a return over ``span`` seconds to a year (inf when it overflows a float)."""
    if span <= 0:
        return 0.0
    if total <= -1.0:
        return -1.0
    try:
        return math.expm1(math.log1p(total) * YEAR_SECONDS / span)
    except OverflowError:
        return math.inf


def compute_metrics(times: Sequence[int], nav: Sequence[float], initial: float) -> Metrics:
    """Compute metrics from NAV points (epoch seconds) and the initial capital.

    Returns are simple returns between consecutive points, the first measured from the
    initial capital. Sharpe = mean / sample std × √(periods per year), risk-free rate 0;
    Sortino uses the downside deviation √(mean(min(r, 0)²)). Periods per year come from
    the median spacing of the points. Max drawdown is the largest fall from a running
    peak (initial capital included), as a positive fraction.
    """
    values = np.asarray(nav, dtype=np.float64)
    curve = np.concatenate(([initial], values))
    returns = curve[1:] / curve[:-1] - 1.0
    total = float(curve[-1] / initial - 1.0)
    span = float(times[-1] - times[0]) if len(times) > 1 else 0.0
    annualized = _annualize(total, span)
    gaps = np.diff(np.asarray(times, dtype=np.float64))
    spacing = float(np.median(gaps)) if len(gaps) else 0.0
    per_year = YEAR_SECONDS / spacing if spacing > 0 else 0.0
    sharpe = sortino = 0.0
    if len(returns) > 1 and per_year:
        std = float(np.std(returns, ddof=1))
        mean = float(np.mean(returns))
        downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
        sharpe = mean / std * math.sqrt(per_year) if std > 0 else 0.0
        sortino = mean / downside * math.sqrt(per_year) if downside > 0 else 0.0
    peaks = np.maximum.accumulate(curve)
    drawdown = float(np.max(1.0 - curve / peaks))
    return Metrics(total_return=total, annualized_return=annualized, sharpe=sharpe,
                   sortino=sortino, max_drawdown=drawdown, periods_per_year=per_year)
