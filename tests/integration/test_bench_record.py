"""The record's own time inside a backtest (benchmarks/record_share.py): a real `fund
backtest` run with timers around the journal writer, the Decisions' encoding and the fold's
decoding, and around the strategy's own on_wake, the wake loop and the report. No time is
asserted: only that every part was timed, that the parts add up, that the run's tables
(the writer's on_stored callbacks) are kept out of the record, and that the timers change
nothing the run records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fund.journal import open_journal
from tests.conftest import EXAMPLES, ROOT


def test_the_record_is_timed_in_its_parts_inside_a_real_backtest(tmp_path: Path) -> None:
    figures, out = tmp_path / "record.json", tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "record_share.py"), str(figures),
         str(EXAMPLES / "rebalance.toml"), "--out", str(out), "--no-cache", "--no-report",
         "--start", "2024-01-01", "--end", "2024-01-02"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(figures.read_text())

    parts = [result["writer_s"], result["decision_text_s"], result["fold_decode_s"]]
    assert all(part > 0 for part in parts)
    assert result["record_s"] == sum(parts)
    assert result["on_stored_s"] > 0 and result["record_s"] < result["command_s"]
    with open_journal(str(out / "journal.db"), must_exist=True) as journal:
        head = journal.head("rebalancer")
    assert head is not None and head.kind == "End"  # the run itself is whole
    assert result["report_s"] == 0.0  # --no-report


def test_the_bound_is_the_process_less_its_loop_but_the_strategy_and_the_record(
        tmp_path: Path) -> None:
    figures, out = tmp_path / "record.json", tmp_path / "out"
    period = ["--start", "2024-01-01", "--end", "2024-01-03"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "record_share.py"), str(figures),
         str(EXAMPLES / "rebalance.toml"), "--out", str(out), "--no-cache", *period],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    r = json.loads(figures.read_text())

    assert 0 < r["strategy_s"] < r["loop_s"] and r["report_s"] > 0 and r["plan_s"] > 0
    assert 0 < r["record_in_loop_s"] <= r["record_s"]  # the writer's close is after the loop
    assert r["strategy_s"] + r["record_in_loop_s"] < r["loop_s"]
    assert r["before_command_s"] > 0
    assert r["outside_loop_s"] == r["before_command_s"] + r["command_s"] - r["loop_s"]
    assert r["outside_loop_s"] > r["report_s"] + r["plan_s"]
    assert r["bound_s"] == r["outside_loop_s"] + r["strategy_s"] + r["record_in_loop_s"]
    # the same run without the timers records the same entries
    plain = subprocess.run([sys.executable, "-m", "fund", "backtest",
                            str(EXAMPLES / "rebalance.toml"), "--out", str(tmp_path / "plain"),
                            "--no-cache", *period],
                           cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert plain.returncode == 0, plain.stderr
    heads = []
    for run in (out, tmp_path / "plain"):
        with open_journal(str(run / "journal.db"), must_exist=True) as journal:
            head = journal.head("rebalancer")
            assert head is not None
            heads.append((head.seq, head.hash))
    assert heads[0] == heads[1]


def test_it_says_how_to_use_it_without_arguments() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "record_share.py")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == ("python benchmarks/record_share.py FIGURES.json CONFIG "
                                   "--out DIR [fund backtest options]")
