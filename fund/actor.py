"""An actor's identity (spec) and its deterministic core: the one decider of every mode.

:class:`ActorCore` folds decoded journal payloads in order and says what a wake must write
after its inputs: :meth:`ActorCore.plan` (the Halt a risk limit calls for, the Decision and
its OrderIntents) and :meth:`ActorCore.outcome` (each order's events where they follow from
the journal: a risk rejection, paper fills, or an order not sent after one of unknown
fate). The runtime appends what it returns while trading; the replayer (fund/replay.py)
compares it for ``fund verify`` and trusts it to resume. The wake's steps exist here only.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

from pydantic import TypeAdapter

from fund import __version__
from fund.accounting.register import Register, Request
from fund.accounting.spec import AccountingSpec
from fund.canonical import dumps, loads, parse_ts
from fund.exchange.base import Event, PlacedOrder, venue_of
from fund.exchange.paper import PaperAdapter
from fund.exchange.resting import (
    DEFAULT_VOLUME_FRACTION,
    WorkingOrders,
    cancel,
    match,
    recorded_candles,
)
from fund.ledger import Ledger
from fund.markets import Market
from fund.messages import (
    CONTROL,
    DECISION,
    FILL,
    HALT,
    OBSERVATION,
    ORDER_ACK,
    ORDER_INTENT,
    ORDER_REJECTED,
    REDEMPTION,
    SUBSCRIPTION,
    VALUATION,
    WAKE,
    Decision,
    End,
    Halt,
    IntentEntry,
    Observation,
    OrderIntent,
    OrderRejected,
    Start,
    Valuation,
    _dec,
    client_order_id,
    entry,
    parse_prices,
)
from fund.projections import Controls
from fund.purity import PurityError, pure
from fund.risk import NO_LIMITS, RiskLimits, RiskState, assess, check
from fund.strategy import (
    Context,
    FundTerms,
    OracleSpec,
    Strategy,
    params_payload,
    parse_params,
    source_hash,
    strategy_class,
)


class HandlerPurityError(Exception):
    """A handler did I/O; the run stops (the attempt is journaled first)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorSpec:
    """Who an actor is: strategy, parameters, schedule, terms and markets."""

    actor_id: str
    strategy: str
    params: Any
    cron: str
    terms: FundTerms
    markets: Mapping[str, Market]
    mode: str
    risk: RiskLimits = NO_LIMITS
    accounting: AccountingSpec | None = None
    instance: str | None = None  # a live stream's random id: its client order ids' salt

    def start_payload(self) -> Start:
        """Return the Start entry: everything a replay needs to rebuild this actor."""
        cls = strategy_class(self.strategy)
        return Start(
            actor=self.actor_id, strategy=self.strategy, params=params_payload(self.params),
            cron=self.cron, mode=self.mode, quote=self.terms.quote,
            fee_rate=self.terms.fee_rate, slippage_bps=self.terms.slippage_bps,
            volume_fraction=self.terms.volume_fraction,
            markets=[m.to_payload() for m in self.markets.values()],
            risk=self.risk.to_payload(),
            oracles=[{"name": o.name, "kind": o.kind, "options": dict(o.options)}
                     for o in cls(self.params).oracles()],
            code=self.code(cls),
            accounting=self.accounting.to_payload() if self.accounting else None,
            instance=self.instance)

    @classmethod
    def from_start(cls, payload: Mapping[str, Any]) -> ActorSpec:
        """Rebuild a spec from a decoded Start entry."""
        strategy = strategy_class(payload["strategy"])
        markets = {
            m["symbol"]: Market.parse(m["symbol"], {k: v for k, v in m.items()
                                                    if k != "symbol" and v is not None})
            for m in payload["markets"]
        }
        return cls(
            actor_id=payload["actor"], strategy=payload["strategy"],
            params=parse_params(strategy, payload["params"]), cron=payload["cron"],
            terms=FundTerms(quote=payload["quote"], fee_rate=Decimal(payload["fee_rate"]),
                            slippage_bps=Decimal(payload["slippage_bps"]),
                            volume_fraction=_dec(payload.get("volume_fraction"))),
            markets=markets, mode=payload["mode"],
            risk=TypeAdapter(RiskLimits).validate_python(payload.get("risk") or {}),
            accounting=AccountingSpec.from_payload(payload["accounting"])
            if payload.get("accounting") else None,
            instance=payload.get("instance"),
        )

    def code(self, cls: type[Strategy[Any, Any]] | None = None) -> dict[str, Any]:
        """The code identity of this actor as installed here: agentfund's version, the
        strategy's source hash and, when it derives scores, each scorer's."""
        from agentfund.oracles.kinds import code_identities

        cls = cls or strategy_class(self.strategy)
        scorers = code_identities(cls(self.params).oracles())
        code: dict[str, Any] = {"agentfund": __version__, "strategy_source": source_hash(cls)}
        if scorers:
            code["scorers"] = scorers
        return code

    def declared(self) -> tuple[OracleSpec, ...]:
        """The oracles the actor's strategy reads, in its order."""
        return strategy_class(self.strategy)(self.params).oracles()

    def oracle(self, name: str) -> OracleSpec | None:
        """The declared oracle of this name, if any."""
        return next((o for o in self.declared() if o.name == name), None)

    def client_order_id(self, intent_seq: int) -> str:
        """The client order id of the intent at ``intent_seq`` in this actor's stream."""
        return client_order_id(self.actor_id, intent_seq, self.instance)


