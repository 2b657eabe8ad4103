"""``fund sweep`` end to end: real Dask clusters, the real CLI in subprocesses.

Backtests here cover one or two weeks of the shipped sample data (hourly wakes), so each
combination takes a fraction of a second; most of a test's time is starting Dask.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.conftest import EXAMPLES, ROOT, run_fund

# timing-sensitive (real clocks, SIGKILL windows, cluster start-up): run alone, not beside
# other tests under pytest-xdist (make test runs the "serial" ones after the rest)
pytestmark = pytest.mark.serial

CONFIG = EXAMPLES / "rebalance.toml"
BAND = "actors.rebalancer.params.band"
FEE = "fund.fee_rate"
WEEK = ("--start", "2024-01-01", "--end", "2024-01-07")


def sweep(*args: str, cache: Path, out: Path) -> tuple[subprocess.CompletedProcess[str],
                                                        dict[str, Any] | None]:
    """Run ``fund sweep --json``; return the process and its JSON (None if it printed none)."""
    proc = run_fund("sweep", str(CONFIG), *args, "--cache", str(cache), "--out", str(out),
                    "--json")
    return proc, json.loads(proc.stdout) if proc.stdout.strip() else None


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A real Dask LocalCluster (2 worker processes), started here; its address."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 2x2 sweep on the default local cluster (2 workers), run once for several tests."""
    base = tmp_path_factory.mktemp("sweep")
    proc, report = sweep("--grid", f"{BAND}=0.01,0.03", "--grid", f"{FEE}=0.001,0.002",
                         *WEEK, "--workers", "2", cache=base / "cache.sqlite", out=base / "out")
    assert proc.returncode == 0, proc.stderr
    assert report is not None
    return {"report": report, "base": base}


def test_each_combination_has_the_head_hash_of_fund_backtest(grid_run: dict[str, Any],
                                                            tmp_path: Path) -> None:
    # Arrange
    report = grid_run["report"]
    row = next(r for r in report["results"] if r["params"] == {BAND: "0.03", FEE: "0.002"})
    # Act
    plain = run_fund("backtest", str(CONFIG), "--set", f"{BAND}=0.03", "--set", f"{FEE}=0.002",
                     *WEEK, "--out", str(tmp_path), "--json", "--no-report")
    # Assert
    assert plain.returncode == 0, plain.stderr
    assert row["head_hash"] == json.loads(plain.stdout)["head_hash"]
    assert row["status"] == "ok" and row["cached"] is False


def test_results_are_sorted_and_written_as_csv_parquet_and_heatmap(
        grid_run: dict[str, Any]) -> None:
    # Arrange
    report, out = grid_run["report"], grid_run["base"] / "out"
    # Act
    table = pq.read_table(out / "results.parquet").to_pylist()
    csv_lines = (out / "results.csv").read_text(encoding="utf-8").splitlines()
    page = (out / "heatmap.html").read_text(encoding="utf-8")
    # Assert
    assert (report["computed"], report["cached"], report["failed"]) == (4, 0, 0)
    sharpes = [r["sharpe"] for r in report["results"]]
    assert sharpes == sorted(sharpes, reverse=True)
    assert report["best"]["head_hash"] == report["results"][0]["head_hash"]
    assert [r["head_hash"] for r in table] == [r["head_hash"] for r in report["results"]]
    assert {(r[BAND], r[FEE]) for r in table} == {(0.01, 0.001), (0.01, 0.002), (0.03, 0.001),
                                                  (0.03, 0.002)}
    assert len(csv_lines) == 5 and "head_hash" in csv_lines[0]
    assert page.count("<rect") == 4
    assert "<script" not in page and "src=" not in page and "href=" not in page
    assert json.loads((out / "sweep.json").read_text())["results"] == report["results"]


