"""Acceptance: workload W1 end to end through the real CLI, against a plain-loop reference.

W1 (issue 2): BTC, ETH, SOL, XRP, DOGE / USDT, 5-minute candles 2024-01-01..2024-06-30,
10,000 USDT, 18 % per asset, 1 % band, 0.1 % fee, hourly wakes (and every 5 minutes).
The expected figures come from ``reference_w1.py``, an independent loop over the same
files that shares no code with agentfund. Each test runs on SQLite and on PostgreSQL; the
second of two runs always writes to SQLite, so on PostgreSQL "byte-identical across runs"
also means "the same journal on both backends".
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from reference_w1 import reference_w1

from tests.conftest import EXAMPLES, SAMPLE_PRICES, SHARED, needs_shared, run_fund
from tests.fixtures.journals import JournalUrls, sqlite_url

CENT = Decimal("0.01")
FIVE_MINUTES = 'actors.rebalancer.cron="*/5 * * * *"'


def backtest(out: Path, journal: str, *extra: str) -> dict[str, Any]:
    result = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), "--out", str(out),
                      "--journal", journal, "--json", *extra)
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def export(journal: str) -> str:
    result = run_fund("journal", "export", journal, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(("every", "cron_override", "nav", "fills"), [
    (60, (), "13232.34", 143),
    (5, ("--set", FIVE_MINUTES), "13205.45", 167),
], ids=["hourly", "every-5-minutes"])
def test_w1_matches_the_plain_loop_and_is_byte_identical_across_runs(
        tmp_path: Path, store_url: str, every: int, cron_override: tuple[str, ...], nav: str,
        fills: int) -> None:
    reference = reference_w1(SAMPLE_PRICES, every_minutes=every)

    first = backtest(tmp_path / "a", store_url, *cron_override)
    second = backtest(tmp_path / "b", sqlite_url(tmp_path / "b.db"), *cron_override)

    assert Decimal(first["final_nav"]).quantize(CENT) == reference["final_nav"].quantize(CENT)
    assert Decimal(first["fees"]).quantize(CENT) == reference["fees"].quantize(CENT)
    assert first["fills"] == reference["fills"] == fills
    assert first["actors"]["rebalancer"]["wakes"] == reference["wakes"]
    assert Decimal(first["final_nav"]).quantize(CENT) == Decimal(nav)  # the figure
    assert first["head_hash"] == second["head_hash"]
    journal_a, journal_b = export(first["journal"]), export(second["journal"])
    assert journal_a == journal_b
    assert len(journal_a.splitlines()) == first["entries"]
    verified = run_fund("verify", first["journal"])
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip() == (f"rebalancer: verified {first['entries']} entries, "
                                       f"head {first['head_hash']}")


def test_w1_summary_keys_and_report(tmp_path: Path, store_url: str) -> None:
    summary = backtest(tmp_path / "run", store_url, "--start", "2024-02-01", "--end",
                       "2024-02-29")

    for key in ("final_nav", "total_return", "max_drawdown", "sharpe", "fills", "fees",
                "journal", "entries", "head_hash", "sortino", "annualized_return", "turnover"):
        assert key in summary
    assert summary["first_wake"] == "2024-02-01T00:00:00Z"
    assert summary["end"] == "2024-03-01T00:00:00Z"
    report = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert report.count('<div id="chart-') == 3  # unit value, benchmark, allocation
    charts = re.findall(r'<div id="trades-rebalancer-([A-Za-z-]+)"', report)
    assert charts[:2] == ["pnl", "calendar-day"]  # the trades section: P&L, calendar, prices
    assert sum(c.startswith("price-") for c in charts) == 5  # one per traded market
    markup = re.sub(r"<script[^>]*>.*?</script>", "", report, flags=re.S)  # plotly.js inline
    assert "https://" not in markup and "<script src" not in report
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == summary


@needs_shared("ohlcv/binance_spot_2024/BTC_USDT-5m.feather")
def test_w1_on_the_shared_data_equals_w1_on_the_shipped_sample(
        tmp_path: Path, store_urls: JournalUrls) -> None:
    shared = SHARED / "ohlcv" / "binance_spot_2024"

    on_sample = backtest(tmp_path / "sample", store_urls("sample"))
    on_shared = backtest(tmp_path / "shared", store_urls("shared"), "--set",
                         f'backtest.prices="{shared}"')

    assert on_shared["head_hash"] == on_sample["head_hash"]
    assert reference_w1(shared)["final_nav"].quantize(CENT) == Decimal("13232.34")
