"""The interface every exchange adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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
    known_fills: tuple[str, ...] = ()  # a cancel's: the journaled fill ids of its order


Event = tuple[str, dict[str, Any]]
"""A journal kind (OrderAck, Fill, OrderRejected) and its payload (fund.messages.entry)."""


class Answered(dict[str, Any]):
    """An event's payload, carrying the exchange's raw answers it was made from.

    The answers (bytes, secrets blanked out, in request order) are not part of the payload,
    and an Answered payload equals the plain one: the runtime stores each answer as a blob
    when it records the event, in the same batch, and lists the digests under ``raw``
    (fund/exchange/ccxt_adapter.py says which answers go on which events). They travel with
    the event so that they reach the writer of the actor that records it, however the event
    got there (a wake, or reconciliation with an adapter several actors share).
    """

    __slots__ = ("answers",)

    def __init__(self, payload: Mapping[str, Any], answers: Sequence[bytes]) -> None:
        super().__init__(payload)
        self.answers = tuple(answers)


class NoEvents(list[Event]):
    """No event about an order, carrying the exchange's raw answers that said so (a lookup
    that found nothing): reconciliation puts them on the rejection it then records."""

    __slots__ = ("answers",)

    def __init__(self, answers: Sequence[bytes] = ()) -> None:
        super().__init__()
        self.answers = tuple(answers)


def answers(said: object) -> tuple[bytes, ...]:
    """The raw answers an event's payload (or a lookup's :class:`NoEvents`) was made from
    (none for a paper adapter's)."""
    return said.answers if isinstance(said, Answered | NoEvents) else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What an exchange adapter can do: the one object the runtime, the replayer and the
    daemon read (never ``isinstance`` or attribute probes)."""

    replayable: bool = False  # its events follow from the journal alone: verify re-derives
    durable_intents: bool = True  # an intent must be stored before the order is sent
    balances: bool = False  # it reports the account's balances (checked at live start-up)
    lookup: bool = False  # it finds an order by client order id (reconciliation)
    books: bool = False  # its fills walk an order book recorded at the wake
    precision: bool = False  # it rounds to the exchange's own market precision


PAPER = Capabilities(replayable=True, durable_intents=False, books=True)
LIVE = Capabilities(balances=True, lookup=True, precision=True)
_MODES = {"backtest": PAPER, "paper": replace(PAPER, durable_intents=True), "live": LIVE}


def venue_of(mode: str) -> Capabilities:
    """The capabilities of the venue a stream of this mode (its Start entry) trades on."""
    try:
        return _MODES[mode]
    except KeyError:
        raise ValueError(f"unknown mode {mode!r} (backtest, paper or live)") from None


class Adapter(ABC):
    """Places orders and reports what happened to them as journal events."""

    capabilities: Capabilities = LIVE

    @abstractmethod
    def submit(self, order: PlacedOrder, portfolio: PortfolioView) -> list[Event]:
        """Submit one order; return the events it produced, in order.

        Must not raise for an order the venue refuses: that is an OrderRejected event.
        """
