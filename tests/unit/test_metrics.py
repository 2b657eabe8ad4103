"""Tests of fund.performance.compute_metrics against an independent pandas computation."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import pytest

from fund.performance import Metrics, compute_metrics

YEAR = 365.25 * 24 * 3600
QUARTER = 7_889_400  # 365.25 days / 4, in seconds
T0 = 1_704_067_200  # 2024-01-01 00:00 UTC


def reference(times: Sequence[int], nav: Sequence[float], initial: float) -> dict[str, float]:
    """The figures computed independently with pandas, from the definitions."""
    curve = pd.Series([initial, *nav], dtype="float64")
    returns = curve.pct_change().dropna()
    total = curve.iloc[-1] / initial - 1.0
    span = float(times[-1] - times[0])
    spacing = float(pd.Series(times, dtype="float64").diff().median())
    per_year = YEAR / spacing
    drawdown = float((1.0 - curve / curve.cummax()).max())
    downside = math.sqrt(float((returns.clip(upper=0.0) ** 2).mean()))
    return {
        "total_return": total,
        "annualized_return": (1.0 + total) ** (YEAR / span) - 1.0,
        "periods_per_year": per_year,
        "sharpe": returns.mean() / returns.std(ddof=1) * math.sqrt(per_year),
        "sortino": returns.mean() / downside * math.sqrt(per_year),
        "max_drawdown": drawdown,
    }


def as_dict(metrics: Metrics) -> dict[str, float]:
    return {name: getattr(metrics, name) for name in (
        "total_return", "annualized_return", "periods_per_year", "sharpe", "sortino",
        "max_drawdown")}


@pytest.fixture(autouse=True)
def numpy_warnings_are_errors() -> Iterator[None]:
    """A division by zero or an invalid value inside compute_metrics fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            yield


