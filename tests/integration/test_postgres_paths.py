"""The user-facing paths on a real PostgreSQL journal, giving what SQLite gives."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from fund.canonical import loads
from fund.journal import open_journal
from tests.conftest import EXAMPLES, run_fund
from tests.integration.fake_exchange import FakeExchange
from tests.integration.test_daemon import CONFIG

MARCH = ("--start", "2024-03-01", "--end", "2024-03-07", "--json", "--no-report")


def test_a_backtest_on_postgres_has_the_sqlite_head_and_verifies(
        tmp_path: Path, postgres_url: str) -> None:
    on_sqlite = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), "--out",
                         str(tmp_path / "s"), *MARCH)
    on_postgres = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), "--out",
                           str(tmp_path / "p"), "--journal", postgres_url, *MARCH)

    assert on_sqlite.returncode == 0 and on_postgres.returncode == 0, on_postgres.stderr
    assert json.loads(on_postgres.stdout)["head_hash"] == json.loads(on_sqlite.stdout)["head_hash"]
    verified = run_fund("verify", postgres_url)
    assert verified.returncode == 0, verified.stderr
    assert run_fund("journal", "export", postgres_url).stdout == run_fund(
        "journal", "export", str(tmp_path / "s" / "journal.db")).stdout


def test_the_daemon_commands_and_leases_work_on_postgres(tmp_path: Path,
                                                         postgres_url: str) -> None:
    with FakeExchange() as venue:
        venue.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        cfg = tmp_path / "daemon.toml"
        cfg.write_text(CONFIG.format(url=venue.url, cron="* * * * * *"), encoding="utf-8")

        first = run_fund("run", str(cfg), "--journal", postgres_url, "--once")
        queued = run_fund("deposit", "rebalancer", "250", "--journal", postgres_url)
        second = run_fund("run", str(cfg), "--journal", postgres_url, "--once")

    assert first.returncode == queued.returncode == second.returncode == 0, second.stderr
    with open_journal(postgres_url) as store:
        kinds = [(e.kind, loads(e.payload)) for e in store.read("rebalancer")]
        assert store.lease("rebalancer") is None  # released after --once
    assert [k for k, _ in kinds].count("Wake") == 2
    assert [Decimal(p["amount"]) for k, p in kinds if k == "Deposit"] == [Decimal(10000),
                                                                          Decimal(250)]
    status = json.loads(run_fund("status", postgres_url, "--json").stdout)
    assert status[0]["actor"] == "rebalancer" and status[0]["daemon"] is None
    assert run_fund("verify", postgres_url).returncode == 0
