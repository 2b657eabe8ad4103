"""One actor, for any mode: built from (spec, journal, clock, oracle sources, adapter), and
its timeline's steps carried out the same way whoever drives it.

The backtest engine builds a node with historical sources and the paper adapter and steps
a simulated clock through its timeline; the daemon builds one with live sources and the
paper or ccxt adapter and lets APScheduler say when to look at the timeline. Backtest,
paper and live differ in nothing else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from agentfund.oracles.base import Oracle, Recorded
from agentfund.oracles.kinds import History, Live, build, no_history
from fund.actor import ActorSpec
from fund.canonical import format_ts
from fund.clock import Clock
from fund.exchange.base import Adapter
from fund.journal import Entry, Journal, JournalWriter
from fund.messages import MissedWake, Observed, Redemption, Subscription
from fund.money import standard
from fund.runtime import ActorRuntime
from fund.strategy import strategy_class
from fund.timeline import Step, Timeline

MISSED_POLICY = "run the latest due wake within {grace}, record the others as missed"


def refusals(spec: ActorSpec) -> list[str]:
    """Why a backtest cannot run this actor's strategy (live-only oracles), one per line,
    each with the parameter that switches the oracle off, where one does."""
    found = []
    for oracle in spec.declared():
        reason = no_history(oracle)
        if reason:
            found.append(f"actors.{spec.actor_id}: {reason}{_switch(spec, oracle.name)}")
    return found


def _switch(spec: ActorSpec, oracle: str) -> str:
    """``; set actors.A.params.P = 0`` for the first whole-number or true parameter whose
    zero (false) makes the strategy stop declaring ``oracle``; empty when none does."""
    params, cls = spec.params, strategy_class(spec.strategy)
    for field in dataclasses.fields(params):
        value = getattr(params, field.name)
        if not isinstance(value, int) or not value:
            continue
        off = False if isinstance(value, bool) else 0
        try:
            declared = cls(dataclasses.replace(params, **{field.name: off})).oracles()
        except Exception:  # noqa: BLE001 - a parameter that cannot be zero is no switch
            continue
        if all(o.name != oracle for o in declared):
            shown = "false" if off is False else "0"
            return f"; set actors.{spec.actor_id}.params.{field.name} = {shown}"
    return ""


def build_runtime(spec: ActorSpec, journal: Journal, *, clock: Clock, sources: History | Live,
                  adapter: Adapter, wake_budget: timedelta | None = None,
                  oracles: Mapping[str, Oracle] | None = None,
                  on_stored: Callable[[Sequence[Entry]], None] | None = None,
                  behind: bool = False, fold_behind: str = "") -> ActorRuntime:
    """An actor's runtime on its own stream of the journal, with the oracles its strategy
    declares built from ``sources`` (raises OracleError naming one that cannot be), unless
    they were built already. ``on_stored``, ``behind`` and ``fold_behind``: the writer's
    (each stored batch's entries; full batches stored, and folded, by a helper process,
    for a backtest)."""
    if oracles is None:
        oracles = build(spec.declared(), tuple(spec.markets), sources)
    return ActorRuntime(spec=spec, writer=JournalWriter(journal, spec.actor_id,
                                                        on_stored=on_stored, behind=behind,
                                                        fold_behind=fold_behind),
                        oracles=oracles, adapter=adapter, clock=clock, wake_budget=wake_budget)


@dataclass(slots=True)
class Node:
    """An actor's runtime and timeline."""

    runtime: ActorRuntime
    timeline: Timeline

    def run(self, step: Step, *, hold: str | None = None) -> Entry | None:
        """Carry out one step. ``hold``: why the actor may not wake now (paused, orders of
        unknown fate): a wake is then recorded as missed, with that reason."""
        runtime = self.runtime
        if step.kind == "wake" and hold is None:
            runtime.wake(step.at)
            return None
        if step.kind == "flow":
            return runtime.request(_request(step.flow, format_ts(runtime.clock.now())))
        if step.kind == "valuation":
            return runtime.value(step.at)
        times = step.missed or (step.at,)
        reason = hold or "the daemon was not running, or the wake came later than the grace"
        return self.missed(times, reason)

    @standard
    def finish(self, at: datetime) -> Entry:
        """End a backtest: the last observations, as of ``at``, then the End entry.

        Prices mark the books. Any other oracle is recorded only when it carries something
        (``items``: news published after the last wake, and the sentiment derived from
        it), so the journal holds every input of the period though nothing decides on it;
        a failure, or nothing new, is not recorded. As at a wake, each oracle sees the
        last wake's observations as its previous ones and this round's recorded so far.
        """
        runtime = self.runtime
        core, as_of = runtime.core, format_ts(at)
        last = {**core.last_observations, **{n: o for n, o in core.observations.items() if o.ok}}
        done: list[str] = []
        for name, oracle in runtime.oracles.items():
            recorded = Recorded(this_wake={n: core.observations[n] for n in done}, last=last)
            try:
                data = oracle.observe(at, runtime.writer, recorded)
            except Exception:  # noqa: BLE001 - nothing to record: the books stay marked
                continue
            if data.get("prices") or data.get("items"):
                runtime.recorded(Observed(oracle=name, as_of=as_of, data=data))
                done.append(name)
        end = runtime.recorded(core.end())
        runtime.writer.flush()
        # as stored: a writer storing behind chains its entries there (fund.journal.writer)
        return runtime.writer.stored_head or end

    def missed(self, times: Sequence[datetime], reason: str) -> Entry:
        """Record wakes that did not run, and why."""
        runtime = self.runtime
        grace = self.timeline.grace
        entry = runtime.writer.append(MissedWake.KIND, format_ts(runtime.clock.now()), MissedWake(
            first=format_ts(times[0]), last=format_ts(times[-1]), count=len(times),
            reason=reason, policy=MISSED_POLICY.format(grace=grace)).to_payload())
        runtime.writer.flush()
        return entry


def timeline(spec: ActorSpec, wakes: Iterable[datetime], *, valuations: Iterable[datetime] = (),
             flows: Sequence[Any] = (), grace: timedelta | None = None) -> Timeline:
    """The actor's timeline (valuation points only for a fund with investor accounts)."""
    return Timeline(wakes, valuations=valuations if spec.accounting else (),
                    flows=flows, grace=grace)


def _request(flow: Any, requested: str) -> Subscription | Redemption:
    """An investor's flow (a backtest's config, or an operator's command) as a request."""
    cls = Subscription if flow.kind == "subscribe" else Redemption
    return cls(investor=flow.investor, requested=requested, amount=flow.amount,
               units=flow.units, reason=flow.reason, command_seq=flow.command_seq,
               by=flow.by)


@dataclass(frozen=True, slots=True)
class Flow:
    """An investor's request to record: from a backtest's config (dated) or a command."""

    at: datetime
    investor: str
    kind: str  # "subscribe" | "redeem"
    amount: Decimal | None = None
    units: Decimal | None = None
    reason: str | None = None
    command_seq: int | None = None
    by: str | None = None
