"""An actor's identity (spec) and its deterministic core, shared by runtime and verify.

:class:`ActorCore` consumes decoded journal payloads in order and, at each wake, runs the
strategy handler on what it has consumed. The runtime drives it while writing the
journal; ``fund verify`` drives it while reading one. Same inputs, same code, same core:
the decisions must come out byte-identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from fund import __version__
from fund.accounting.register import Register, Request
from fund.accounting.spec import REDEMPTION, SUBSCRIPTION, VALUATION, AccountingSpec
from fund.canonical import dumps, parse_ts
from fund.ledger import Ledger
from fund.markets import Market
from fund.messages import (
    CONTROL,
    HALT,
    OBSERVATION,
    WAKE,
    Decision,
    Observation,
    OrderIntent,
    client_order_id,
    parse_prices,
)
from fund.purity import PurityError, pure
from fund.risk import NO_LIMITS, RiskLimits, RiskState, assess, check
from fund.strategy import (
    Context,
    FundTerms,
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

    def start_payload(self) -> dict[str, Any]:
        """Return the Start entry: everything a replay needs to rebuild this actor."""
        cls = strategy_class(self.strategy)
        extra: dict[str, Any] = {"accounting": self.accounting.to_payload()} \
            if self.accounting else {}
        if self.instance is not None:
            extra["instance"] = self.instance
        return {**extra,
            "actor": self.actor_id, "strategy": self.strategy,
            "params": params_payload(self.params), "cron": self.cron, "mode": self.mode,
            "quote": self.terms.quote, "fee_rate": self.terms.fee_rate,
            "slippage_bps": self.terms.slippage_bps,
            "markets": [m.to_payload() for m in self.markets.values()],
            "risk": self.risk.to_payload(),
            "oracles": [{"name": o.name, "kind": o.kind, "options": dict(o.options)}
                        for o in cls(self.params).oracles()],
            "code": {"agentfund": __version__, "strategy_source": source_hash(cls)},
        }

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
                            slippage_bps=Decimal(payload["slippage_bps"])),
            markets=markets, mode=payload["mode"],
            risk=TypeAdapter(RiskLimits).validate_python(payload.get("risk") or {}),
            accounting=AccountingSpec.from_payload(payload["accounting"])
            if payload.get("accounting") else None,
            instance=payload.get("instance"),
        )

    def client_order_id(self, intent_seq: int) -> str:
        """The client order id of the intent at ``intent_seq`` in this actor's stream."""
        return client_order_id(self.actor_id, intent_seq, self.instance)


class ActorCore:
    """Strategy state and books, advanced by journal payloads; runs the handler at wakes."""

    def __init__(self, spec: ActorSpec) -> None:
        self.spec = spec
        self.strategy: Strategy[Any, Any] = strategy_class(spec.strategy)(spec.params)
        self.state: Any = self.strategy.initial_state()
        self.ledger = Ledger(quote=spec.terms.quote)
        self.risk = RiskState()
        self.paused = False
        self.wake_seq = 0
        self.wake_time: datetime | None = None
        self.observations: dict[str, Observation] = {}
        self.last_observations: dict[str, Observation] = {}
        self.purity_error: str | None = None
        self.register = Register(terms=spec.accounting.terms) if spec.accounting else None

    def apply(self, seq: int, kind: str, payload: Mapping[str, Any]) -> None:
        """Consume one decoded journal payload."""
        if kind == WAKE:
            self.wake_seq = seq
            self.wake_time = parse_ts(payload["scheduled"])
            # "since the last wake" means since the last one that got data
            self.last_observations.update((k, v) for k, v in self.observations.items() if v.ok)
            self.observations = {}
        elif kind == HALT:
            self.risk.halted = True
        elif kind == CONTROL:
            command = payload["command"]
            if command == "kill":
                self.risk.killed = True
            elif command == "pause":
                self.paused = True
            elif command == "resume":
                self.risk.killed = self.paused = False
        elif kind == OBSERVATION:
            data = payload.get("data")
            prices = parse_prices(data)
            self.observations[payload["oracle"]] = Observation(
                oracle=payload["oracle"], seq=seq, as_of=parse_ts(payload["as_of"]),
                data=data, error=payload.get("error"), prices=prices)
            if prices:
                self.ledger.prices.update(prices)
            self.ledger.observe_books(data)  # the paper adapter walks them (verify too)
            return
        elif kind in (SUBSCRIPTION, REDEMPTION) and self.register is not None:
            self.register.request(Request.from_payload({
                **payload, "seq": seq,
                "kind": "subscribe" if kind == SUBSCRIPTION else "redeem"}))
        elif kind == VALUATION and self.register is not None:
            self.register.apply(payload)
        self.ledger.apply(kind, payload)

    def valuation(self, at: datetime) -> dict[str, Any]:
        """The Valuation payload of a valuation point at ``at`` (books as they stand)."""
        if self.register is None:
            raise RuntimeError(f"{self.spec.actor_id} keeps no investor accounts")
        return self.register.value(at, self.ledger.nav(), self.ledger.cash)

    def assess_risk(self) -> dict[str, Any] | None:
        """After a wake's observations: track the NAV peak; a Halt payload if one is due."""
        return assess(self.spec.risk, self.risk, self.ledger.nav())

    def risk_rejection(self, intent: OrderIntent, index: int,
                       client_order_id: str) -> dict[str, Any] | None:
        """The OrderRejected payload for an order a risk limit stops, else None."""
        fired = check(self.spec.risk, self.risk, self.ledger, intent, index)
        if fired is None:
            return None
        return {"client_order_id": client_order_id, "limit": fired[0], "reason": fired[1],
                "source": "risk"}

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
                      cash_required=self.register.cash_required() if self.register else None)
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

    @staticmethod
    def _error(exc: BaseException) -> tuple[Decision, str]:
        decision = Decision(rule="error", reasons={"error": f"{type(exc).__name__}: {exc}"})
        return decision, dumps(decision.to_payload())
