"""The one formatter (fund.display) at its edges: what the journal keeps exactly, shown short."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from fund import display
from fund.markets import Market


def test_money_is_to_the_cent_with_separators() -> None:
    assert display.money(Decimal("34403.82157747494705441844185"), "USDT") == "34,403.82 USDT"
    assert display.money("2.00000000000000000000000000000184", "USDT") == "2.00 USDT"
    assert display.money(Decimal("8060615.831049492181202643882")) == "8,060,615.83"
    assert display.money(-1234.5) == "-1,234.50"
    assert display.money(0) == "0.00"
    assert display.money("-0.001") == "-0.001"  # under a cent: not shown as nothing


def test_huge_and_28_digit_amounts_do_not_overflow() -> None:
    assert display.money(Decimal("123456789012345678.123456789")) == \
        "123,456,789,012,345,678.12"
    assert display.money("0.1888520109402110354283477845") == "0.19"


def test_nothing_is_a_dash() -> None:
    for nothing in (None, math.nan, "", math.inf):
        assert display.money(nothing) == display.NOTHING
        assert display.percent(nothing) == display.NOTHING
        assert display.amount(nothing) == display.NOTHING
    assert display.count(None) == display.NOTHING


def test_amounts_and_prices_use_the_market_step() -> None:
    market = Market.parse("BTC/USDT", {"amount_step": "0.00001", "price_step": "0.01"})

    assert display.amount(Decimal("0.09641689752925078164229548209"), market) == "0.09642"
    assert display.price(Decimal("43529.934"), market) == "43,529.93"
    assert display.amount(Decimal("48885.04436864969013068567237"),
                          Market.parse("DOGE/USDT", {"amount_step": "1"})) == "48,885"


def test_without_a_step_significant_digits_keep_tiny_prices() -> None:
    assert display.price(Decimal("0.000012345678912")) == "0.000012345679"
    assert display.price("0.09199") == "0.09199"
    assert display.amount(Decimal("8060615.831049492181202643882")) == "8,060,615.8"
    assert display.amount(Decimal(0)) == "0"
    assert display.amount(Decimal("-2.5")) == "-2.5"
    assert display.significant(Decimal("123456789012")) == "123,456,789,012"  # whole digits


def test_percent_ratio_and_units() -> None:
    assert display.percent(0.3076082948708243) == "30.76 %"
    assert display.percent(-0.0) == "0.00 %"
    assert display.signed_percent(0.3076) == "+30.76 %"
    assert display.signed_percent(-0.05) == "-5.00 %"
    assert display.ratio(-0.02912) == "-0.03"
    assert display.units("10000.00000000") == "10,000"
    assert display.units("9067.89571051") == "9,067.89571051"


@pytest.mark.parametrize(("years", "text"), [(0.4981747661419119, "71.32 % (extrapolated "
                                                                    "from 182 days)"),
                                             (1.5, "71.32 %")])
def test_short_periods_are_said_not_to_be_annualised(years: float, text: str) -> None:
    assert display.annualised(0.7132030756910003, years) == text
