"""The vocabulary of a fund: every entry kind, and one payload type per kind.

Every journal entry has a :class:`Kind`; its payload is canonical JSON. Each kind has a
frozen dataclass here with the one encoding (``to_payload``: the dict that is journaled,
optional fields left out when unset) and the one decoding (``from_payload``: from a
decoded journal payload, whose decimals are strings). Nothing else in agentfund spells a
kind: writers build these values, readers decode them or read their documented keys.

Also here: the values handed to and returned by strategy handlers (:class:`OrderIntent`,
:class:`Decision`, :class:`Observation`), stream names (an actor's command stream) and
client order ids. Cheap to import: the standard library only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Literal, Self

from fund.quick_init import quick_init


class Kind(StrEnum):
    """Every kind of journal entry (a ``str``: equal to the stored text)."""

    START = "Start"  # the actor's full configuration and code identity
    DEPOSIT = "Deposit"  # cash paid into (or, negative, out of) the fund
    WAKE = "Wake"  # a cron fire time: the actor runs
    MISSED_WAKE = "MissedWake"  # wakes that were due and did not run, and why
    OBSERVATION = "Observation"  # one oracle's result (or its failure) for a wake
    HALT = "Halt"  # a risk limit stopped new buying (max drawdown)
    DECISION = "Decision"  # the handler's reasons and the number of intents that follow
    ORDER_INTENT = "OrderIntent"  # one order the handler wants; journaled before it is sent
    ORDER_ACK = "OrderAck"  # the exchange's word on an order's status
    FILL = "Fill"  # (part of) an order was executed
    ORDER_REJECTED = "OrderRejected"  # the exchange or a risk limit refused an order
    CONTROL = "Control"  # an operator's command as applied: kill, pause, resume, or refused
    RECONCILE = "Reconcile"  # the exchange was asked about orders of unknown fate
    SUBSCRIPTION = "Subscription"  # an investor asks to buy units (an amount of cash)
    REDEMPTION = "Redemption"  # an investor asks to sell units (a number, or an amount)
    VALUATION = "Valuation"  # a valuation point: fees, NAV per share, the requests dealt
    END = "End"  # a backtest's final valuation
    COMMAND = "Command"  # an operator's request, in the actor's command stream
    CHECKPOINT = "Checkpoint"  # the manager's signature on the head of the stream before it
    ALERT = "Alert"  # an alert the daemon sent (or failed to send), in the fund's alerts stream


# the kinds as plain strings (what is stored, read and compared in every hot path: a str
# compares several times faster than an Enum member does)
START, DEPOSIT, WAKE, MISSED_WAKE = "Start", "Deposit", "Wake", "MissedWake"
OBSERVATION, HALT, DECISION = "Observation", "Halt", "Decision"
ORDER_INTENT, ORDER_ACK, FILL = "OrderIntent", "OrderAck", "Fill"
ORDER_REJECTED, CONTROL, RECONCILE = "OrderRejected", "Control", "Reconcile"
SUBSCRIPTION, REDEMPTION, VALUATION = "Subscription", "Redemption", "Valuation"
END, COMMAND, CHECKPOINT, ALERT = "End", "Command", "Checkpoint", "Alert"
assert {START, DEPOSIT, WAKE, MISSED_WAKE, OBSERVATION, HALT, DECISION, ORDER_INTENT,
        ORDER_ACK, FILL, ORDER_REJECTED, CONTROL, RECONCILE, SUBSCRIPTION, REDEMPTION,
        VALUATION, END, COMMAND, CHECKPOINT, ALERT} == {k.value for k in Kind}, "every Kind, once"

EXCHANGE_EVENTS = frozenset({ORDER_ACK, FILL, ORDER_REJECTED})
"""What an exchange adapter reports about an order."""

# --- streams ---------------------------------------------------------------------------------

COMMANDS_SUFFIX = ".commands"


def commands_stream(actor_id: str) -> str:
    """The stream the operator's commands for ``actor_id`` are queued in."""
    return actor_id + COMMANDS_SUFFIX


def is_commands_stream(process_id: str) -> bool:
    """Whether a stream holds an actor's queued commands (not the actor's own entries)."""
    return process_id.endswith(COMMANDS_SUFFIX)


ALERTS_SUFFIX = ".alerts"


def alerts_stream(fund: str) -> str:
    """The stream a fund's daemon records the alerts it sent in (``fund``: a safe name)."""
    return fund + ALERTS_SUFFIX


def is_side_stream(process_id: str) -> bool:
    """Whether a stream holds no actor's own entries (an actor's queued commands, a fund's
    alerts): facts outside the replayed decisions, whose chain alone is checked."""
    return process_id.endswith((COMMANDS_SUFFIX, ALERTS_SUFFIX))


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


