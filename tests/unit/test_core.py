"""The kernel as deciders: entries in, entries out — the actor's core, the replayer, and
the timeline and node on a simulated clock with an in-memory journal (no sleeping)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fund.actor import ActorCore, ActorSpec
from fund.canonical import dumps, format_ts, loads
from fund.clock import SimulatedClock
from fund.config import load_config
from fund.exchange.base import PlacedOrder
from fund.exchange.paper import PaperAdapter
from fund.journal import JournalWriter
from fund.journal.memory import MemoryJournal
from fund.messages import (
    DECISION,
    FILL,
    HALT,
    MISSED_WAKE,
    ORDER_ACK,
    ORDER_INTENT,
    ORDER_REJECTED,
    VALUATION,
    WAKE,
    Deposit,
    Observed,
    OrderIntent,
    OrderRejected,
    Wake,
    entry,
)
from fund.node import Flow, Node, timeline
from fund.replay import Divergence, Replayer
from fund.risk import RiskLimits
from fund.runtime import ActorRuntime
from fund.timeline import Timeline
from tests.conftest import EXAMPLES

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
H = timedelta(hours=1)
D = Decimal
W1 = EXAMPLES / "rebalance.toml"


def spec(**changes: Any) -> ActorSpec:
    return replace(load_config(W1).actors[0], **changes)


def prices(scale: str = "1") -> dict[str, Any]:
    base = {"BTC/USDT": "40000", "ETH/USDT": "2000", "SOL/USDT": "100", "XRP/USDT": "0.5",
            "DOGE/USDT": "0.1"}
    return {"prices": {s: {"price": str(D(p) * D(scale)), "time": format_ts(T0)}
                       for s, p in base.items()}}


def woken(core: ActorCore, at: datetime, scale: str = "1", seq: int = 10) -> None:
    """Fold a wake and its price observation into the core."""
    core.apply(seq, WAKE, Wake(scheduled=format_ts(at)).to_payload())
    core.apply(seq + 1, "Observation", loads(dumps(Observed(
        oracle="prices", as_of=format_ts(at), data=prices(scale)).to_payload())))


# --- the core decides --------------------------------------------------------------------------

def test_a_wake_plans_a_decision_and_its_intents() -> None:
    core = ActorCore(spec())
    core.apply(2, "Deposit", loads(dumps(Deposit(amount=D(10_000), currency="USDT",
                                                  reason="seed").to_payload())))
    woken(core, T0)

    plan = core.plan()

    assert plan.halt is None
    assert [i.symbol for i in plan.decision.intents] == ["BTC/USDT", "ETH/USDT", "SOL/USDT",
                                                        "XRP/USDT", "DOGE/USDT"]
    assert loads(plan.text)["intents"] == 5
    placed = core.intent(plan.decision.intents[0], 13, 14)
    assert placed.client_order_id == core.spec.client_order_id(14)
    assert loads(dumps(placed.to_payload()))["decision"] == 13


def test_the_drawdown_limit_calls_for_a_halt_once() -> None:
    core = ActorCore(spec(risk=RiskLimits(max_drawdown=D("0.2"))))
    core.apply(2, "Deposit", {"amount": "10000", "currency": "USDT", "reason": "seed"})
    woken(core, T0)
    for n, intent in enumerate(core.plan().decision.intents):  # 90 % of the NAV invested
        for kind, event in core.outcome(n, core.placed(core.intent(intent, 13, 14 + n))) or ():
            core.apply(20 + n, kind, loads(dumps(event)))
    woken(core, T0 + H, scale="0.5", seq=30)  # prices halve: the NAV falls under 80 % of peak

    plan = core.plan()
    assert plan.halt is not None and plan.halt.limit == "max_drawdown"
    core.apply(32, HALT, plan.halt.to_payload())
    woken(core, T0 + 2 * H, scale="0.5", seq=40)
    assert core.plan().halt is None  # recorded once
    assert core.controls.halted


def test_order_outcomes_follow_from_the_journal_where_they_can() -> None:
    core = ActorCore(spec(risk=RiskLimits(max_orders_per_wake=1)))
    core.apply(2, "Deposit", {"amount": "10000", "currency": "USDT", "reason": "seed"})
    woken(core, T0)
    intents = core.plan().decision.intents
    orders = [core.placed(core.intent(i, 13, 14 + n)) for n, i in enumerate(intents)]

    first = core.outcome(0, orders[0])
    second = core.outcome(1, orders[1])

    assert [k for k, _ in first or ()] == [ORDER_ACK, FILL]  # paper: fills are derived
    assert second == [entry(OrderRejected(
        client_order_id=orders[1].client_order_id, limit="max_orders_per_wake",
        reason="order 2 of this wake; at most 1", source="risk"))]


def test_after_an_order_of_unknown_fate_the_wake_sends_no_more() -> None:
    core = ActorCore(spec(mode="live"))
    core.apply(2, "Deposit", {"amount": "10000", "currency": "USDT", "reason": "seed"})
    woken(core, T0)
    intents = core.plan().decision.intents
    orders = [core.placed(core.intent(i, 13, 14 + n)) for n, i in enumerate(intents)]

    assert core.fills is None and core.outcome(0, orders[0]) is None  # live: ask the venue
    core.apply(20, ORDER_REJECTED, {"client_order_id": orders[0].client_order_id,
                                    "reason": "fate unknown", "source": "exchange",
                                    "ambiguous": True})
    [(kind, payload)] = core.outcome(1, orders[1]) or []
    assert kind == ORDER_REJECTED and payload["reason"].startswith("not sent: the fate of")


# --- the replayer: strict for verify, trusting to resume --------------------------------------

def backtest_stream(hours: int = 6) -> tuple[MemoryJournal, str]:
    """A few hourly wakes of W1 on made-up prices, recorded by the real runtime."""
    journal, actor_spec = MemoryJournal(), spec()
    clock = SimulatedClock(T0)

    class Prices:
        name = "prices"

        def observe(self, at: datetime, blobs: Any, recorded: Any = None) -> dict[str, Any]:
            hour = int((at - T0) / H)
            return prices(str(1 + D(hour) / 100 * (-1) ** hour))

    runtime = ActorRuntime(spec=actor_spec, writer=JournalWriter(journal, actor_spec.actor_id),
                           oracles={"prices": Prices()}, clock=clock,  # type: ignore[dict-item]
                           adapter=PaperAdapter(fee_rate=D("0.001"), slippage_bps=D(0)))
    runtime.open(D(10_000))
    for hour in range(hours):
        clock.set_time(T0 + hour * H)
        runtime.wake(T0 + hour * H)
    runtime.writer.flush()
    return journal, actor_spec.actor_id


def test_a_trusting_replay_rebuilds_the_core_a_strict_one_checks_it() -> None:
    journal, actor = backtest_stream()
    strict, trusting = Replayer(strict=True), Replayer(strict=False)

    for item in journal.read(actor):
        strict.feed(item, loads(item.payload))
        trusting.feed(item, loads(item.payload))
    strict.finish(journal.head(actor).seq)  # type: ignore[union-attr]

    assert strict.core is not None and trusting.core is not None
    assert strict.core.ledger.nav() == trusting.core.ledger.nav()
    assert strict.core.peak == trusting.core.peak > 0
    assert strict.core.ledger.fills == trusting.core.ledger.fills > 0


@pytest.mark.parametrize("kind", [DECISION, ORDER_INTENT, FILL])
def test_a_strict_replay_names_the_first_entry_the_core_would_not_write(kind: str) -> None:
    journal, actor = backtest_stream()
    entries = list(journal.read(actor))
    target = next(e for e in entries if e.kind == kind)
    payload = loads(target.payload)
    key = {"Decision": "rule", "OrderIntent": "amount", "Fill": "price"}[kind]
    payload[key] = "999" if key != "rule" else "forged"
    forged = target._replace(payload=dumps(payload))
    replay = Replayer(strict=True)

    with pytest.raises(Divergence) as caught:
        for item in entries:
            item = forged if item.seq == target.seq else item
            replay.feed(item, loads(item.payload))

    assert caught.value.seq == target.seq and "differs from replay" in str(caught.value)


# --- the timeline: order and the missed-wake policy -------------------------------------------

def test_at_one_instant_flows_then_the_valuation_then_the_wake() -> None:
    flow = Flow(at=T0, investor="ann", kind="subscribe", amount=D(100))
    line = Timeline([T0, T0 + H], valuations=[T0], flows=[flow])

    steps = line.due(T0)

    assert [s.kind for s in steps] == ["flow", "valuation", "wake"]
    assert line.next_moment() == T0 + H


def test_a_backtest_timeline_runs_everything_due_in_time_order() -> None:
    line = Timeline([T0, T0 + H, T0 + 2 * H], valuations=[T0 + H])

    steps = line.due(T0 + 2 * H)

    assert [(s.kind, s.at) for s in steps] == [("wake", T0), ("valuation", T0 + H),
                                               ("wake", T0 + H), ("wake", T0 + 2 * H)]


@pytest.mark.parametrize(("late", "runs"), [(timedelta(0), True), (timedelta(seconds=30), True),
                                            (timedelta(seconds=30, microseconds=1), False)])
def test_the_latest_due_wake_runs_within_the_grace_and_the_others_are_missed(
        late: timedelta, runs: bool) -> None:
    line = Timeline([T0, T0 + H, T0 + 2 * H], valuations=[T0, T0 + H],
                    grace=timedelta(seconds=30))

    steps = line.due(T0 + 2 * H + late)

    missed = [T0, T0 + H] if runs else [T0, T0 + H, T0 + 2 * H]
    assert [s.kind for s in steps] == ["missed", "valuation"] + (["wake"] if runs else [])
    assert steps[0].missed == tuple(missed)
    assert steps[1].at == T0 + H  # of several due valuation points, the latest runs


def test_a_node_records_missed_wakes_and_a_paused_wake_on_the_journal() -> None:
    journal, actor = backtest_stream(hours=1)
    runtime = ActorRuntime(spec=spec(), writer=JournalWriter(journal, actor), oracles={},
                           clock=SimulatedClock(T0 + 5 * H),
                           adapter=PaperAdapter(fee_rate=D(0), slippage_bps=D(0)))
    runtime.open(D(10_000))
    node = Node(runtime, timeline(runtime.core.spec, [T0 + 2 * H, T0 + 3 * H, T0 + 5 * H],
                                  grace=timedelta(seconds=30)))

    for step in node.timeline.due(T0 + 5 * H):
        node.run(step, hold="paused")

    recorded = [loads(e.payload) for e in journal.read(actor) if e.kind == MISSED_WAKE]
    assert [(r["first"], r["last"], r["count"]) for r in recorded] == [
        (format_ts(T0 + 2 * H), format_ts(T0 + 3 * H), 2),
        (format_ts(T0 + 5 * H), format_ts(T0 + 5 * H), 1)]
    assert {r["reason"] for r in recorded} == {"paused"}
    assert not [e for e in journal.read(actor) if e.kind == VALUATION]


def test_placed_orders_carry_the_market_of_the_spec() -> None:
    core = ActorCore(spec())
    order = core.placed(core.intent(OrderIntent(symbol="BTC/USDT", side="buy", amount=D(1)),
                                    3, 4))

    assert isinstance(order, PlacedOrder) and order.market.symbol == "BTC/USDT"
