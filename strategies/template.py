"""A template to copy: buy a fixed basket once and hold it.

Copy this file into your own package, rename the class and ``name``, and point an actor
at it with ``strategy = "yourpackage.yourmodule:YourStrategy"``. Rules for a handler:
use only ``state`` and ``ctx`` (time, observations, portfolio, markets, terms, ``ctx.rng``);
no clock, files, network, environment or unseeded randomness; return new state and a
Decision whose reasons (numbers, strings, Decimals) say why.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, ConfigDict

from fund.messages import Decision, OrderIntent
from fund.strategy import Context, Strategy, ordered_pairs, register


@dataclass(frozen=True, kw_only=True)
class BuyAndHoldParams:
    """``weights``: fraction of the initial NAV to put in each market, bought once."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    weights: Annotated[tuple[tuple[str, Decimal], ...], BeforeValidator(ordered_pairs)]


@register
class BuyAndHold(Strategy[BuyAndHoldParams, bool]):
    """Spend the target weights of NAV at the first wake that has prices, then hold."""

    name = "buy_and_hold"
    Params = BuyAndHoldParams

    def symbols(self) -> tuple[str, ...]:
        return tuple(symbol for symbol, _ in self.params.weights)

    def initial_state(self) -> bool:
        return False  # not invested yet

    def on_wake(self, state: bool, ctx: Context) -> tuple[bool, Decision]:
        prices = ctx.prices()
        if state or any(s not in prices for s, _ in self.params.weights):
            return state, Decision(rule="hold")
        nav = ctx.portfolio.cash
        fee = ctx.terms.fee_rate
        intents = tuple(
            OrderIntent(symbol=s, side="buy", amount=w * nav / (prices[s] * (1 + fee)),
                        reference_price=prices[s])
            for s, w in self.params.weights if w > 0
        )
        return True, Decision(rule="invest", reasons={"nav": nav}, intents=intents)