# --- what handlers consume and produce ---------------------------------------------------------

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop_market", "stop_limit", "cancel"]
TimeInForce = Literal["IOC", "FOK", "GTC", "PO"]
RESTING_TIF = frozenset({"GTC", "PO"})
"""Time-in-force values of a limit order that rests (``PO``: post-only, GTC otherwise)."""
STOP_TYPES = frozenset({"stop_market", "stop_limit"})
"""Order types that rest until a candle's range reaches their stop price."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderIntent:
    """An order a handler wants placed: amount in base units, Decimal.

    ``order_type``: ``market``; ``limit`` at ``limit_price``, immediate-or-cancel unless
    ``time_in_force`` is ``FOK`` (all of it at once, or nothing), ``GTC`` (rests until
    filled or cancelled) or ``PO`` (post-only: rests, refused if it would take at once);
    ``stop_market`` / ``stop_limit`` rest until a candle reaches ``stop_price``; ``cancel``
    cancels the working order ``cancels`` (its client order id; symbol, side and amount
    repeat the order's). The fill model: fund/exchange/resting.py.
    """

    symbol: str
    side: Side
    amount: Decimal
    order_type: OrderType = "market"
    limit_price: Decimal | None = None
    reference_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    stop_price: Decimal | None = None
    cancels: str | None = None

    @property
    def rests(self) -> bool:
        """Whether the order may rest on the book (a GTC/post-only limit, or a stop)."""
        return self.order_type in STOP_TYPES or (
            self.order_type == "limit" and self.time_in_force in RESTING_TIF)

    def to_payload(self) -> dict[str, Any]:
        """Return the journaled form (without the ids the runtime adds)."""
        payload: dict[str, Any] = {"symbol": self.symbol, "side": self.side,
                                   "amount": self.amount, "type": self.order_type}
        if self.limit_price is not None:
            payload["limit_price"] = self.limit_price
        if self.reference_price is not None:
            payload["reference_price"] = self.reference_price
        if self.time_in_force is not None:
            payload["tif"] = self.time_in_force
        if self.stop_price is not None:
            payload["stop_price"] = self.stop_price
        if self.cancels is not None:
            payload["cancels"] = self.cancels
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> OrderIntent:
        """Read an intent back from an OrderIntent payload."""
        return cls(symbol=payload["symbol"], side=payload["side"],
                   amount=Decimal(payload["amount"]), order_type=payload.get("type", "market"),
                   limit_price=_dec(payload.get("limit_price")),
                   reference_price=_dec(payload.get("reference_price")),
                   time_in_force=payload.get("tif"), stop_price=_dec(payload.get("stop_price")),
                   cancels=payload.get("cancels"))


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What a handler decided at a wake: the rule that fired, its numbers, its orders."""

    KIND: ClassVar[str] = DECISION
    rule: str
    reasons: Mapping[str, Any] = field(default_factory=dict)
    intents: tuple[OrderIntent, ...] = ()

    def to_payload(self) -> dict[str, Any]:
        """Return the journaled form of the decision (intents are journaled separately)."""
        return {"rule": self.rule, "reasons": dict(self.reasons), "intents": len(self.intents)}


@quick_init
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


# --- payloads: one type per kind -----------------------------------------------------------

class Payload:
    """A journal payload: its kind, and its one encoding and decoding.

    (Frozen dataclasses without ``__slots__``: a slotted class costs twice as much to
    create, and there are a score of them in every process's import.)"""

    KIND: ClassVar[str]

    def to_payload(self) -> dict[str, Any]:
        """The journaled form: every field that is set (Decimals kept for canonical JSON)."""
        out: dict[str, Any] = {}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Self:
        """Read the journaled form back (decimals from their strings)."""
        decimals = getattr(cls, "_DECIMALS", ())
        return cls(**{key: Decimal(value) if key in decimals and value is not None else value
                      for key, value in payload.items()})


@dataclass(frozen=True, kw_only=True)
class Wake(Payload):
    """A wake: the cron fire time it runs for."""

    KIND: ClassVar[str] = WAKE
    scheduled: str

    def to_payload(self) -> dict[str, Any]:
        return self.encode(self.scheduled)

    @staticmethod
    def encode(scheduled: str) -> dict[str, Any]:
        """The journaled form, straight from the values (once a wake: no object made)."""
        return {"scheduled": scheduled}


@dataclass(frozen=True, kw_only=True)
class MissedWake(Payload):
    """Wakes that were due and did not run (the first, the last, how many) and why."""

    KIND: ClassVar[str] = MISSED_WAKE
    first: str
    last: str
    count: int
    reason: str
    policy: str


@dataclass(frozen=True, kw_only=True)
class Observed(Payload):
    """An Observation entry: one oracle's data (or error) as of a moment, and when the
    answer arrived if that was later than the entry's time."""

    KIND: ClassVar[str] = OBSERVATION
    oracle: str
    as_of: str
    data: Mapping[str, Any] | None = None
    error: str | None = None
    received: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return self.encode(self.oracle, self.as_of, self.data, self.error, self.received)

    @staticmethod
    def encode(oracle: str, as_of: str, data: Mapping[str, Any] | None = None,
               error: str | None = None, received: str | None = None) -> dict[str, Any]:
        """The journaled form, straight from the values (every wake: no object made)."""
        out: dict[str, Any] = {"oracle": oracle, "as_of": as_of}
        if data is not None:
            out["data"] = data
        if error is not None:
            out["error"] = error
        if received is not None:
            out["received"] = received
        return out


@dataclass(frozen=True, kw_only=True)
class Halt(Payload):
    """The drawdown limit was hit: no new buying from here on."""

    KIND: ClassVar[str] = HALT
    _DECIMALS: ClassVar[frozenset[str]] = frozenset({"nav", "peak", "drawdown", "threshold"})
    limit: str
    nav: Decimal
    peak: Decimal
    drawdown: Decimal
    threshold: Decimal


@dataclass(frozen=True, kw_only=True)
class IntentEntry(Payload):
    """An OrderIntent entry: the handler's intent with the ids the runtime adds."""

    KIND: ClassVar[str] = ORDER_INTENT
    intent: OrderIntent
    client_order_id: str
    decision: int

    def to_payload(self) -> dict[str, Any]:
        return {**self.intent.to_payload(), "client_order_id": self.client_order_id,
                "decision": self.decision}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Self:
        return cls(intent=OrderIntent.from_payload(payload),
                   client_order_id=payload["client_order_id"], decision=payload["decision"])


@dataclass(frozen=True, kw_only=True)
class OrderAck(Payload):
    """The exchange's word on an order: its id there and its status (for an order that
    ended part-filled, what filled and what did not, and why). ``raw``: live, the digests
    of the blobs holding the exchange's raw answers it was read from, in request order."""

    KIND: ClassVar[str] = ORDER_ACK
    _DECIMALS: ClassVar[frozenset[str]] = frozenset({"filled", "remaining"})
    client_order_id: str
    exchange_order_id: str
    status: str
    filled: Decimal | None = None
    remaining: Decimal | None = None
    reason: str | None = None
    raw: tuple[str, ...] | None = None
    triggered: str | None = None  # a stop order's trigger: the close time of the candle


@dataclass(frozen=True, kw_only=True)
class Fill(Payload):
    """(Part of) an order executed: amount at price, and the fee paid. ``raw``: live, the
    digests of the blobs holding the exchange's raw answers it was read from."""

    KIND: ClassVar[str] = FILL
    _DECIMALS: ClassVar[frozenset[str]] = frozenset({"amount", "price", "fee"})
    client_order_id: str
    fill_id: str
    symbol: str
    side: str
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    raw: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class OrderRejected(Payload):
    """An order refused: by a risk limit (``source`` risk, ``limit``), by the adapter or
    the exchange, or called dropped by reconciliation. ``ambiguous``: the answer proved
    nothing, and the order may exist; ``valid_until``: when it can no longer be accepted;
    ``raw``: the digests of the blobs holding the exchange's raw (error) answers, if any."""

    KIND: ClassVar[str] = ORDER_REJECTED
    client_order_id: str
    reason: str
    source: str
    limit: str | None = None
    ambiguous: bool | None = None
    valid_until: str | None = None
    raw: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class Deposit(Payload):
    """Cash paid into the fund (negative: taken out), and on whose command."""

    KIND: ClassVar[str] = DEPOSIT
    _DECIMALS: ClassVar[frozenset[str]] = frozenset({"amount"})
    amount: Decimal
    currency: str
    reason: str
    command_seq: int | None = None
    by: str | None = None


@dataclass(frozen=True, kw_only=True)
class Control(Payload):
    """An operator's command as the actor applied it — or refused it (``rejected``)."""

    KIND: ClassVar[str] = CONTROL
    _DECIMALS: ClassVar[frozenset[str]] = frozenset({"amount"})
    command: str
    reason: str | None = None
    command_seq: int | None = None
    by: str | None = None
    amount: Decimal | None = None
    rejected: str | None = None


@dataclass(frozen=True, kw_only=True)
class Command(Payload):
    """An operator's request, queued in the actor's command stream."""

    KIND: ClassVar[str] = COMMAND
    _DECIMALS: ClassVar[frozenset[str]] = frozenset({"amount", "units"})
    command: str
    reason: str
    by: str
    amount: Decimal | None = None
    units: Decimal | None = None
    investor: str | None = None


@dataclass(frozen=True, kw_only=True)
class Request(Payload):
    """An investor's request, dealt at the next valuation point: a :class:`Subscription`
    (an amount of cash) or a :class:`Redemption` (units, or an amount)."""

    _DECIMALS: ClassVar[frozenset[str]] = frozenset({"amount", "units"})
    investor: str
    requested: str
    amount: Decimal | None = None
    units: Decimal | None = None
    reason: str | None = None
    command_seq: int | None = None
    by: str | None = None


@dataclass(frozen=True, kw_only=True)
class Subscription(Request):
    """An investor asks to buy units for an amount of cash."""

    KIND: ClassVar[str] = SUBSCRIPTION


@dataclass(frozen=True, kw_only=True)
class Redemption(Request):
    """An investor asks to sell units (a number of them, or an amount's worth)."""

    KIND: ClassVar[str] = REDEMPTION


@dataclass(frozen=True, kw_only=True)
class Reconciled(Payload):
    """What asking the exchange about orders of unknown fate found."""

    KIND: ClassVar[str] = RECONCILE
    checked: int
    found: int
    late: int
    dropped: int
    open: int
    at: str


@dataclass(frozen=True, kw_only=True)
class End(Payload):
    """A backtest's final books: NAV, cash, fees, fills and positions."""

    KIND: ClassVar[str] = END
    _DECIMALS: ClassVar[frozenset[str]] = frozenset({"nav", "cash", "fees"})
    nav: Decimal
    cash: Decimal
    fees: Decimal
    fills: int
    positions: Mapping[str, Decimal]
    open_orders: Sequence[Mapping[str, Any]] | None = None  # orders still resting at the end


@dataclass(frozen=True, kw_only=True)
class Valuation(Payload):
    """A valuation point: fees, NAV per share, every deal and what changed per investor
    (the figures are computed by fund.accounting.register, which documents them)."""

    KIND: ClassVar[str] = VALUATION
    _DECIMALS: ClassVar[frozenset[str]] = frozenset({
        "assets", "fees_owed_before", "management_fee", "performance_fee",
        "price_before_fees", "price", "fees_paid", "fees_owed", "cash_in", "redeemed",
        "cash_out", "units"})
    at: str
    assets: Decimal
    fees_owed_before: Decimal
    management_fee: Decimal
    performance_fee: Decimal
    price_before_fees: Decimal
    price: Decimal
    fees_paid: Decimal
    fees_owed: Decimal
    cash_in: Decimal
    redeemed: Decimal
    cash_out: Decimal
    units: Decimal
    deals: Sequence[Mapping[str, Any]]
    investors: Mapping[str, Mapping[str, Any]]
    pending: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Checkpoint(Payload):
    """The manager's signature on a stream's head: ``seq`` and ``head`` are the position and
    hash of the entry the checkpoint follows; ``previous`` the digest of the actor's
    previous checkpoint; ``key`` the signing key's fingerprint (fund/attest.py)."""

    KIND: ClassVar[str] = CHECKPOINT
    fund: str | None = None
    actor: str
    seq: int
    head: str
    at: str
    previous: str | None = None
    key: str
    signature: str


@dataclass(frozen=True, kw_only=True)
class Alert(Payload):
    """An alert as the daemon sent it to one target: the event (``halt``, ``rejected``,
    ``summary``…), its actor if it has one, the title and text sent, how many events it
    stands for (a storm is sent as one), and the outcome (``sent`` or ``failed``, with the
    error, the secrets in it blanked) after ``attempts`` tries."""

    KIND: ClassVar[str] = ALERT
    event: str
    target: str
    title: str
    body: str
    count: int
    outcome: str
    attempts: int
    actor: str | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class Start(Payload):
    """The Start entry: everything a replay needs to rebuild the actor (fund.actor's
    ActorSpec reads and writes it), and the code that ran it."""

    KIND: ClassVar[str] = START
    _DECIMALS: ClassVar[frozenset[str]] = frozenset({"fee_rate", "slippage_bps",
                                                      "volume_fraction"})
    actor: str
    strategy: str
    params: Mapping[str, Any]
    cron: str
    mode: str
    quote: str
    fee_rate: Decimal
    slippage_bps: Decimal
    markets: Sequence[Mapping[str, Any]]
    risk: Mapping[str, Any]
    oracles: Sequence[Mapping[str, Any]]
    code: Mapping[str, Any]
    accounting: Mapping[str, Any] | None = None
    instance: str | None = None
    volume_fraction: Decimal | None = None  # resting fills' cap per candle (unset: default)


_FIELDS: dict[type[Any], tuple[str, ...]] = {}


def _field_names(cls: type[Any]) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    return names


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def entry(payload: Payload) -> tuple[str, dict[str, Any]]:
    """A payload as (kind, journaled form): what an adapter reports, what is recorded."""
    return payload.KIND, payload.to_payload()
