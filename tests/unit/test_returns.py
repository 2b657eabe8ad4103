"""Time- and money-weighted returns on examples checked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fund.accounting.returns import money_weighted, time_weighted

T0 = datetime(2024, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)


def test_one_year_ten_percent() -> None:
    assert money_weighted([(T0, -1000.0), (T0 + YEAR, 1100.0)]) == pytest.approx(0.10)


def test_flows_change_the_money_weighted_but_not_the_time_weighted_return() -> None:
    # the fund doubles in year one and halves in year two: one unit ends where it began
    assert time_weighted([2.0, 0.5]) == pytest.approx(0.0)
    # an investor puts 100 in (worth 200 after a year), adds 200 then, and the 400 halves
    # to 200: with x = 1 + r, -100 x^2 - 200 x + 200 = 0, so x = -1 + sqrt(3), r = -26.8 %
    flows = [(T0, -100.0), (T0 + YEAR, -200.0), (T0 + 2 * YEAR, 200.0)]
    assert money_weighted(flows) == pytest.approx(-1 + 3 ** 0.5 - 1)


def test_no_rate_for_flows_of_one_sign() -> None:
    assert money_weighted([(T0, -1.0), (T0 + YEAR, -1.0)]) is None
    assert money_weighted([(T0, 5.0)]) is None
