"""Small folds of an actor's stream that every reader composes.

* :class:`Controls` — paused, killed (operator commands) and halted (the drawdown limit);
* :class:`Orders` — every order's state: sent, working, final, of unknown fate, dropped;
* the books — :class:`fund.ledger.Ledger` (cash, positions, prices, fees);
* the investor register — :class:`fund.accounting.register.Register`.

The actor's core, ``fund status``, the monitoring UI, reconciliation and statements all
read an actor's state through these, so they cannot disagree on it. Each has
``apply(seq, kind, ts, payload)`` over decoded payloads; :func:`fold` feeds a stream to
several at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from fund.canonical import loads
from fund.journal.base import Entry
from fund.messages import CONTROL, FILL, HALT, ORDER_ACK, ORDER_INTENT, ORDER_REJECTED

WORKING = frozenset({"open", "partially_filled"})
"""Ack statuses of an order the exchange is still working on."""
SENT, UNKNOWN, DROPPED, REJECTED = "sent", "unknown", "dropped", "rejected"
OPEN = frozenset({SENT, UNKNOWN, *WORKING})
"""States whose final outcome the journal does not know yet: an *open* order."""


class Projection(Protocol):
    """A fold over an actor's decoded entries."""

    def apply(self, seq: int, kind: str, ts: str, payload: Mapping[str, Any]) -> None:
        """Consume one entry (kinds it does not read are ignored)."""
        ...


@dataclass(slots=True)
class Controls:
    """Whether the actor is paused (no wakes), killed (every order refused) or halted (no
    new buying after the drawdown limit). ``resume`` undoes pause and kill, never a halt."""

    paused: bool = False
    killed: bool = False
    halted: bool = False

    def apply(self, seq: int, kind: str, ts: str, payload: Mapping[str, Any]) -> None:
        if kind == HALT:
            self.halted = True
        elif kind == CONTROL and not payload.get("rejected"):
            command = payload.get("command")
            if command == "kill":
                self.killed = True
            elif command == "pause":
                self.paused = True
            elif command == "resume":
                self.killed = self.paused = False

    @property
    def state(self) -> str:
        """``running``, or the controls in force (``halted,killed,paused``)."""
        on = [name for name in ("halted", "killed", "paused") if getattr(self, name)]
        return ",".join(on) or "running"


@dataclass(slots=True)
class OrderState:
    """What the journal knows about one order.

    ``status``: ``sent`` (no answer yet), the exchange's ack status (``open``,
    ``partially_filled``, ``filled``, ``canceled``, ``expired``), ``rejected``, ``unknown``
    (an ambiguous answer: the order may exist, until ``valid_until`` it may still be
    accepted) or ``dropped`` (reconciliation found the exchange never had it).
    """

    seq: int
    symbol: str
    side: str
    amount: str
    status: str = SENT
    events: int = 0
    filled: Decimal = Decimal(0)
    fills: set[str] = field(default_factory=set)
    reason: str = ""
    valid_until: str | None = None
    dropped: str | None = None  # when reconciliation called it dropped

    @property
    def open(self) -> bool:
        """Whether the journal does not know the order's final outcome yet."""
        return self.status in OPEN


@dataclass(slots=True)
class Orders:
    """Every order of the stream by client order id, in journal order."""

    by_id: dict[str, OrderState] = field(default_factory=dict)

    def apply(self, seq: int, kind: str, ts: str, payload: Mapping[str, Any]) -> None:
        if kind == ORDER_INTENT:
            self.by_id[payload["client_order_id"]] = OrderState(
                seq=seq, symbol=payload["symbol"], side=payload["side"],
                amount=str(payload["amount"]))
            return
        if kind not in (ORDER_ACK, FILL, ORDER_REJECTED):
            return
        order = self.by_id.get(payload["client_order_id"])
        if order is None:
            return
        order.events += 1
        if kind == FILL:
            order.fills.add(payload["fill_id"])
            order.filled += Decimal(payload["amount"])
            if order.status in (SENT, UNKNOWN, DROPPED):
                order.status = "partially_filled"
        elif kind == ORDER_ACK:
            order.status, order.dropped = payload["status"], None
            order.reason = payload.get("reason") or order.reason
        else:
            self._rejected(order, ts, payload)

    @staticmethod
    def _rejected(order: OrderState, ts: str, payload: Mapping[str, Any]) -> None:
        order.reason = payload.get("reason", "")
        if payload.get("ambiguous"):
            order.status = UNKNOWN
            order.valid_until = payload.get("valid_until") or order.valid_until
        elif payload.get("source") == "reconcile":
            order.status, order.dropped = DROPPED, ts
        else:
            order.status = REJECTED

    def open(self) -> list[tuple[str, OrderState]]:
        """The open orders (outcome not known yet), oldest first."""
        return [(coid, order) for coid, order in self.by_id.items() if order.open]

    def dropped_since(self, ts: str) -> list[tuple[str, OrderState]]:
        """Orders called dropped at or after ``ts`` (and not found since), oldest first."""
        return [(coid, order) for coid, order in self.by_id.items()
                if order.status == DROPPED and order.dropped and order.dropped >= ts]


def fold(entries: Iterable[Entry], *projections: Projection) -> None:
    """Feed every entry, decoded, to each projection in turn."""
    for entry in entries:
        payload = loads(entry.payload)
        for projection in projections:
            projection.apply(entry.seq, entry.kind, entry.ts, payload)
