"""The interface every exchange adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from fund.ledger import PortfolioView
from fund.markets import Market
from fund.messages import OrderIntent


@dataclass(frozen=True, slots=True, kw_only=True)
class PlacedOrder:
    """An intent as sent: with its client order id and the market it trades."""

    client_order_id: str
    intent: OrderIntent
    market: Market


Event = tuple[str, dict[str, Any]]
"""A journal kind (OrderAck, Fill, OrderRejected) and its payload."""


class Adapter(ABC):
    """Places orders and reports what happened to them as journal events."""

    durable_intents: bool = True
    """Whether an intent must be durable in the journal before it is submitted."""

    replayable: bool = False
    """Whether the adapter's events follow from the journal alone (verify re-derives them)."""

    @abstractmethod
    def submit(self, order: PlacedOrder, portfolio: PortfolioView) -> list[Event]:
        """Submit one order; return the events it produced, in order.

        Must not raise for an order the venue refuses: that is an OrderRejected event.
        """
