"""The scaling benchmark's synthetic inputs (benchmarks/synthetic.py) and its floor loop
(benchmarks/floor.py): deterministic, readable by the backtest's loader, and — for the
floor — the journal's exact bytes and chain."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from agentfund.backtests.data import load_candles
from benchmarks import floor, synthetic
from benchmarks.scaling import format_table, numbers
from fund.journal import open_journal
from fund.journal.writer import JournalWriter

DAY = date(2024, 1, 1)


def test_the_same_seed_writes_the_same_files(tmp_path: Path) -> None:
    # Act
    synthetic.write_universe(tmp_path / "a", 3, DAY, DAY)
    synthetic.write_universe(tmp_path / "b", 3, DAY, DAY)
    other = synthetic.write_universe(tmp_path / "c", 3, DAY, DAY, seed=1)

    # Assert
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["S001_USDT-5m.feather", "S002_USDT-5m.feather", "S003_USDT-5m.feather"]
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes()
               for n in names)
    assert (tmp_path / "a" / names[0]).read_bytes() != (tmp_path / "c" / names[0]).read_bytes()
    assert other == ["S001/USDT", "S002/USDT", "S003/USDT"]


def test_the_backtest_loader_reads_a_synthetic_universe(tmp_path: Path) -> None:
    synthetic.write_universe(tmp_path, 2, DAY, DAY + timedelta(days=1))

    candles = load_candles(tmp_path, "S002/USDT", timedelta(minutes=5))

    assert len(candles.closes) == 2 * 288
    assert all(price > 0 for price in candles.closes)
    assert candles.first_close.isoformat() == "2024-01-01T00:05:00+00:00"
    assert np.all(np.diff(candles.close_times) == 300)


def test_the_config_spreads_ninety_percent_with_a_proportional_band(tmp_path: Path) -> None:
    names = synthetic.symbols(100)

    config = tomllib.loads(synthetic.rebalance_config(tmp_path, names, DAY, DAY))

    params = config["actors"]["rebalancer"]["params"]
    assert len(params["weights"]) == 100
    assert Decimal(str(params["weights"]["S100/USDT"])) == Decimal("0.009")
    assert Decimal(str(params["band"])) == Decimal("0.0005")  # 1 % of NAV on 18 %, scaled
    assert config["backtest"]["prices"] == str(tmp_path)


def test_journal_payloads_cycle_wake_observation_decision() -> None:
    kinds = [synthetic.payload(n)[0] for n in range(6)]

    assert kinds == ["Wake", "Observation", "Decision"] * 2
    assert synthetic.payload(4) == synthetic.payload(4)


def test_the_floor_reproduces_the_journal_bytes_and_heads(tmp_path: Path) -> None:
    # Arrange: a small journal written through the journal's own writer
    path = tmp_path / "journal.db"
    with open_journal(f"sqlite:///{path}") as store:
        writer = JournalWriter(store, "bench")
        for number in range(30):
            kind, body = synthetic.payload(number)
            writer.append(kind, "2024-01-01T00:00:00.000000Z", body)
        writer.flush()

    # Act
    items, stored = floor.read_items(path)
    _, heads = floor.record(items, tmp_path / "floor.db")

    # Assert
    assert floor.same_bytes(items, stored)
    assert heads == floor.heads(path)
    assert len(items) == 30


def test_counts_and_the_scaling_table() -> None:
    assert numbers("1000,1e6, 10_000") == [1000, 1_000_000, 10_000]
    rows: list[dict[str, Any]] = [
        {"axis": "journal", "case": "1,000 entries, SQLite", "seconds": 2.0, "peak_mib": 70.2,
         "entries": 1000, "per_second": 500.0, "note": "n"},
        {"axis": "journal", "case": "1,000 entries, PostgreSQL", "note": "skipped: x"}]

    lines = format_table(rows).splitlines()

    assert lines[2] == "| journal | 1,000 entries, SQLite | 1,000 | 2.00 s | 70 MiB | 500 | n |"
    assert lines[3].endswith("| — | — | — | — | skipped: x |")
