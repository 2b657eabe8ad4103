"""The rebalance strategy on hand-checkable portfolios."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType

import pytest
from pydantic import ValidationError

from agentfund.strategies.rebalance import Rebalance
from fund.ledger import PortfolioView
from fund.markets import Market
from fund.messages import Observation
from fund.strategy import Context, FundTerms, parse_params

D = Decimal
T = datetime(2024, 1, 1, tzinfo=UTC)


def context(cash: str, held: dict[str, str], prices: dict[str, str], fee: str = "0") -> Context:
    observed = {s: D(p) for s, p in prices.items()}
    view = PortfolioView(quote="USDT", cash=D(cash),
                         positions=MappingProxyType({s: D(a) for s, a in held.items()}),
                         avg_costs=MappingProxyType({}), prices=MappingProxyType(observed),
                         fees_paid=D(0))
    observation = Observation(oracle="prices", seq=2, as_of=T, data={}, prices=observed)
    return Context(actor_id="a", time=T, wake_seq=1, observations={"prices": observation},
                   portfolio=view, markets={s: Market.parse(s) for s in prices},
                   terms=FundTerms(quote="USDT", fee_rate=D(fee), slippage_bps=D(0)))


def strategy(weights: dict[str, str], band: str = "0.01", min_notional: str = "0") -> Rebalance:
    return Rebalance(parse_params(Rebalance, {"weights": weights, "band": band,
                                              "min_notional": min_notional}))


def test_from_cash_it_buys_each_target_in_listed_order() -> None:
    rebalancer = strategy({"B/USDT": "0.5", "A/USDT": "0.25"})

    _, decision = rebalancer.on_wake(None, context("1000", {}, {"A/USDT": "10", "B/USDT": "50"}))

    assert [(i.symbol, i.side, i.amount) for i in decision.intents] == [
        ("B/USDT", "buy", D(10)), ("A/USDT", "buy", D(25))]
    assert decision.reasons["nav"] == D(1000)
    assert decision.rule == "rebalance"


def test_sells_come_before_buys_and_the_band_is_respected() -> None:
    rebalancer = strategy({"A/USDT": "0.5", "B/USDT": "0.3", "C/USDT": "0.2"}, band="0.05")
    # NAV = 4 + 60*10 (A) + 10*20 (B) + 9.8*20 (C) = 1000; targets 500 / 300 / 200
    ctx = context("4", {"A/USDT": "60", "B/USDT": "10", "C/USDT": "9.8"},
                  {"A/USDT": "10", "B/USDT": "20", "C/USDT": "20"})

    _, decision = rebalancer.on_wake(None, ctx)

    # A: 600 → 500 sell 100 (≥ 50); B: 200 → 300 buy 100; C: 196 → 200 drift 4 < 50: hold
    assert [(i.symbol, i.side, i.amount) for i in decision.intents] == [
        ("A/USDT", "sell", D(10)), ("B/USDT", "buy", D(5))]
    assert decision.reasons["drift"]["C/USDT"] == D(4)


def test_buys_are_scaled_down_to_the_cash_left_after_fees() -> None:
    rebalancer = strategy({"A/USDT": "0.9", "B/USDT": "0.1"}, band="0")
    ctx = context("100", {"B/USDT": "20"}, {"A/USDT": "1", "B/USDT": "10"}, fee="0.01")
    # NAV = 300; A target 270 (buy 270), B target 30 (sell 17 → +170 × 0.99 = 168.3)

    _, decision = rebalancer.on_wake(None, ctx)

    sell, buy = decision.intents
    assert (sell.symbol, sell.side, sell.amount) == ("B/USDT", "sell", D(17))
    assert buy.symbol == "A/USDT" and buy.side == "buy"
    assert buy.amount * D("1.01") == pytest.approx(D("268.3"), abs=D("1e-20"))
    assert decision.reasons["scaled_to_cash"] == ["A/USDT"]


def test_a_buy_scaled_below_the_threshold_is_dropped() -> None:
    # NAV 100 in cash, target 100 of A; with a 20 % fee only 100 / 1.2 = 83.3 can be bought
    dropped = strategy({"A/USDT": "1"}, band="0.9")  # threshold 90 > 83.3
    kept = strategy({"A/USDT": "1"}, band="0.8")  # threshold 80 < 83.3
    ctx = context("100", {}, {"A/USDT": "10"}, fee="0.2")

    _, no_buy = dropped.on_wake(None, ctx)
    _, buy = kept.on_wake(None, ctx)

    assert no_buy.intents == () and no_buy.reasons["scaled_to_cash"] == ["A/USDT"]
    assert buy.intents[0].amount * 10 * D("1.2") == pytest.approx(D(100), abs=D("1e-20"))


def test_without_prices_it_holds() -> None:
    _, decision = strategy({"A/USDT": "0.5"}).on_wake(None, context("10", {"A/USDT": "1"}, {}))

    assert decision.rule == "hold" and decision.intents == ()


@pytest.mark.parametrize(("weights", "message"), [
    ({"A/USDT": "0.7", "B/USDT": "0.4"}, "add up to more than 1"),
    ({"A/USDT": "-0.1"}, "outside 0..1"),
    ({"AUSDT": "0.1"}, "not a BASE/QUOTE market"),
    ({}, "at least one market"),
])
def test_invalid_weights_are_refused(weights: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        strategy(weights)


def test_book_depth_declares_an_order_book_oracle_and_zero_declares_none() -> None:
    plain = strategy({"A/USDT": "0.5", "B/USDT": "0.25"})
    booked = Rebalance(parse_params(Rebalance, {"weights": {"A/USDT": "0.5", "B/USDT": "0.25"},
                                                "book_depth": 7}))

    assert [(o.name, o.kind) for o in plain.oracles()] == [("prices", "prices")]
    assert [(o.name, o.kind, dict(o.options)) for o in booked.oracles()] == [
        ("prices", "prices", {"symbols": ("A/USDT", "B/USDT")}),
        ("book", "order_book", {"symbols": ("A/USDT", "B/USDT"), "depth": 7})]
    with pytest.raises(ValidationError, match="book_depth"):
        parse_params(Rebalance, {"weights": {"A/USDT": "0.5"}, "book_depth": -1})
