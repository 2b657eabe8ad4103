"""``fund run``: the daemon as a subprocess, on live prices from the fake exchange."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fund.canonical import loads, parse_ts
from fund.journal import open_journal
from fund.verify import verify_stream
from tests.conftest import ROOT, run_fund
from tests.fixtures.journals import journal_exists
from tests.integration.fake_exchange import FakeExchange

# timing-sensitive (real clocks, SIGKILL windows, cluster start-up): run alone, not beside
# other tests under pytest-xdist (make test runs the "serial" ones after the rest)
pytestmark = pytest.mark.serial

CONFIG = """
[fund]
name = "paper-daemon"
initial_cash = 10000
quote = "USDT"
fee_rate = 0.001

[exchange]
id = "binance"
urls = {{api = "{url}"}}

[daemon]
misfire_grace_s = 0.5

[actors.rebalancer]
cron = "{cron}"
strategy = "rebalance"
[actors.rebalancer.params.weights]
"BTC/USDT" = 0.5
"ETH/USDT" = 0.25
"""


@pytest.fixture
def venue() -> Iterator[FakeExchange]:
    with FakeExchange() as exchange:
        exchange.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        yield exchange


def config(tmp_path: Path, venue: FakeExchange, cron: str = "* * * * * *") -> Path:
    path = tmp_path / "daemon.toml"
    path.write_text(CONFIG.format(url=venue.url, cron=cron), encoding="utf-8")
    return path


def raw_entries(db: str) -> list[Any]:
    with open_journal(db) as store:
        return list(store.read("rebalancer"))


def entries(db: str) -> list[tuple[int, str, dict[str, Any]]]:
    with open_journal(db) as store:
        return [(e.seq, e.kind, loads(e.payload)) for e in store.read("rebalancer")]


def verified(db: str) -> bool:
    with open_journal(db) as store:
        report = verify_stream(store, "rebalancer")
    assert report.ok, report.error
    return True


def test_once_wakes_every_actor_and_a_second_run_resumes_the_stream(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    cfg, db = config(tmp_path, venue), store_url

    first = run_fund("run", str(cfg), "--journal", db, "--once")
    venue.reset(prices={"BTCUSDT": Decimal("44000"), "ETHUSDT": Decimal("1900")})
    second = run_fund("run", str(cfg), "--journal", db, "--once")

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    stream = entries(db)
    kinds = [kind for _, kind, _ in stream]
    assert kinds.count("Start") == 1 and kinds.count("Deposit") == 1 and kinds.count("Wake") == 2
    assert [s for s, _, _ in stream] == list(range(1, len(stream) + 1))
    fills = [p for _, kind, p in stream if kind == "Fill"]
    assert {f["price"] for f in fills} >= {"40000", "2000", "44000"}  # the live prices
    assert verified(db)
    events = [json.loads(line) for line in second.stderr.splitlines()]
    assert events[-1]["event"] == "wake" and events[-1]["actor"] == "rebalancer"


def start(cfg: Path, db: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "fund", "run", str(cfg), "--journal", db],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_for_wakes(db: str, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal_exists(db) and sum(k == "Wake" for _, k, _ in entries(db)) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} wakes after {timeout} s")


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    return process.returncode, stderr


def test_sigterm_stops_cleanly_and_a_restart_accounts_for_every_missed_wake(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    cfg, db = config(tmp_path, venue), store_url

    daemon = start(cfg, db)
    try:
        wait_for_wakes(db, 3)
    finally:
        code, stderr = stop(daemon)
    assert code == 0, stderr
    assert json.loads(stderr.splitlines()[-1])["event"] == "stopped"
    time.sleep(2.5)  # the daemon is down: these wakes are missed
    restarted = start(cfg, db)
    try:
        wait_for_wakes(db, sum(k == "Wake" for _, k, _ in entries(db)) + 2)
    finally:
        code, stderr = stop(restarted)
    assert code == 0, stderr

    stream = entries(db)
    woke = [parse_ts(p["scheduled"]) for _, k, p in stream if k == "Wake"]
    missed = [(parse_ts(p["first"]), parse_ts(p["last"]), p["count"])
              for _, k, p in stream if k == "MissedWake"]
    assert missed and all(n == (last - first).seconds + 1 for first, last, n in missed)
    covered = sorted(woke + [first + timedelta(seconds=i) for first, _, n in missed
                             for i in range(n)])
    # every fire time from the first after the Start entry is woken or recorded missed (a
    # slow start-up may miss the first: missed, then, not lost)
    started = parse_ts(next(e.ts for e in raw_entries(db) if e.kind == "Start"))
    first = started.replace(microsecond=0) + timedelta(seconds=1)
    assert covered == [first + timedelta(seconds=i) for i in range(len(covered))]
    assert all(t.microsecond == 0 for t in woke)  # wakes are the cron's fire times
    assert verified(db)


def test_a_changed_strategy_cannot_resume_an_existing_stream(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    cfg, db = config(tmp_path, venue), store_url
    assert run_fund("run", str(cfg), "--journal", db, "--once").returncode == 0

    result = run_fund("run", str(cfg), "--journal", db, "--once", "--set",
                      'actors.rebalancer.params.weights={"BTC/USDT"=0.9}')

    assert result.returncode == 2
    assert "was started with another strategy, schedule, parameters or mode" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_live_without_keys_names_the_variables(tmp_path: Path, venue: FakeExchange) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFUND_")}
    result = subprocess.run([sys.executable, "-m", "fund", "run", str(config(tmp_path, venue)),
                             "--live", "--once", "--journal", str(tmp_path / "j.db")],
                            cwd=ROOT, capture_output=True, text=True, env=env, timeout=60,
                            check=False)

    assert result.returncode == 2
    assert "set AGENTFUND_API_KEY and AGENTFUND_SECRET" in result.stderr


KEY, SECRET = "live-key-3f9a8c1e77", "live-secret-b51d0e92aa"


def run_live(cfg: Path, db: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTFUND_API_KEY": KEY, "AGENTFUND_SECRET": SECRET}
    return subprocess.run([sys.executable, "-m", "fund", "run", str(cfg), "--live", "--journal",
                           db, *extra], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def test_live_orders_reach_the_exchange_once_and_secrets_appear_nowhere(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    cfg, db = config(tmp_path, venue), store_url

    first = run_live(cfg, db, "--once")
    venue.reset(prices={"BTCUSDT": Decimal("36000"), "ETHUSDT": Decimal("2300")},
                balances={"USDT": Decimal("100000")})
    second = run_live(cfg, db, "--once")

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    stream = entries(db)
    intents = {p["client_order_id"] for _, k, p in stream if k == "OrderIntent"}
    fills = [p for _, k, p in stream if k == "Fill"]
    assert fills and intents >= set(venue.placed)
    assert {p["client_order_id"] for p in fills} <= intents
    assert [p for _, k, p in stream if k == "Reconcile"]  # each start-up checked the exchange
    assert verified(db)
    exported = run_fund("journal", "export", db).stdout
    shown = run_fund("status", db, "--json").stdout + run_fund("status", db).stdout
    requests = " ".join(f"{r.path} {r.params}" for r in venue.requests)
    for text in (exported, shown, first.stderr, second.stderr, first.stdout, second.stdout):
        assert KEY not in text and SECRET not in text
    assert SECRET not in requests


def test_a_live_start_journals_the_account_against_the_books(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    cfg, db = config(tmp_path, venue), store_url
    venue.reset(balances={"USDT": Decimal("10000")})
    first = run_live(cfg, db, "--once")
    venue.reset(balances={"USDT": Decimal("9000"), "BTC": Decimal("0.5")})  # moved by hand
    second = run_live(cfg, db, "--once")

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    checks = [p["data"] for _, k, p in entries(db)
              if k == "Observation" and p["oracle"] == "exchange_balances"]
    assert len(checks) == 2
    # the first start: the books hold the initial 10,000 USDT, as the account does
    assert checks[0]["booked"] == {"BTC": "0", "ETH": "0", "USDT": "10000"}
    assert checks[0]["differences"] == {}
    # the second: what the books say after the first run's fills, against the account
    books = {c: Decimal(v) for c, v in checks[1]["booked"].items()}
    assert {c: Decimal(v) for c, v in checks[1]["differences"].items()} == {
        c: d for c, d in {"USDT": Decimal(9000) - books["USDT"],
                          "BTC": Decimal("0.5") - books["BTC"],
                          "ETH": -books["ETH"]}.items() if d}
    assert '"event": "balances-differ"' in second.stderr
    assert verified(db)


def test_a_second_daemon_on_a_running_actor_is_refused(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    cfg, db = config(tmp_path, venue), store_url
    first = start(cfg, db)
    try:
        wait_for_wakes(db, 1)
        second = run_fund("run", str(cfg), "--journal", db, "--once")
        with open_journal(db) as store:
            held = store.lease("rebalancer")
    finally:
        code, _ = stop(first)

    assert second.returncode == 2
    assert "is being run by daemon" in second.stderr and "stop it first" in second.stderr
    assert held is not None and f":{first.pid}:" in held.owner
    assert loads(held.info)["next_wake"] > held.heartbeat
    assert code == 0
    with open_journal(db) as store:
        assert store.lease("rebalancer") is None  # a clean stop gives the lease back
    assert run_fund("run", str(cfg), "--journal", db, "--once").returncode == 0


def wait_until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def kinds_after(db: str, seq: int, kind: str) -> list[dict[str, Any]]:
    return [p for s, k, p in entries(db) if s > seq and k == kind]


def test_operator_commands_reach_a_running_daemon_and_are_journaled(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    venue.random_walk(seed=3, bps=80)
    cfg, db = config(tmp_path, venue), store_url
    cfg.write_text(cfg.read_text().replace('strategy = "rebalance"',
                                           'strategy = "rebalance"\n[actors.rebalancer.params]\n'
                                           'band = 0.0005'), encoding="utf-8")
    daemon = start(cfg, db)
    try:
        wait_for_wakes(db, 2)
        assert run_fund("kill", "rebalancer", "--journal", db, "--reason", "t").returncode == 0
        wait_until(lambda: kinds_after(db, 0, "Control"))
        killed_at = max(s for s, k, _ in entries(db) if k == "Control")
        wait_until(lambda: kinds_after(db, killed_at, "OrderRejected"))
        assert run_fund("pause", "rebalancer", "--journal", db).returncode == 0
        wait_until(lambda: any(p.get("reason") == "paused"
                               for p in kinds_after(db, killed_at, "MissedWake")))
        assert run_fund("resume", "rebalancer", "--journal", db).returncode == 0
        assert run_fund("deposit", "rebalancer", "500", "--journal", db).returncode == 0
        assert run_fund("withdraw", "rebalancer", "1e9", "--journal", db).returncode == 0
        wait_until(lambda: len([p for p in kinds_after(db, 0, "Control")
                                if "command_seq" in p]) >= 4)
        resumed_at = max(s for s, k, p in entries(db) if k == "Control"
                         and p["command"] == "resume")
        wait_for_wakes(db, sum(k == "Wake" for _, k, _ in entries(db)) + 1)
        shown = run_fund("status", db, "--json")
    finally:
        code, _ = stop(daemon)

    assert code == 0
    rejected = kinds_after(db, killed_at, "OrderRejected")
    assert rejected and {p["limit"] for p in rejected if p["source"] == "risk"} == {"kill_switch"}
    controls = [p for p in kinds_after(db, 0, "Control") if "command_seq" in p]
    assert [p["command"] for p in controls] == ["kill", "pause", "resume", "withdraw"]
    assert controls[-1]["rejected"].startswith("only ")
    deposits = [p for p in kinds_after(db, 0, "Deposit") if "command_seq" in p]
    assert [Decimal(p["amount"]) for p in deposits] == [Decimal(500)]
    assert [p["command_seq"] for p in controls] + [deposits[0]["command_seq"]] == [1, 2, 3, 5, 4]
    assert kinds_after(db, resumed_at, "Wake")  # waking again after resume
    [row] = json.loads(shown.stdout)
    assert row["actor"] == "rebalancer" and row["daemon"] and row["heartbeat_age_s"] < 10
    assert not row["paused"] and not row["killed"]
    verified_all = run_fund("verify", db)
    assert verified_all.returncode == 0, verified_all.stderr
    assert sorted(line.split(":")[0] for line in verified_all.stdout.splitlines()) == [
        "rebalancer", "rebalancer.commands"]


def test_a_deposit_queued_between_two_runs_is_applied_and_the_lease_given_back(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    cfg, db = config(tmp_path, venue), store_url

    first = run_fund("run", str(cfg), "--journal", db, "--once")
    queued = run_fund("deposit", "rebalancer", "250", "--journal", db)
    second = run_fund("run", str(cfg), "--journal", db, "--once")

    assert first.returncode == queued.returncode == second.returncode == 0, second.stderr
    with open_journal(db) as store:
        kinds = [(e.kind, loads(e.payload)) for e in store.read("rebalancer")]
        assert store.lease("rebalancer") is None  # released after --once
    assert [k for k, _ in kinds].count("Wake") == 2
    assert [Decimal(p["amount"]) for k, p in kinds if k == "Deposit"] == [Decimal(10000),
                                                                          Decimal(250)]
    status = json.loads(run_fund("status", db, "--json").stdout)
    assert status[0]["actor"] == "rebalancer" and status[0]["daemon"] is None
    assert run_fund("verify", db).returncode == 0
