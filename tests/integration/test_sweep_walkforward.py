"""``fund sweep --walk-forward`` end to end, checked against the runs' own journals.

Three one-week-train / one-week-test windows over January 2024, three bands. The checks
do not trust the report: the windows are worked out here, the choice of each window is
re-derived from the training results, and the wake times are read from the kept journals.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fund.canonical import parse_ts
from fund.journal import EntryFilter, open_journal
from fund.messages import WAKE
from tests.conftest import EXAMPLES, run_fund

# timing-sensitive (real clocks, SIGKILL windows, cluster start-up): run alone, not beside
# other tests under pytest-xdist (make test runs the "serial" ones after the rest)
pytestmark = pytest.mark.serial

CONFIG = EXAMPLES / "rebalance.toml"
BAND = "actors.rebalancer.params.band"
TICK = timedelta(microseconds=1)
JAN = [datetime(2024, 1, day, tzinfo=UTC) for day in (1, 8, 15, 22, 29)]
EXPECTED = [(JAN[k], JAN[k + 1] - TICK, JAN[k + 1], JAN[k + 2] - TICK) for k in range(3)]


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the walk-forward once, on a LocalCluster started here, journals kept."""
    from distributed import LocalCluster

    base = tmp_path_factory.mktemp("walk")
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        proc = run_fund("sweep", str(CONFIG), "--grid", f"{BAND}=0.005,0.02,0.05",
                        "--start", "2024-01-01", "--end", "2024-01-28", "--walk-forward",
                        "7d:7d", "--keep-journals", "--scheduler", cluster.scheduler_address,
                        "--cache", str(base / "c.sqlite"), "--out", str(base / "out"),
                        "--json")
    assert proc.returncode == 0, proc.stderr
    with (base / "out" / "results.csv").open(encoding="utf-8") as handle:
        train = list(csv.DictReader(handle))
    yield {"report": json.loads(proc.stdout), "train": train, "out": base / "out"}


def wake_times(journal: str) -> list[datetime]:
    with open_journal(journal, must_exist=True) as store:
        return [parse_ts(e.ts) for e in store.read("rebalancer", EntryFilter(kinds=(WAKE,)))]


def test_the_windows_are_the_rolling_ones(walk: dict[str, Any]) -> None:
    # Act
    windows = walk["report"]["walk_forward"]["windows"]
    # Assert
    got = [tuple(datetime.fromisoformat(w[k]) for k in ("train_start", "train_end",
                                                         "test_start", "test_end"))
           for w in windows]
    assert got == EXPECTED
    assert len(walk["train"]) == 9 and {r["phase"] for r in walk["train"]} == {"train"}


def test_each_window_tests_the_best_training_combination(walk: dict[str, Any]) -> None:
    # Arrange
    windows = walk["report"]["walk_forward"]["windows"]
    for window in windows:
        rows = [r for r in walk["train"] if int(r["window"]) == window["window"]]
        # Act: re-derive the choice from the training results (ties: grid order)
        best = max(rows, key=lambda r: (float(r["sharpe"]), -rows.index(r)))
        # Assert
        assert float(window["params"][BAND]) == float(best[BAND])
        assert math.isclose(window["train_sharpe"], float(best["sharpe"]))


def test_test_wakes_never_overlap_the_training_they_were_chosen_on(
        walk: dict[str, Any]) -> None:
    # Arrange
    windows = walk["report"]["walk_forward"]["windows"]
    for window, (train_start, train_end, test_start, test_end) in zip(windows, EXPECTED,
                                                                      strict=True):
        rows = [r for r in walk["train"] if int(r["window"]) == window["window"]
                and float(r[BAND]) == float(window["params"][BAND])]
        # Act
        trained = wake_times(rows[0]["journal"])
        tested = wake_times(window["test_journal"])
        # Assert
        assert trained and tested
        assert train_start <= trained[0] and trained[-1] <= train_end
        assert test_start <= tested[0] and tested[-1] <= test_end
        assert trained[-1] < tested[0]


def test_the_out_of_sample_result_chains_the_test_windows(walk: dict[str, Any]) -> None:
    # Arrange
    wf = walk["report"]["walk_forward"]
    # Act
    chained = math.prod(1 + w["test_return"] for w in wf["windows"]) - 1
    # Assert
    assert wf["out_of_sample"]["windows"] == 3
    assert math.isclose(wf["out_of_sample"]["total_return"], chained, rel_tol=1e-9,
                        abs_tol=1e-12)


def test_a_kept_test_journal_verifies_with_its_head(walk: dict[str, Any]) -> None:
    # Arrange
    window = walk["report"]["walk_forward"]["windows"][0]
    # Act
    proc = run_fund("verify", window["test_journal"], "--head", window["test_head_hash"])
    # Assert
    assert proc.returncode == 0, proc.stderr
    assert "verified" in proc.stdout
