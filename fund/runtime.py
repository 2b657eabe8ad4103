"""The actor runtime: the core's decisions, with the world's inputs and an exchange.

A wake records its inputs (the Wake, each oracle's Observation), then appends what the
actor's core says the wake must write (fund/actor.py: Halt, Decision, OrderIntents) and
sends the orders, recording each one's events: those that follow from the journal come
from the core, the rest from the exchange. Every entry is appended and decoded back *from
the journal* before the core folds it, so what it sees live is what a replay feeds it; and
resuming replays the stored stream (fund/replay.py) the way ``fund verify`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from agentfund.oracles.base import Oracle, Recorded
from agentfund.oracles.kinds import prices
from fund.actor import ActorCore, ActorSpec, HandlerPurityError
from fund.budget import WakeBudget
from fund.canonical import format_ts, loads
from fund.clock import Clock
from fund.exchange.base import Adapter, answers
from fund.journal import Entry, JournalWriter
from fund.messages import (
    DECISION,
    EXCHANGE_EVENTS,
    OBSERVATION,
    START,
    WAKE,
    Control,
    Deposit,
    Observed,
    Payload,
    Request,
    Subscription,
    Wake,
)
from fund.money import standard
from fund.reconcile import poll
from fund.replay import Replayer


class ActorRuntime:
    """Runs one actor: its journal stream, its oracles, its exchange adapter and its clock."""

    def __init__(self, *, spec: ActorSpec, writer: JournalWriter, oracles: Mapping[str, Oracle],
                 adapter: Adapter, clock: Clock, wake_budget: timedelta | None = None) -> None:
        """``wake_budget``: how long a wake's observations may take in all (the daemon's
        ``wake_budget_s``, fund/budget.py); None (backtests) calls oracles directly."""
        self.spec = spec
        self.writer = writer
        self.oracles = dict(oracles)
        self.adapter = adapter
        self.clock = clock
        self.budget = WakeBudget(wake_budget, name=f"oracles-{spec.actor_id}") \
            if wake_budget is not None else None
        self._core: ActorCore | None = None
        self.ambiguous = False  # an order's fate is unknown: reconcile before going on

    @property
    def core(self) -> ActorCore:
        """The actor's deterministic core (available after :meth:`open`)."""
        if self._core is None:
            raise RuntimeError("ActorRuntime.open() must be called first")
        return self._core

    @standard
    def open(self, initial_cash: Decimal) -> None:
        """Start a new stream (Start and the initial capital) or resume an existing one.

        The actor is always rebuilt from the *journaled* Start entry, exactly as a replay
        rebuilds it, so live and replay cannot differ in how they read the configuration.
        """
        if self.writer.last_seq:
            self._resume()
            return
        ts = format_ts(self.clock.now())
        start = self.writer.append(START, ts, self.spec.start_payload().to_payload())
        self._core = ActorCore(ActorSpec.from_start(loads(start.payload)))
        accounting = self.core.spec.accounting
        if initial_cash and accounting is not None:  # the seed money buys the first units
            self._record(Subscription(investor=accounting.seed_investor, amount=initial_cash,
                                      requested=ts, reason="initial capital"), ts)
            self._record(self.core.valuation(self.clock.now()), ts)
        elif initial_cash:
            self._record(Deposit(amount=initial_cash, currency=self.spec.terms.quote,
                                 reason="initial capital"), ts)

    def reload(self) -> None:
        """Forget everything not stored and rebuild the actor from its stored stream: after
        a failed write the core had folded entries the journal lost."""
        self.writer.discard()
        self._core = None
        self.ambiguous = False
        self._resume()

    @standard  # (reload is called outside a wake: the thread's context may be anything)
    def _resume(self) -> None:
        replay = Replayer(strict=False)
        for entry in self.writer.journal.read(self.writer.process_id):
            replay.feed(entry, loads(entry.payload))
        self._core = replay.core

    @standard
    def wake(self, scheduled: datetime) -> None:
        """Run one wake: Wake, Observations, then what the core decides, then the orders."""
        now = self.clock.now()
        ts = format_ts(now)
        at = ts if scheduled == now else format_ts(scheduled)
        if self.budget is not None:
            self.budget.start()
        self._append(WAKE, ts, Wake.encode(at))
        for name, oracle in self.oracles.items():
            self._append(OBSERVATION, ts, self._observe(name, oracle, scheduled, at, ts, now))
        core = self.core
        for kind, event in core.resting():  # resting orders filled by the candles since
            self._append(kind, ts, event)
        if core.fills is None and core.working.working and self.adapter.capabilities.lookup \
                and not poll(core.working.working.values(), self.adapter,  # type: ignore[arg-type]
                             self.record):
            self.ambiguous = True  # the exchange could not say: reconcile after the wake
        plan = core.plan()
        if plan.halt is not None:
            self._record(plan.halt, ts)
        decision = self.writer.append_text(DECISION, ts, plan.text)
        if core.purity_error:
            self.writer.flush()
            raise HandlerPurityError(f"{self.spec.actor_id}: entry {decision.seq}: "
                                     f"{core.purity_error}")
        orders = []
        for intent in plan.decision.intents:
            placed = core.intent(intent, decision.seq, self.writer.last_seq + 1)
            self._append(placed.KIND, ts, placed.to_payload())  # folded: a resting order
            orders.append(core.placed(placed))
        if orders and self.adapter.capabilities.durable_intents:
            self.writer.flush()
        for index, order in enumerate(orders):
            events = core.outcome(index, order)
            for kind, event in events if events is not None else \
                    self.adapter.submit(order, core.ledger.view()):
                self.record(kind, event)

    @standard
    def request(self, request: Request) -> Entry:
        """Record an investor's subscription or redemption, dealt at the next valuation
        point."""
        if self.core.register is None:
            raise ValueError(f"{self.spec.actor_id} keeps no investor accounts (set "
                             "[accounting] in its config)")
        entry = self._record(request, format_ts(self.clock.now()))
        self.writer.flush()
        return entry

    @standard
    def value(self, at: datetime) -> Entry:
        """A valuation point: price the books now (fresh price observations), then charge
        fees and deal the requests made up to ``at``."""
        now = self.clock.now()
        ts = format_ts(now)
        for name, oracle in self.oracles.items():
            if self._prices(name):
                self._append(OBSERVATION, ts, self._observe(name, oracle, at, format_ts(at), ts,
                                                            now))
        entry = self._record(self.core.valuation(at), ts)
        self.writer.flush()
        return entry

    @standard
    def record(self, kind: str, payload: Mapping[str, Any]) -> Entry:
        """Journal an event that arrived outside a wake (an exchange's, reconciliation's)
        and fold it in; the exchange's raw answers it carries become blobs of this actor's
        writer, in the same batch, their digests listed under ``raw``."""
        if kind in EXCHANGE_EVENTS and payload.get("ambiguous"):
            self.ambiguous = True
        heard = answers(payload)
        if heard:
            payload = {**payload, "raw": [self.writer.put_blob(body) for body in heard]}
        return self._append(kind, format_ts(self.clock.now()), payload)

    @standard
    def command(self, applied: Control | Deposit) -> Entry:
        """Record an operator's command as applied: a Control (``kill`` rejects every order,
        ``pause`` skips wakes, ``resume`` undoes both; or ``rejected``) or a Deposit."""
        entry = self._record(applied, format_ts(self.clock.now()))
        self.writer.flush()
        return entry

    def _prices(self, name: str) -> bool:
        return prices(self.core.spec.oracle(name))

    def _observe(self, name: str, oracle: Oracle, at: datetime, as_of: str, ts: str,
                 stamped: datetime) -> dict[str, Any]:
        """One oracle's Observation; ``received`` says when its answer arrived, when that
        is later than the entry's time ``ts`` (of ``stamped``; never in a backtest)."""
        recorded = Recorded(this_wake=self.core.observations, last=self.core.last_observations)
        data = error = None
        try:
            data = oracle.observe(at, self.writer, recorded) if self.budget is None else \
                self.budget.observe(name, oracle, at, self.writer, recorded)
        except Exception as exc:  # noqa: BLE001 - any oracle failure is recorded, not raised
            error = f"{type(exc).__name__}: {exc}"
        now = self.clock.now()
        received = None if now == stamped else format_ts(now)  # ``ts`` is ``stamped``'s text
        return Observed.encode(name, as_of, data, error, received if received != ts else None)

    def recorded(self, payload: Payload) -> Entry:
        """Append a payload the caller built (the end of a backtest) at the clock's time."""
        return self._record(payload, format_ts(self.clock.now()))

    def _record(self, payload: Payload, ts: str) -> Entry:
        return self._append(payload.KIND, ts, payload.to_payload())

    def _append(self, kind: str, ts: str, payload: Mapping[str, Any]) -> Entry:
        entry = self.writer.append(kind, ts, payload)
        if kind != START:
            self.core.apply(entry.seq, kind, loads(entry.payload))
        return entry
