"""The actor runtime: one wake = record inputs, run the handler, record and send orders.

All I/O of a wake happens here (through oracles and the adapter), and every result is
appended to the journal and decoded back *from the journal* before the handler or the
books see it. What the handler sees live is therefore exactly what a replay feeds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import copy_context
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from agentfund.oracles.base import Oracle, OracleError, Recorded
from fund.accounting.spec import REDEMPTION, SUBSCRIPTION, VALUATION
from fund.actor import ActorCore, ActorSpec, HandlerPurityError
from fund.canonical import format_ts, loads
from fund.clock import Clock
from fund.exchange.base import Adapter, PlacedOrder
from fund.journal import Entry, JournalWriter
from fund.messages import (
    CONTROL,
    DECISION,
    DEPOSIT,
    END,
    FILL,
    HALT,
    OBSERVATION,
    ORDER_ACK,
    ORDER_INTENT,
    ORDER_REJECTED,
    START,
    WAKE,
)
from fund.money import standard

_CORE_KINDS = frozenset({START, DEPOSIT, WAKE, OBSERVATION, FILL, ORDER_ACK, ORDER_REJECTED,
                         HALT, CONTROL, SUBSCRIPTION, REDEMPTION, VALUATION})


class ActorRuntime:
    """Runs one actor: its journal stream, its oracles, its exchange adapter and its clock."""

    def __init__(self, *, spec: ActorSpec, writer: JournalWriter, oracles: Mapping[str, Oracle],
                 adapter: Adapter, clock: Clock, wake_budget: timedelta | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """``wake_budget``: how long a wake's observations may take in all (the daemon's
        ``wake_budget_s``); an oracle that has not answered when it is spent is recorded as
        failed and the wake goes on. None (backtests) calls oracles directly."""
        self.spec = spec
        self.writer = writer
        self.oracles = dict(oracles)
        self.adapter = adapter
        self.clock = clock
        self._core: ActorCore | None = None
        self.ambiguous = False  # an order's fate is unknown: reconcile before going on
        self.wake_budget = wake_budget
        self._monotonic = monotonic
        self._deadline = 0.0
        self._pool: ThreadPoolExecutor | None = None
        self._late: dict[str, Future[Any]] = {}  # oracles cut off by the budget, still running

    @property
    def core(self) -> ActorCore:
        """The actor's deterministic core (available after :meth:`open`)."""
        if self._core is None:
            raise RuntimeError("ActorRuntime.open() must be called first")
        return self._core

    @standard
    def open(self, initial_cash: Decimal) -> None:
        """Start a new stream (Start and Deposit entries) or resume an existing one.

        The actor is always rebuilt from the *journaled* Start entry, exactly as a replay
        rebuilds it, so live and replay cannot differ in how they read the configuration.
        """
        if self.writer.last_seq == 0:
            ts = format_ts(self.clock.now())
            start = self.writer.append(START, ts, self.spec.start_payload())
            self._core = ActorCore(ActorSpec.from_start(loads(start.payload)))
            accounting = self.core.spec.accounting
            if initial_cash and accounting is not None:  # the seed money buys the first units
                self._record(SUBSCRIPTION, ts, {"investor": accounting.seed_investor,
                                                "amount": initial_cash, "requested": ts,
                                                "reason": "initial capital"})
                self._record(VALUATION, ts, self.core.valuation(self.clock.now()))
            elif initial_cash:
                self._record(DEPOSIT, ts, {"amount": initial_cash,
                                           "currency": self.spec.terms.quote,
                                           "reason": "initial capital"})
            return
        self._resume()

    def reload(self) -> None:
        """Forget everything not stored and rebuild the actor from its stored stream.

        After a failed journal write the in-memory core is ahead of the journal (it folded
        entries that were lost with the batch): this puts it back level with the journal,
        which is what a replay will see.
        """
        self.writer.discard()
        self._core = None
        self.ambiguous = False
        self._resume()

    def _resume(self) -> None:
        """Fold the stored stream into a core rebuilt from its Start entry."""
        assessed = True
        for entry in self.writer.journal.read(self.writer.process_id):
            if entry.kind == START:
                self._core = ActorCore(ActorSpec.from_start(loads(entry.payload)))
                continue
            # rebuild what is not in the payloads the way verify does: the NAV peak and the
            # handler's own state (a strategy's window of past wakes) by deciding again
            if entry.kind in (HALT, DECISION) and not assessed:
                self.core.assess_risk()
                assessed = True
            if entry.kind == DECISION:
                self.core.decide()
            elif entry.kind in _CORE_KINDS:
                assessed = assessed and entry.kind != WAKE
                self.core.apply(entry.seq, entry.kind, loads(entry.payload))

    @standard
    def wake(self, scheduled: datetime) -> None:
        """Run one wake: Wake, Observations, Decision, OrderIntents, then the orders."""
        now = self.clock.now()
        ts = format_ts(now)
        at = ts if scheduled == now else format_ts(scheduled)
        if self.wake_budget is not None:
            self._deadline = self._monotonic() + self.wake_budget.total_seconds()
        self._record(WAKE, ts, {"scheduled": at})
        for name, oracle in self.oracles.items():
            self._record(OBSERVATION, ts, self._observe(name, oracle, scheduled, at, ts))
        halt = self.core.assess_risk()
        if halt is not None:
            self._record(HALT, ts, halt)
        decision, text = self.core.decide()
        decision_entry = self.writer.append_text(DECISION, ts, text)
        if self.core.purity_error:
            self.writer.flush()
            raise HandlerPurityError(f"{self.spec.actor_id}: entry {decision_entry.seq}: "
                                     f"{self.core.purity_error}")
        orders = []
        for intent in decision.intents:
            coid = self.core.spec.client_order_id(self.writer.last_seq + 1)
            payload = intent.to_payload()
            payload["client_order_id"] = coid
            payload["decision"] = decision_entry.seq
            self.writer.append(ORDER_INTENT, ts, payload)
            orders.append(PlacedOrder(client_order_id=coid, intent=intent,
                                      market=self.core.spec.markets[intent.symbol]))
        if orders and self.adapter.durable_intents:
            self.writer.flush()
        self._send(orders)

    def _send(self, orders: list[PlacedOrder]) -> None:
        """Risk-check and submit each order; after one of unknown fate, send no more."""
        unknown: str | None = None
        for index, order in enumerate(orders):
            coid = order.client_order_id
            rejection = self.core.risk_rejection(order.intent, index, coid)
            if unknown is not None:
                events = [(ORDER_REJECTED, {
                    "client_order_id": coid, "source": "adapter",
                    "reason": f"not sent: the fate of order {unknown} is unknown, and it is "
                              "settled with the exchange first"})]
            elif rejection is not None:
                events = [(ORDER_REJECTED, rejection)]
            else:
                events = self.adapter.submit(order, self.core.ledger.view())
            for kind, event in events:
                self._record(kind, format_ts(self.clock.now()), event)
                if kind == ORDER_REJECTED and event.get("ambiguous"):
                    unknown = coid

    @standard
    def request(self, kind: str, investor: str, *, amount: Decimal | None = None,
                units: Decimal | None = None, **note: Any) -> Entry:
        """Record an investor's subscription (an amount) or redemption (units or an amount),
        to be dealt at the next valuation point."""
        if self.core.register is None:
            raise ValueError(f"{self.spec.actor_id} keeps no investor accounts (set "
                             "[accounting] in its config)")
        if kind not in (SUBSCRIPTION, REDEMPTION):
            raise ValueError(f"{kind!r} is not a subscription or a redemption")
        ts = format_ts(self.clock.now())
        payload: dict[str, Any] = {"investor": investor, "requested": ts, **note}
        if amount is not None:
            payload["amount"] = amount
        if units is not None:
            payload["units"] = units
        entry = self._record(kind, ts, payload)
        self.writer.flush()
        return entry

    @standard
    def value(self, at: datetime) -> Entry:
        """A valuation point: price the books now (fresh price observations), then charge
        fees and deal the requests made up to ``at``."""
        ts = format_ts(self.clock.now())
        for name in self.price_oracles:
            self._record(OBSERVATION, ts, self._observe(name, self.oracles[name], at,
                                                        format_ts(at), ts))
        entry = self._record(VALUATION, ts, self.core.valuation(at))
        self.writer.flush()
        return entry

    @property
    def price_oracles(self) -> list[str]:
        """The oracles that price the books (observed again at a valuation point)."""
        kinds = {o.name: o.kind for o in self.core.strategy.oracles()}
        return [name for name in self.oracles if kinds.get(name) in ("prices", "ohlcv")]

    @standard
    def record(self, kind: str, payload: dict[str, Any]) -> Entry:
        """Journal an event that arrived outside a wake (reconciliation) and fold it in."""
        return self._record(kind, format_ts(self.clock.now()), payload)

    @standard
    def control(self, command: str, reason: str, **extra: Any) -> Entry:
        """Record an operator command: ``kill`` (reject every order), ``pause`` (skip
        wakes) or ``resume`` (undo both)."""
        if command not in ("kill", "pause", "resume"):
            raise ValueError(f"unknown control command {command!r} (kill, pause or resume)")
        entry = self._record(CONTROL, format_ts(self.clock.now()),
                             {"command": command, "reason": reason, **extra})
        self.writer.flush()
        return entry

    @standard
    def finish(self, at: datetime) -> Entry:
        """Record the last observations, as of ``at``, then append the End entry.

        Prices mark the books. Any other oracle is recorded only when it carries something
        (``items``: news published after the last wake, and the sentiment derived from
        it), so the journal holds every input of the period though nothing decides on it;
        a failure, or nothing new, is not recorded. As at a wake, each oracle sees the
        last wake's observations as its previous ones and this round's recorded so far.
        """
        ts, as_of = format_ts(self.clock.now()), format_ts(at)
        core = self.core
        last = {**core.last_observations, **{n: o for n, o in core.observations.items() if o.ok}}
        done: list[str] = []
        for name, oracle in self.oracles.items():
            recorded = Recorded(this_wake={n: core.observations[n] for n in done}, last=last)
            try:
                data = oracle.observe(at, self.writer, recorded)
            except Exception:  # noqa: BLE001 - nothing to record: the books stay marked
                continue
            if data.get("prices") or data.get("items"):
                self._record(OBSERVATION, ts, {"oracle": name, "as_of": as_of, "data": data})
                done.append(name)
        ledger = self.core.ledger
        end = self._record(END, ts, {
            "nav": ledger.nav(), "cash": ledger.cash, "fees": ledger.fees_paid,
            "fills": ledger.fills,
            "positions": {s: p.amount for s, p in ledger.positions.items() if p.amount},
        })
        self.writer.flush()
        return end

    def _observe(self, name: str, oracle: Oracle, at: datetime, as_of: str,
                 ts: str) -> dict[str, Any]:
        """One oracle's Observation payload; ``received`` says when its answer arrived,
        when that is later than the entry's time (never in a backtest)."""
        recorded = Recorded(this_wake=self.core.observations, last=self.core.last_observations)
        payload: dict[str, Any] = {"oracle": name, "as_of": as_of}
        try:
            if self.wake_budget is None:
                payload["data"] = oracle.observe(at, self.writer, recorded)
            else:
                payload["data"] = self._within_budget(name, oracle, at, recorded)
        except Exception as exc:  # noqa: BLE001 - any oracle failure is recorded, not raised
            payload["error"] = f"{type(exc).__name__}: {exc}"
        received = format_ts(self.clock.now())
        if received != ts:
            payload["received"] = received
        return payload

    def _within_budget(self, name: str, oracle: Oracle, at: datetime,
                       recorded: Recorded) -> Any:
        """Call the oracle in a worker thread and wait at most what is left of the wake's
        budget; bodies it stores are kept only if it answers in time."""
        assert self.wake_budget is not None
        budget = self.wake_budget.total_seconds()
        late = self._late.get(name)
        if late is not None and not late.done():
            raise OracleError(f"its call of an earlier wake, cut off by the wake budget of "
                              f"{budget:g} s, has not returned yet")
        remaining = self._deadline - self._monotonic()
        if remaining <= 0:
            raise OracleError(f"the wake budget of {budget:g} s was spent before it ran")
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=max(len(self.oracles), 1),
                                            thread_name_prefix=f"oracles-{self.spec.actor_id}")
        blobs = _Blobs()
        context = copy_context()  # the Decimal context (and the rest) of the wake
        future = self._pool.submit(context.run, oracle.observe, at, blobs, recorded)
        try:
            data = future.result(timeout=remaining)
        except FutureTimeout:
            self._late[name] = future
            raise OracleError(f"no answer within the wake budget of {budget:g} s") from None
        for body in blobs.bodies:
            self.writer.put_blob(body)
        return data

    def _record(self, kind: str, ts: str, payload: dict[str, Any]) -> Entry:
        if kind == ORDER_REJECTED and payload.get("ambiguous"):
            self.ambiguous = True
        entry = self.writer.append(kind, ts, payload)
        if kind in _CORE_KINDS:
            self.core.apply(entry.seq, kind, loads(entry.payload))
        return entry


class _Blobs:
    """Bodies an oracle stores while it runs under a budget: kept only if it answers."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def put_blob(self, data: bytes) -> str:
        from fund.journal.base import blob_digest

        self.bodies.append(data)
        return blob_digest(data)