UNREAD = frozenset({DECISION})
"""Kinds whose payload :meth:`ActorCore.apply` does not read: a replay compares a
Decision's text with the one it makes, and nothing else decodes it."""
_NO_PAYLOAD: Mapping[str, Any] = MappingProxyType({})


def payload_of(kind: str, text: str) -> Mapping[str, Any]:
    """An entry's payload as :meth:`ActorCore.apply` needs it: decoded (ValueError where it
    is not JSON), or empty for a kind in :data:`UNREAD`."""
    return loads(text) if kind not in UNREAD else _NO_PAYLOAD


class Plan(NamedTuple):
    """What a wake writes after its observations: a Halt if the drawdown limit calls for
    one, then the Decision (its canonical text) and its intents."""

    halt: Halt | None
    decision: Decision
    text: str


class ActorCore:
    """Strategy state and books, advanced by journal payloads; decides at wakes."""

    def __init__(self, spec: ActorSpec) -> None:
        self.spec = spec
        self.strategy: Strategy[Any, Any] = strategy_class(spec.strategy)(spec.params)
        self.state: Any = self.strategy.initial_state()
        self.ledger = Ledger(quote=spec.terms.quote)
        self.controls = Controls()
        self._risk = RiskState()  # the NAV's high-water mark; halted and killed are copied
        # from the controls when a rule is asked (they are the controls' facts, not its)
        self.wake_seq = 0
        self.wake_time: datetime | None = None
        self._scheduled: str | None = None  # the wake's time as journaled
        self.previous_wake: datetime | None = None
        self.working = WorkingOrders()  # resting orders (fund/exchange/resting.py)
        self.observations: dict[str, Observation] = {}
        self.last_observations: dict[str, Observation] = {}
        self.purity_error: str | None = None
        self.unknown: str | None = None  # an order of this wake whose fate is unknown
        self.register = Register(terms=spec.accounting.terms) if spec.accounting else None
        venue = venue_of(spec.mode)
        self.fills = PaperAdapter(fee_rate=spec.terms.fee_rate,
                                  slippage_bps=spec.terms.slippage_bps) \
            if venue.replayable else None  # the fill model, when fills follow from the journal

    @property
    def peak(self) -> Decimal:
        """The NAV's high-water mark so far (the drawdown limit's reference)."""
        return self._risk.peak_nav

    @property
    def paused(self) -> bool:
        """Whether an operator paused the actor (its wakes are recorded as missed)."""
        return self.controls.paused

    def apply(self, seq: int, kind: str, payload: Mapping[str, Any]) -> None:
        """Consume one decoded journal payload (of a kind in :data:`UNREAD`, none is
        needed: pass an empty mapping)."""
        if kind in UNREAD:
            return
        if kind == WAKE:
            self.wake_seq, self.unknown = seq, None
            self.previous_wake = self.wake_time
            self._scheduled = payload["scheduled"]
            self.wake_time = parse_ts(self._scheduled)
            # "since the last wake" means since the last one that got data
            last = self.last_observations
            for name, seen in self.observations.items():
                if seen.error is None:  # (ok; a loop: this runs at every wake)
                    last[name] = seen
            self.observations = {}
        elif kind == OBSERVATION:
            data = payload.get("data")
            prices = parse_prices(data)
            as_of = payload["as_of"]  # mostly the wake's own time, parsed once already
            when = self.wake_time if as_of == self._scheduled and self.wake_time is not None \
                else parse_ts(as_of)
            self.observations[payload["oracle"]] = Observation(
                oracle=payload["oracle"], seq=seq, as_of=when, data=data,
                error=payload.get("error"), prices=prices)
            if prices:
                self.ledger.prices.update(prices)
            self.ledger.observe_books(data)  # the paper adapter walks them (verify too)
            return
        elif kind in (HALT, CONTROL):
            self.controls.apply(seq, kind, "", payload)
        elif kind in (ORDER_INTENT, ORDER_ACK, FILL, ORDER_REJECTED):
            self.working.apply(seq, kind, payload, self.wake_time)
            if kind == ORDER_REJECTED and payload.get("ambiguous"):
                self.unknown = payload["client_order_id"]
        elif kind in (SUBSCRIPTION, REDEMPTION) and self.register is not None:
            self.register.request(Request.from_payload({
                **payload, "seq": seq,
                "kind": "subscribe" if kind == SUBSCRIPTION else "redeem"}))
        elif kind == VALUATION and self.register is not None:
            self.register.apply(payload)
        self.ledger.apply(kind, payload)

    # --- what a wake writes -----------------------------------------------------------------

    def resting(self) -> list[Event]:
        """After a wake's observations, before its plan: the events of the working orders
        on the candles closed since the previous wake (the wake's first observation that
        records candles), where fills follow from the journal (fund/exchange/resting.py)."""
        if self.fills is None or not self.working.working or self.wake_time is None:
            return []
        candles = next((c for o in self.observations.values()
                        if (c := recorded_candles(o.data)) is not None), None)
        if candles is None:
            return []
        return match(self.fills, list(self.working.working.values()), candles,
                     since=self.previous_wake, until=self.wake_time,
                     portfolio=self.ledger.view(), markets=self.spec.markets,
                     fraction=self.spec.terms.volume_fraction or DEFAULT_VOLUME_FRACTION)

    def plan(self) -> Plan:
        """After a wake's observations: the Halt due (tracking the NAV peak) and the
        decision. Call once per wake, at its first entry after the observations."""
        halt = self.assess()
        decision, text = self.decide()
        return Plan(halt=halt, decision=decision, text=text)

    def assess(self) -> Halt | None:
        """The first half of :meth:`plan`: raise the NAV peak to the wake's NAV; the Halt
        the drawdown limit calls for, if any."""
        risk = self._risk
        risk.halted = self.controls.halted
        halted = assess(self.spec.risk, risk, self.ledger.nav())
        return Halt(**halted) if halted else None

    def fingerprint(self) -> bytes:
        """A digest of everything a replay from this point on depends on: the strategy's
        state and instance, the books, controls, orders, observations and NAV peak.
        Two cores with the same fingerprint decide the same from here, so a replay may
        start from a core built another way once its fingerprint matches the replayed
        one's (fund/verify_split.py). The risk rules' halted and killed flags are left
        out: they are copied from the controls before every use. Unequal fingerprints
        prove nothing either way (a set's order, a shared object pickled twice)."""
        state = {name: value for name, value in vars(self).items()
                 if name not in ("spec", "_risk")}
        state["_risk"] = self._risk.peak_nav
        state["strategy"] = (type(self.strategy).__qualname__, vars(self.strategy))
        return hashlib.sha256(pickle.dumps(state, protocol=5)).digest()

    def intent(self, intent: OrderIntent, decision_seq: int, seq: int) -> IntentEntry:
        """The OrderIntent entry for ``intent`` journaled at ``seq``."""
        return IntentEntry(intent=intent, client_order_id=self.spec.client_order_id(seq),
                           decision=decision_seq)

    def placed(self, entry: IntentEntry) -> PlacedOrder:
        """The order an intent entry sends."""
        target = self.working.working.get(entry.intent.cancels or "")
        return PlacedOrder(client_order_id=entry.client_order_id, intent=entry.intent,
                           market=self.spec.markets[entry.intent.symbol],
                           known_fills=target.fill_ids if target is not None else ())

    def outcome(self, index: int, order: PlacedOrder) -> list[Event] | None:
        """The events of the wake's ``index``-th order where they follow from the journal:
        not sent (an earlier order's fate is unknown), a risk rejection, or paper fills.
        None: only the exchange can say (live)."""
        coid = order.client_order_id
        if self.unknown is not None:
            return [entry(OrderRejected(
                client_order_id=coid, source="adapter",
                reason=f"not sent: the fate of order {self.unknown} is unknown, and it is "
                       "settled with the exchange first"))]
        if order.intent.order_type == "cancel":  # never refused by a risk limit
            return cancel(order, self.working) if self.fills is not None else None
        risk = self._risk
        risk.halted, risk.killed = self.controls.halted, self.controls.killed
        fired = check(self.spec.risk, risk, self.ledger, order.intent, index)
        if fired is not None:
            return [entry(OrderRejected(client_order_id=coid, limit=fired[0], reason=fired[1],
                                        source="risk"))]
        if self.fills is not None:
            return self.fills.submit(order, self.ledger.view())
        return None

    def valuation(self, at: datetime) -> Valuation:
        """The Valuation of a valuation point at ``at`` (books as they stand)."""
        if self.register is None:
            raise RuntimeError(f"{self.spec.actor_id} keeps no investor accounts")
        return Valuation(**self.register.value(at, self.ledger.nav(), self.ledger.cash))

    def end(self) -> End:
        """The End entry: the books as they stand."""
        ledger = self.ledger
        return End(nav=ledger.nav(), cash=ledger.cash, fees=ledger.fees_paid,
                   fills=ledger.fills,
                   positions={s: p.amount for s, p in ledger.positions.items() if p.amount},
                   open_orders=self.working.open_orders())

    def decide(self) -> tuple[Decision, str]:
        """Run the handler for the current wake; return the decision and its payload text.

        A handler that raises, returns an invalid decision or an unencodable reason gives
        an ``error`` decision with no orders and keeps its previous state. One that tries
        I/O gives the same, and ``purity_error`` says what it tried: the runtime records
        that decision and then stops the actor.
        """
        if self.wake_time is None:
            raise RuntimeError("decide() before any wake")
        ctx = Context(actor_id=self.spec.actor_id, time=self.wake_time, wake_seq=self.wake_seq,
                      observations=self.observations, portfolio=self.ledger.view(),
                      markets=self.spec.markets, terms=self.spec.terms,
                      cash_required=self.register.cash_required() if self.register else None,
                      orders=self.working.working)
        self.purity_error = None
        try:
            with pure():
                state, decision = self.strategy.on_wake(self.state, ctx)
            self._check(decision)
            text = dumps(decision.to_payload())
        except PurityError as exc:
            self.purity_error = str(exc)
            return self._error(exc)
        except Exception as exc:  # noqa: BLE001 - a failing handler must not stop the fund
            return self._error(exc)
        self.state = state
        return decision, text

    def _check(self, decision: Decision) -> None:
        if not isinstance(decision, Decision):
            raise TypeError(f"handler returned {type(decision).__name__}, not Decision")
        for intent in decision.intents:
            if intent.symbol not in self.spec.markets:
                raise ValueError(f"intent for {intent.symbol}, not one of the actor's markets")
            if not isinstance(intent.amount, Decimal) or not intent.amount > 0:
                raise ValueError(f"intent amount {intent.amount!r} must be a positive Decimal")
            if intent.side not in ("buy", "sell"):
                raise ValueError(f"intent side {intent.side!r} must be buy or sell")
            _check_type(intent)

    @staticmethod
    def _error(exc: BaseException) -> tuple[Decision, str]:
        decision = Decision(rule="error", reasons={"error": f"{type(exc).__name__}: {exc}"})
        return decision, dumps(decision.to_payload())


def _check_type(intent: OrderIntent) -> None:
    """Refuse an intent whose type lacks what it needs (or carries what it cannot use)."""
    kind, tif = intent.order_type, intent.time_in_force
    needs = {"limit": ("limit_price",), "stop_market": ("stop_price",),
             "stop_limit": ("stop_price", "limit_price"), "cancel": ("cancels",)}
    if kind not in ("market", *needs):
        raise ValueError(f"intent type {kind!r} is not market, limit, stop_market, "
                         "stop_limit or cancel")
    for name in needs.get(kind, ()):
        if getattr(intent, name) is None:
            raise ValueError(f"a {kind} intent needs {name}")
    if tif is not None and (kind != "limit" or tif not in ("IOC", "FOK", "GTC", "PO")):
        raise ValueError(f"time_in_force {tif!r}: only a limit takes one (IOC, FOK, GTC "
                         "or PO)")
