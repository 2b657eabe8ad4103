"""Risk limits, enforced by the runtime for every strategy (not inside one).

Pure functions of the limits, the books and the risk state, so that ``fund verify``
re-derives every rejection and halt. A rejected order is journaled as ``OrderRejected``
with ``source: "risk"`` and the ``limit`` that fired; a drawdown halt is a ``Halt`` entry;
the kill switch is a ``Control`` entry (an input, like a deposit).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict

from fund.ledger import Ledger
from fund.messages import OrderIntent

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskLimits:
    """Limits; ``None`` switches one off.

    ``max_position_weight``: a buy may not take an asset above this fraction of NAV.
    ``max_order_notional``: no single order above this much quote currency.
    ``max_orders_per_wake``: orders past this count in one wake are rejected.
    ``max_drawdown``: once NAV falls this fraction below its peak, the actor is halted:
    it may still sell, but not buy.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    max_position_weight: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_orders_per_wake: int | None = None
    max_drawdown: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("max_position_weight", "max_drawdown"):
            value = getattr(self, name)
            if value is not None and not ZERO < value <= 1:
                raise ValueError(f"{name} must be in (0, 1]")
        if self.max_order_notional is not None and self.max_order_notional <= 0:
            raise ValueError("max_order_notional must be positive")
        if self.max_orders_per_wake is not None and self.max_orders_per_wake < 0:
            raise ValueError("max_orders_per_wake must not be negative")

    def to_payload(self) -> dict[str, Any]:
        """Return the journaled form."""
        return {"max_position_weight": self.max_position_weight,
                "max_order_notional": self.max_order_notional,
                "max_orders_per_wake": self.max_orders_per_wake,
                "max_drawdown": self.max_drawdown}


NO_LIMITS = RiskLimits()


@dataclass(slots=True)
class RiskState:
    """What the journal says about risk so far: the NAV peak, a halt, the kill switch."""

    peak_nav: Decimal = ZERO
    halted: bool = False
    killed: bool = False


def assess(limits: RiskLimits, state: RiskState, nav: Decimal) -> dict[str, Any] | None:
    """Raise the peak to ``nav``; return a Halt payload when the drawdown limit is first hit."""
    if nav > state.peak_nav:
        state.peak_nav = nav
    if limits.max_drawdown is None or state.halted or state.peak_nav <= 0:
        return None
    drawdown = 1 - nav / state.peak_nav
    if drawdown < limits.max_drawdown:
        return None
    return {"limit": "max_drawdown", "nav": nav, "peak": state.peak_nav,
            "drawdown": drawdown, "threshold": limits.max_drawdown}


def check(limits: RiskLimits, state: RiskState, ledger: Ledger, intent: OrderIntent,
          index: int) -> tuple[str, str] | None:
    """Return (limit, reason) when an order breaks a limit, else None."""
    if state.killed:
        return "kill_switch", "trading is stopped by the kill switch"
    if limits.max_orders_per_wake is not None and index >= limits.max_orders_per_wake:
        return ("max_orders_per_wake",
                f"order {index + 1} of this wake; at most {limits.max_orders_per_wake}")
    if intent.side == "buy" and state.halted:
        return "max_drawdown", "halted by the drawdown limit: no new buying"
    price = ledger.prices.get(intent.symbol) or intent.reference_price
    if price is None:
        return None  # the exchange rejects an unpriced order itself
    notional = intent.amount * price
    if limits.max_order_notional is not None and notional > limits.max_order_notional:
        return ("max_order_notional",
                f"notional {notional:.2f} above {limits.max_order_notional}")
    if intent.side == "buy" and limits.max_position_weight is not None:
        nav = ledger.nav()
        held = ledger.positions.get(intent.symbol)
        value = ((held.amount if held else ZERO) + intent.amount) * price
        if nav <= 0 or value / nav > limits.max_position_weight:
            weight = value / nav if nav > 0 else Decimal("Infinity")
            return ("max_position_weight",
                    f"{intent.symbol} would be {weight:.4f} of NAV, above "
                    f"{limits.max_position_weight}")
    return None
