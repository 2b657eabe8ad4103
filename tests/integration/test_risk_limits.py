"""Risk limits enforced by the runtime on a real backtest, journaled, and re-derived by verify."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text

from fund.canonical import loads
from fund.journal import open_journal
from fund.verify import verify_stream
from tests.conftest import EXAMPLES, run_fund
from tests.fixtures.journals import JournalUrls
from tests.fixtures.tamper import rehash_from, tampering

W1 = EXAMPLES / "rebalance.toml"
MARCH = ("--start", "2024-03-01", "--end", "2024-03-31", "--json", "--no-report")


def backtest(out: Path, journal: str, *sets: str) -> dict[str, Any]:
    args = [arg for item in sets for arg in ("--set", item)]
    result = run_fund("backtest", str(W1), "--out", str(out), "--journal", journal, *MARCH,
                      *args)
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def entries(journal: str, kind: str) -> list[tuple[int, dict[str, Any]]]:
    with open_journal(journal) as store:
        return [(e.seq, loads(e.payload)) for e in store.read("rebalancer") if e.kind == kind]


def test_limits_reject_orders_with_the_limit_that_fired(tmp_path: Path, store_url: str) -> None:
    summary = backtest(tmp_path, store_url, "risk.max_order_notional=1000",
                       "risk.max_orders_per_wake=3")

    rejections = entries(summary["journal"], "OrderRejected")
    intents = {p["client_order_id"]: p for _, p in entries(summary["journal"], "OrderIntent")}
    limits = Counter(p["limit"] for _, p in rejections)
    assert set(limits) == {"max_order_notional", "max_orders_per_wake"}
    for _, rejection in rejections:
        assert rejection["source"] == "risk"
        intent = intents[rejection["client_order_id"]]
        notional = Decimal(intent["amount"]) * Decimal(intent["reference_price"])
        if rejection["limit"] == "max_order_notional":
            assert notional > 1000
    fills = {p["client_order_id"] for _, p in entries(summary["journal"], "Fill")}
    assert not fills & {p["client_order_id"] for _, p in rejections}
    assert run_fund("verify", summary["journal"]).returncode == 0


def test_the_drawdown_limit_halts_buying_and_is_recorded(tmp_path: Path,
                                                         store_urls: JournalUrls) -> None:
    free = backtest(tmp_path / "free", store_urls("free"))
    halted = backtest(tmp_path / "halted", store_urls("halted"), "risk.max_drawdown=0.03")

    halts = entries(halted["journal"], "Halt")
    assert len(halts) == 1
    seq, halt = halts[0]
    assert Decimal(halt["drawdown"]) >= Decimal("0.03")
    assert Decimal(halt["nav"]) == Decimal(halt["peak"]) * (1 - Decimal(halt["drawdown"]))
    after = [p for s, p in entries(halted["journal"], "OrderRejected") if s > seq]
    assert after and {p["limit"] for p in after} == {"max_drawdown"}
    buys_after = [p for s, p in entries(halted["journal"], "Fill") if s > seq and
                  p["side"] == "buy"]
    assert buys_after == []
    assert halted["head_hash"] != free["head_hash"]
    assert run_fund("verify", halted["journal"]).returncode == 0


def test_a_removed_halt_is_caught_by_verify(tmp_path: Path, store_url: str) -> None:
    summary = backtest(tmp_path, store_url, "risk.max_drawdown=0.03")
    (seq, _), = entries(summary["journal"], "Halt")
    with tampering(summary["journal"]) as conn:  # turn the Halt into a harmless-looking kind
        conn.execute(text("UPDATE journal_entries SET kind = 'Deposit', payload = "
                          "'{\"amount\":\"0\",\"currency\":\"USDT\",\"reason\":\"x\"}' "
                          "WHERE seq = :seq"), {"seq": seq})
        rehash_from(conn, "rebalancer", seq)

    with open_journal(summary["journal"]) as store:
        report = verify_stream(store, "rebalancer")

    assert not report.ok
    assert report.seq == seq + 1  # the decision that should have followed a Halt
    assert "called for a Halt" in (report.error or "")


def test_the_kill_switch_stops_every_order_until_resumed(journal_url: str) -> None:
    from agentfund.backtests.engine import load_history
    from agentfund.oracles.kinds import History, build
    from fund.clock import SimulatedClock
    from fund.config import load_config
    from fund.exchange.paper import PaperAdapter
    from fund.journal import JournalWriter
    from fund.messages import Control
    from fund.runtime import ActorRuntime
    from fund.schedule import cron_trigger, fire_times

    config = load_config(W1, ["actors.rebalancer.params.band=0.0001"])
    spec = config.actors[0]
    assert config.backtest is not None
    candles = load_history(config.backtest, config.actors)
    wakes = list(fire_times(cron_trigger(spec.cron), datetime(2024, 3, 1, tzinfo=UTC),
                            datetime(2024, 3, 1, 8, tzinfo=UTC)))
    store = open_journal(journal_url)
    writer = JournalWriter(store, spec.actor_id)
    clock = SimulatedClock(wakes[0])
    runtime = ActorRuntime(spec=spec, writer=writer, clock=clock,
                           oracles=build(spec.declared(), tuple(spec.markets),
                                         History(candles=candles, since=wakes[0])),
                           adapter=PaperAdapter(fee_rate=spec.terms.fee_rate,
                                                slippage_bps=spec.terms.slippage_bps))
    runtime.open(Decimal(10_000))
    for number, moment in enumerate(wakes):
        clock.set_time(moment)
        if number == 3:
            runtime.command(Control(command="kill", reason="operator: exchange outage"))
        if number == 6:
            runtime.command(Control(command="resume", reason="operator: all clear"))
        runtime.wake(moment)
    writer.flush()

    kinds = [(e.seq, e.kind, loads(e.payload)) for e in store.read(spec.actor_id)]
    controls = [seq for seq, kind, _ in kinds if kind == "Control"]
    killed = [p for seq, kind, p in kinds if kind == "OrderRejected"
              and controls[0] < seq < controls[1]]
    fills_killed = [p for seq, kind, p in kinds if kind == "Fill"
                    and controls[0] < seq < controls[1]]
    fills_after = [p for seq, kind, p in kinds if kind == "Fill" and seq > controls[1]]
    assert killed and {p["limit"] for p in killed} == {"kill_switch"}
    assert fills_killed == [] and fills_after
    assert verify_stream(store, spec.actor_id).ok
    store.close()
