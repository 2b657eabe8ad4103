"""The record's own time inside a backtest (benchmarks/record_share.py): a real `fund
backtest` run with timers around the journal writer, the Decisions' encoding and the fold's
decoding. No time is asserted: only that every part was timed, that the parts add up, and
that the run's tables (the writer's on_stored callbacks) are kept out of the record."""

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


def test_it_says_how_to_use_it_without_arguments() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "record_share.py")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == ("python benchmarks/record_share.py FIGURES.json CONFIG "
                                   "--out DIR [fund backtest options]")