def test_a_rerun_computes_nothing(grid_run: dict[str, Any]) -> None:
    # Arrange
    base = grid_run["base"]
    # Act
    proc, report = sweep("--grid", f"{BAND}=0.01,0.03", "--grid", f"{FEE}=0.001,0.002",
                         *WEEK, "--workers", "2", cache=base / "cache.sqlite",
                         out=base / "again")
    # Assert
    assert proc.returncode == 0, proc.stderr
    assert report is not None
    assert (report["computed"], report["cached"]) == (0, 4)
    assert ({r["head_hash"] for r in report["results"]}
            == {r["head_hash"] for r in grid_run["report"]["results"]})


def test_the_sweep_runs_on_a_cluster_given_by_address(scheduler: str, tmp_path: Path) -> None:
    # Act
    proc, report = sweep("--grid", f"{BAND}=0.01,0.03", "--grid", f"{FEE}=0.001,0.002", *WEEK,
                         "--scheduler", scheduler, cache=tmp_path / "c.sqlite",
                         out=tmp_path / "out")
    # Assert
    assert proc.returncode == 0, proc.stderr
    assert report is not None
    assert report["scheduler"] == scheduler and report["computed"] == 4


def test_failed_combinations_are_reported_not_fatal(scheduler: str, tmp_path: Path) -> None:
    # Arrange: band -1 fails validation; a cron that never fires fails in the worker
    never = '"0 0 31 2 *"'
    # Act
    proc, report = sweep("--grid", f"{BAND}=0.01,-1", "--grid",
                         f'actors.rebalancer.cron="0 * * * *",{never}', *WEEK,
                         "--scheduler", scheduler, cache=tmp_path / "c.sqlite",
                         out=tmp_path / "out")
    # Assert
    assert proc.returncode == 0, proc.stderr
    assert report is not None
    assert (report["succeeded"], report["failed"]) == (1, 3)
    errors = {(r["params"][BAND], r["params"]["actors.rebalancer.cron"]): r["error"]
              for r in report["results"] if r["status"] == "failed"}
    assert "band and min_notional must not be negative" in errors[("-1", '"0 * * * *"')]
    assert "never fires" in errors[("0.01", never)]
    assert report["results"][0]["status"] == "ok"


def test_exit_codes_all_failed_and_bad_grid(scheduler: str, tmp_path: Path) -> None:
    # Act
    failed, _ = sweep("--grid", f"{BAND}=-1,-2", *WEEK, "--scheduler", scheduler,
                      cache=tmp_path / "c.sqlite", out=tmp_path / "a")
    malformed, _ = sweep("--grid", "band", cache=tmp_path / "c.sqlite", out=tmp_path / "b")
    # Assert
    assert failed.returncode == 1 and "every combination failed" in failed.stderr
    assert malformed.returncode == 2 and "expected dotted.key=" in malformed.stderr


def _cached_count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return int(con.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_a_killed_sweep_resumes_with_only_the_missing_runs(tmp_path: Path) -> None:
    # Arrange: 10 combinations of two weeks each on one worker: a few seconds in all
    cache = tmp_path / "c.sqlite"
    grid = ["--grid", f"{BAND}=" + ",".join(f"0.0{i}" for i in range(1, 6)),
            "--grid", f"{FEE}=0.001,0.002", "--start", "2024-01-01", "--end", "2024-01-14",
            "--workers", "1"]
    child = subprocess.Popen(
        [sys.executable, "-m", "fund", "sweep", str(CONFIG), *grid, "--cache", str(cache),
         "--out", str(tmp_path / "a"), "--json"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 120
        while _cached_count(cache) < 2 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        # Act: kill the CLI, its scheduler and its workers (one process group) at once
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    done = _cached_count(cache)
    proc, report = sweep(*grid, cache=cache, out=tmp_path / "b")
    # Assert
    assert 2 <= done < 10, f"{done} of 10 finished before the kill"
    assert proc.returncode == 0, proc.stderr
    assert report is not None
    assert (report["cached"], report["computed"]) == (done, 10 - done)
