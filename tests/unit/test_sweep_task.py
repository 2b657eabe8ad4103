"""Planning sweep tasks and running one in-process (no Dask): keys, errors, the code guard."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from agentfund.backtests.sweep import Combination, Planner, RunTask, run_task
from agentfund.backtests.sweep_keys import FileHashes
from tests.conftest import EXAMPLES

CONFIG = EXAMPLES / "rebalance.toml"
BAND = "actors.rebalancer.params.band"


def planner(tmp_path: Path) -> Planner:
    return Planner(config=CONFIG, cwd=tmp_path, overrides=(), hashes=FileHashes(None),
                   journals=None)


def combo(*params: tuple[str, str]) -> Combination:
    return Combination(index=0, params=params)


def test_equal_values_written_differently_share_one_key(tmp_path: Path) -> None:
    # Arrange
    plan = planner(tmp_path)
    # Act
    first = plan.plan(combo((BAND, "0.01")), None, None)
    same = plan.plan(combo((BAND, "0.010")), None, None)
    other = plan.plan(combo((BAND, "0.02")), None, None)
    # Assert
    assert isinstance(first, RunTask) and isinstance(same, RunTask)
    assert isinstance(other, RunTask)
    assert first.key == same.key != other.key


def test_the_period_is_part_of_the_key(tmp_path: Path) -> None:
    # Arrange
    plan = planner(tmp_path)
    # Act
    whole = plan.plan(combo((BAND, "0.01")), None, None)
    january = plan.plan(combo((BAND, "0.01")), datetime(2024, 1, 1, tzinfo=UTC), None)
    # Assert
    assert isinstance(whole, RunTask) and isinstance(january, RunTask)
    assert whole.key != january.key


def test_an_invalid_combination_is_a_reason_not_a_task(tmp_path: Path) -> None:
    # Act
    negative = planner(tmp_path).plan(combo((BAND, "-1")), None, None)
    text_weight = planner(tmp_path).plan(
        combo(('actors.rebalancer.params.weights."BTC/USDT"', "lots")), None, None)
    # Assert
    assert isinstance(negative, str) and "must not be negative" in negative
    assert isinstance(text_weight, str) and "weights" in text_weight


def test_a_worker_with_other_code_refuses_the_task(tmp_path: Path) -> None:
    # Arrange
    task = planner(tmp_path).plan(combo((BAND, "0.01")), None, None)
    assert isinstance(task, RunTask)
    # Act
    result = run_task(replace(task, code="0" * 64))
    # Assert
    assert "runs other code" in result["error"]


def test_a_task_keeps_its_journal_only_when_asked(tmp_path: Path) -> None:
    # Arrange
    journals = tmp_path / "journals"
    journals.mkdir()
    plan = Planner(config=CONFIG, cwd=tmp_path, overrides=(), hashes=FileHashes(None),
                   journals=journals)
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC)
    task = plan.plan(combo((BAND, "0.01")), start, end, curve=True)
    assert isinstance(task, RunTask) and task.journal is not None
    # Act
    kept = run_task(task)
    in_memory = run_task(replace(task, journal=None))
    # Assert
    assert Path(task.journal).is_file()
    assert kept["summary"]["journal"] == task.journal
    assert in_memory["summary"]["journal"] is None
    assert kept["summary"]["head_hash"] == in_memory["summary"]["head_hash"]
    times, nav = kept["curve"]
    assert len(times) == len(nav) > 40
