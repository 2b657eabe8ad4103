"""Every reader of an actor's state agrees: the actor's core, ``fund status``, the UI's
snapshot and reconciliation, over random sequences of operator commands, halts, orders and
the exchange's answers journaled in a real stream — and with the rules written out here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from fund.canonical import format_ts, loads
from fund.commands.operate import actor_status
from fund.config import load_config
from fund.journal import JournalWriter
from fund.journal.memory import MemoryJournal
from fund.messages import (
    Control,
    Deposit,
    Fill,
    Halt,
    IntentEntry,
    OrderAck,
    OrderIntent,
    OrderRejected,
    Payload,
    Wake,
)
from fund.monitor.snapshot import ActorSnapshot, advance
from fund.projections import Controls, Orders, fold
from fund.replay import Replayer
from tests.conftest import EXAMPLES

T0 = datetime(2024, 3, 1, tzinfo=UTC)
FINAL = ("filled", "canceled", "expired")
WORKING = ("open", "partially_filled")


@dataclass
class Model:
    """The rules, written out independently of fund/projections.py."""

    paused: bool = False
    killed: bool = False
    halted: bool = False
    orders: dict[str, str] = field(default_factory=dict)  # coid -> open / final

    def see(self, payload: Payload) -> None:
        if isinstance(payload, Halt):
            self.halted = True
        elif isinstance(payload, Control) and payload.rejected is None:
            if payload.command == "kill":
                self.killed = True
            elif payload.command == "pause":
                self.paused = True
            elif payload.command == "resume":
                self.killed = self.paused = False
        elif isinstance(payload, IntentEntry):
            self.orders[payload.client_order_id] = "open"
        elif isinstance(payload, OrderAck):
            self.orders[payload.client_order_id] = \
                "open" if payload.status in WORKING else "final"
        elif isinstance(payload, Fill) and self.orders[payload.client_order_id] != "final":
            self.orders[payload.client_order_id] = "open"  # part filled, no final word yet
        elif isinstance(payload, OrderRejected):
            self.orders[payload.client_order_id] = "open" if payload.ambiguous else \
                "dropped" if payload.source == "reconcile" else "final"

    def open_orders(self) -> list[str]:
        return [coid for coid, state in self.orders.items() if state == "open"]


controls = st.sampled_from(["kill", "pause", "resume", "resume", "refused"]).map(
    lambda c: Control(command="pause", rejected="not now") if c == "refused"
    else Control(command=c, reason="test"))
events = st.tuples(st.sampled_from(["ack", "fill", "rejected", "ambiguous", "dropped"]),
                   st.sampled_from([*WORKING, *FINAL]), st.integers(0, 5))
steps = st.lists(st.one_of(controls, st.just("halt"), st.just("order"), events),
                 min_size=1, max_size=40)


def journal_of(operations: list[object]) -> tuple[MemoryJournal, Model]:
    """A rebalancer's stream with these operations journaled, and the model's view."""
    spec = load_config(EXAMPLES / "rebalance.toml").actors[0]
    journal = MemoryJournal()
    writer = JournalWriter(journal, spec.actor_id)
    ts = format_ts(T0)
    start = spec.start_payload()
    writer.append(start.KIND, ts, start.to_payload())
    model = Model()
    coids: list[str] = []
    fills = 0

    def record(payload: Payload) -> None:
        writer.append(payload.KIND, ts, payload.to_payload())
        model.see(payload)

    record(Deposit(amount=Decimal(10_000), currency="USDT", reason="seed"))
    record(Wake(scheduled=ts))
    for number, op in enumerate(operations):
        if isinstance(op, Control):
            record(op)
        elif op == "halt":
            record(Halt(limit="max_drawdown", nav=Decimal(8), peak=Decimal(10),
                        drawdown=Decimal("0.2"), threshold=Decimal("0.2")))
        elif op == "order":
            coid = f"af-{number}"
            coids.append(coid)
            record(IntentEntry(intent=OrderIntent(symbol="BTC/USDT", side="buy",
                                                  amount=Decimal("0.001")),
                               client_order_id=coid, decision=1))
        elif coids and isinstance(op, tuple):
            what, status, which = op
            coid = coids[which % len(coids)]
            if what == "ack":
                record(OrderAck(client_order_id=coid, exchange_order_id="x", status=status))
            elif what == "fill":
                fills += 1
                record(Fill(client_order_id=coid, fill_id=f"t{fills}", symbol="BTC/USDT",
                            side="buy", amount=Decimal("0.001"), price=Decimal(100),
                            fee=Decimal(0), fee_currency="USDT"))
            else:
                record(OrderRejected(client_order_id=coid, reason=what,
                                     source="reconcile" if what == "dropped" else "exchange",
                                     ambiguous=True if what == "ambiguous" else None))
    writer.flush()
    return journal, model


@settings(max_examples=150, deadline=None)
@given(steps)
def test_every_reader_reports_the_same_state(operations: list[object]) -> None:
    journal, model = journal_of(operations)
    actor = journal.processes()[0]

    replay = Replayer(strict=False)  # the actor's core, as a daemon resumes it
    for entry in journal.read(actor):
        replay.feed(entry, loads(entry.payload))
    assert replay.core is not None
    status = actor_status(journal, actor, T0)
    snapshot = ActorSnapshot(actor=actor)
    advance(journal, snapshot)
    orders, folded = Orders(), Controls()
    fold(journal.read(actor), orders, folded)  # what reconciliation reads

    expected = (model.paused, model.killed, model.halted)
    core = replay.core.controls
    assert (core.paused, core.killed, core.halted) == expected
    assert (status["paused"], status["killed"], status["halted"]) == expected
    ui = snapshot.controls
    assert (ui.paused, ui.killed, ui.halted) == expected
    assert (folded.paused, folded.killed, folded.halted) == expected
    assert status["open_orders"] == model.open_orders()
    assert [coid for coid, _ in snapshot.open_orders()] == model.open_orders()
    assert [coid for coid, _ in orders.open()] == model.open_orders()


def test_kill_then_pause_is_both_for_every_reader(tmp_path: Path) -> None:
    journal, _ = journal_of([Control(command="kill"), Control(command="pause")])
    actor = journal.processes()[0]

    status = actor_status(journal, actor, T0)

    assert status["killed"] and status["paused"] and status["state"] == "killed,paused"
