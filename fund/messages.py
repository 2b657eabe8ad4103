"""The messages of a fund: entry kinds and the values handlers consume and produce.

Every journal entry has one of the kinds below; its payload is canonical JSON. Values
handed to and returned by strategy handlers are frozen dataclasses; ``to_payload``
gives the JSON form that is journaled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

START = "Start"  # the actor's full configuration and code identity
DEPOSIT = "Deposit"  # cash paid into the fund
WAKE = "Wake"  # a cron fire time: the actor runs
OBSERVATION = "Observation"  # one oracle's result (or its failure) for a wake
DECISION = "Decision"  # the handler's reasons and the number of intents that follow
ORDER_INTENT = "OrderIntent"  # one order the handler wants; journaled before it is sent
ORDER_ACK = "OrderAck"  # the exchange accepted an order
FILL = "Fill"  # (part of) an order was executed
ORDER_REJECTED = "OrderRejected"  # the exchange or a risk limit refused an order
END = "End"  # a backtest's final valuation
HALT = "Halt"  # a risk limit stopped new buying (max drawdown)
CONTROL = "Control"  # an operator's command: kill switch on or off


Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderIntent:
    """An order a handler wants placed: amount in base units, Decimal."""

    symbol: str
    side: Side
    amount: Decimal
    order_type: OrderType = "market"
    limit_price: Decimal | None = None
    reference_price: Decimal | None = None

    def to_payload(self) -> dict[str, Any]:
        """Return the journaled form (without the ids the runtime adds)."""
        payload: dict[str, Any] = {"symbol": self.symbol, "side": self.side,
                                   "amount": self.amount, "type": self.order_type}
        if self.limit_price is not None:
            payload["limit_price"] = self.limit_price
        if self.reference_price is not None:
            payload["reference_price"] = self.reference_price
        return payload


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What a handler decided at a wake: the rule that fired, its numbers, its orders."""

    rule: str
    reasons: Mapping[str, Any] = field(default_factory=dict)
    intents: tuple[OrderIntent, ...] = ()

    def to_payload(self) -> dict[str, Any]:
        """Return the journaled form of the decision (intents are journaled separately)."""
        return {"rule": self.rule, "reasons": dict(self.reasons), "intents": len(self.intents)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """One oracle's recorded result as the handler sees it (decoded from the journal)."""

    oracle: str
    seq: int
    as_of: datetime
    data: Mapping[str, Any] | None = None
    error: str | None = None
    prices: Mapping[str, Decimal] | None = None

    @property
    def ok(self) -> bool:
        """Tell whether the oracle produced data."""
        return self.error is None


def parse_prices(data: Mapping[str, Any] | None) -> dict[str, Decimal] | None:
    """Return the prices an observation's data carries (``{"prices": {sym: {"price"…}}}``)."""
    if not data or "prices" not in data:
        return None
    return {symbol: Decimal(quote["price"]) for symbol, quote in data["prices"].items()}


def client_order_id(actor_id: str, intent_seq: int, instance: str | None = None) -> str:
    """Derive the exchange client order id from the stream's instance id (a live stream's
    random id, recorded in its Start entry), the actor and the intent's journal position.

    Without an instance (backtests and paper, which never reach an exchange) the id depends
    on the actor and position only, so two runs give byte-identical journals. With one, two
    journals of actors of the same name never share an id on the same account.
    """
    key = f"{actor_id}\x1f{intent_seq}" if instance is None else \
        f"{instance}\x1f{actor_id}\x1f{intent_seq}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"af-{digest[:29]}"