def test_hand_checked_series() -> None:
    # Arrange: capital 100, then 110, 99, 118.8, one point every quarter of a year
    #   returns      r = +0.10, −0.10, +0.20
    #   total        118.8 / 100 − 1 = 0.188
    #   span         2 quarters = ½ year → annualised 1.188² − 1 = 0.411344
    #   periods/yr   365.25 d / 91.3125 d = 4 → √4 = 2
    #   mean         0.2 / 3 = 0.0666…;  sample var = (0.0333² + 0.1666² + 0.1333²) / 2
    #                = 0.0466…/2 = 0.0233…;  std = 0.152753
    #   Sharpe       0.0666… / 0.152753 × 2 = 0.872872
    #   downside     √((0 + 0.01 + 0) / 3) = 0.0577350 → Sortino 1.154701 × 2 = 2.309401
    #   drawdown     peak 110 → 99: 0.1
    times = [T0, T0 + QUARTER, T0 + 2 * QUARTER]
    nav = [110.0, 99.0, 118.8]

    # Act
    metrics = compute_metrics(times, nav, 100.0)

    # Assert: by hand
    assert metrics.total_return == pytest.approx(0.188)
    assert metrics.annualized_return == pytest.approx(0.411344)
    assert metrics.periods_per_year == pytest.approx(4.0)
    assert metrics.sharpe == pytest.approx(0.872872, abs=1e-6)
    assert metrics.sortino == pytest.approx(2.309401, abs=1e-6)
    assert metrics.max_drawdown == pytest.approx(0.1)
    # and by pandas
    assert as_dict(metrics) == pytest.approx(reference(times, nav, 100.0), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_random_series_matches_pandas(seed: int) -> None:
    # Arrange: ~1000 hourly points with some missing hours, a noisy random walk
    rng = np.random.default_rng(seed)
    steps = rng.choice([3600, 3600, 3600, 7200, 10800], size=1000)
    times = (T0 + np.concatenate(([0], np.cumsum(steps[:-1])))).tolist()
    initial = float(rng.uniform(1_000, 100_000))
    nav = (initial * np.cumprod(1.0 + rng.normal(0.0002, 0.01, size=1000))).tolist()

    # Act
    metrics = compute_metrics(times, nav, initial)

    # Assert
    assert as_dict(metrics) == pytest.approx(reference(times, nav, initial), rel=1e-9)


def test_first_return_is_measured_from_the_initial_capital() -> None:
    # Arrange: the whole gain happens between the capital and the first point
    times = [T0, T0 + QUARTER, T0 + 2 * QUARTER]

    # Act
    metrics = compute_metrics(times, [120.0, 120.0, 120.0], 100.0)

    # Assert
    assert metrics.total_return == pytest.approx(0.2)
    assert metrics.sharpe > 0
    assert metrics.max_drawdown == 0.0


def test_drawdown_from_the_initial_capital() -> None:
    # Arrange: falls below the capital and never recovers it
    times = [T0, T0 + 60, T0 + 120]

    # Act
    metrics = compute_metrics(times, [80.0, 90.0, 60.0], 100.0)

    # Assert: peak is the capital, 100 → 60
    assert metrics.max_drawdown == pytest.approx(0.4)
    assert metrics.total_return == pytest.approx(-0.4)


def test_periods_per_year_use_the_median_spacing() -> None:
    # Arrange: mostly daily with one long gap
    day = 86_400
    times = [T0, T0 + day, T0 + 2 * day, T0 + 30 * day, T0 + 31 * day]

    # Act
    metrics = compute_metrics(times, [100.0, 101.0, 102.0, 103.0, 104.0], 100.0)

    # Assert
    assert metrics.periods_per_year == pytest.approx(365.25)


# --------------------------------------------------------------------------------------
# edge cases


def test_single_point() -> None:
    # Act
    metrics = compute_metrics([T0], [105.0], 100.0)

    # Assert: one return, no span, no spacing: nothing to annualise, no ratios
    assert metrics.total_return == pytest.approx(0.05)
    assert metrics.annualized_return == 0.0
    assert metrics.periods_per_year == 0.0
    assert metrics.sharpe == 0.0
    assert metrics.sortino == 0.0
    assert metrics.max_drawdown == 0.0


def test_flat_series_has_zero_ratios() -> None:
    # Act
    metrics = compute_metrics([T0 + 3600 * k for k in range(10)], [100.0] * 10, 100.0)

    # Assert
    assert as_dict(metrics) == {"total_return": 0.0, "annualized_return": 0.0,
                                "periods_per_year": pytest.approx(8766.0), "sharpe": 0.0,
                                "sortino": 0.0, "max_drawdown": 0.0}


def test_no_losses_gives_zero_sortino_not_a_division_by_zero() -> None:
    # Act
    metrics = compute_metrics([T0, T0 + QUARTER, T0 + 2 * QUARTER], [101.0, 103.0, 104.0],
                              100.0)

    # Assert
    assert metrics.sortino == 0.0
    assert math.isfinite(metrics.sharpe) and metrics.sharpe > 0


def test_identical_timestamps_give_no_annualisation() -> None:
    # Act
    metrics = compute_metrics([T0, T0, T0], [101.0, 99.0, 100.0], 100.0)

    # Assert
    assert metrics.periods_per_year == 0.0
    assert metrics.sharpe == metrics.sortino == metrics.annualized_return == 0.0
    assert metrics.max_drawdown == pytest.approx(2 / 101)


def test_all_figures_are_finite_floats() -> None:
    # Act
    metrics = compute_metrics([T0, T0 + 60], [50.0, 75.0], 100.0)

    # Assert
    values = as_dict(metrics).values()
    assert all(type(v) is float and math.isfinite(v) for v in values)


def test_total_loss_annualises_to_minus_one() -> None:
    # Arrange: NAV goes to zero over a year: (1 + (−1))^1 − 1 = −100 % a year, not 0 %
    times = [T0, T0 + int(YEAR / 2), T0 + int(YEAR)]

    # Act
    metrics = compute_metrics(times, [50.0, 20.0, 0.0], 100.0)

    # Assert
    assert metrics.total_return == -1.0
    assert metrics.max_drawdown == 1.0
    assert metrics.annualized_return == -1.0


@pytest.mark.parametrize(("seconds", "gain"), [(300, 1.01), (3600, 1.1), (86_400, 10.0)])
def test_short_span_with_a_large_gain_does_not_crash(seconds: int, gain: float) -> None:
    # Arrange: e.g. +1 % in five minutes annualises to 1.01^105192 ≈ e^1047, beyond a float
    times = [T0, T0 + seconds]

    # Act
    metrics = compute_metrics(times, [100.0, 100.0 * gain], 100.0)

    # Assert: a (possibly infinite) huge figure, not an OverflowError
    assert metrics.total_return == pytest.approx(gain - 1.0)
    assert metrics.annualized_return > 1e300
