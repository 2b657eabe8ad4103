"""Risk limits as pure rules, on hand-checkable books."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from fund.ledger import Ledger, Position
from fund.messages import OrderIntent
from fund.risk import RiskLimits, RiskState, assess, check

D = Decimal


def books(cash: str = "1000", held: str = "0", price: str = "10") -> Ledger:
    ledger = Ledger(quote="USDT", cash=D(cash))
    ledger.positions["A/USDT"] = Position(amount=D(held), avg_cost=D(price))
    ledger.prices["A/USDT"] = D(price)
    return ledger


def buy(amount: str) -> OrderIntent:
    return OrderIntent(symbol="A/USDT", side="buy", amount=D(amount))


def sell(amount: str) -> OrderIntent:
    return OrderIntent(symbol="A/USDT", side="sell", amount=D(amount))


def test_no_limits_let_everything_through() -> None:
    assert check(RiskLimits(), RiskState(), books(), buy("1000"), 99) is None


def test_max_order_notional() -> None:
    limits = RiskLimits(max_order_notional=D(100))

    assert check(limits, RiskState(), books(), buy("10"), 0) is None  # exactly 100
    fired = check(limits, RiskState(), books(), sell("10.01"), 0)
    assert fired is not None and fired[0] == "max_order_notional"


def test_max_position_weight_counts_what_is_already_held() -> None:
    limits = RiskLimits(max_position_weight=D("0.5"))
    ledger = books(cash="600", held="40", price="10")  # NAV 1000, A is 400 = 0.4

    assert check(limits, RiskState(), ledger, buy("10"), 0) is None  # → 500 = 0.5
    fired = check(limits, RiskState(), ledger, buy("10.1"), 0)
    assert fired is not None and fired[0] == "max_position_weight"
    assert check(limits, RiskState(), ledger, sell("40"), 0) is None  # selling is never capped


def test_max_orders_per_wake_counts_from_zero() -> None:
    limits = RiskLimits(max_orders_per_wake=2)

    assert check(limits, RiskState(), books(), buy("1"), 1) is None
    fired = check(limits, RiskState(), books(), buy("1"), 2)
    assert fired is not None and fired[0] == "max_orders_per_wake"


def test_a_halt_stops_buying_but_not_selling() -> None:
    state = RiskState(halted=True)

    fired = check(RiskLimits(max_drawdown=D("0.1")), state, books(held="5"), buy("1"), 0)
    assert fired is not None and fired[0] == "max_drawdown"
    assert check(RiskLimits(max_drawdown=D("0.1")), state, books(held="5"), sell("5"), 0) is None


def test_the_kill_switch_stops_everything() -> None:
    fired = check(RiskLimits(), RiskState(killed=True), books(held="5"), sell("1"), 0)

    assert fired is not None and fired[0] == "kill_switch"


def test_drawdown_halts_once_at_the_threshold() -> None:
    limits = RiskLimits(max_drawdown=D("0.2"))
    state = RiskState()

    assert assess(limits, state, D(1000)) is None
    assert assess(limits, state, D(1250)) is None  # new peak
    assert assess(limits, state, D("1000.01")) is None  # 19.9992 % down
    halt = assess(limits, state, D(1000))  # exactly 20 % below 1250

    assert halt is not None
    assert (halt["peak"], halt["nav"], halt["drawdown"]) == (D(1250), D(1000), D("0.2"))
    state.halted = True
    assert assess(limits, state, D(900)) is None  # recorded once


@pytest.mark.parametrize("raw", [{"max_drawdown": 0}, {"max_position_weight": "1.5"},
                                 {"max_order_notional": -1}, {"max_orders_per_wake": -1},
                                 {"max_leverage": 2}])
def test_nonsense_limits_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(RiskLimits).validate_python(raw)
