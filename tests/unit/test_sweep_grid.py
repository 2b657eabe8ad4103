"""Sweep building blocks: grid parsing and expansion, sampling, keys, sorting, windows."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from agentfund.backtests.sweep import (
    Axis,
    Combination,
    combination,
    expand,
    grid_size,
    parse_axes,
    parse_grid,
    sample,
    split_values,
)
from agentfund.backtests.sweep_keys import FileHashes, code_version, config_hash
from agentfund.backtests.sweep_results import sort_runs, typed_values
from agentfund.backtests.sweep_runner import Run
from agentfund.backtests.walkforward import make_windows, parse_split
from fund.config import raw_config
from fund.errors import UsageError

AXES = (Axis("a", ("1", "2", "3")), Axis("b", ("x", "y")))


def test_values_split_at_top_level_commas_only() -> None:
    # Act
    values = split_values('0.1, [1,2], "a,b", {x = 1, y = 2}, \'c,d\'')
    # Assert
    assert values == ["0.1", "[1,2]", '"a,b"', "{x = 1, y = 2}", "'c,d'"]


def test_a_grid_axis_keeps_the_set_key_syntax() -> None:
    # Act
    axis = parse_grid('actors.r.params.weights."BTC/USDT"=0.1,0.2')
    # Assert
    assert axis == Axis('actors.r.params.weights."BTC/USDT"', ("0.1", "0.2"))


@pytest.mark.parametrize("spec", ["band", "=1,2", "a..b=1", "a=1,,2", "a=", "a=1,1"])
def test_malformed_grids_are_usage_errors(spec: str) -> None:
    # Act / Assert
    with pytest.raises(UsageError):
        parse_grid(spec)


def test_a_key_given_twice_is_a_usage_error() -> None:
    # Act / Assert
    with pytest.raises(UsageError, match="twice"):
        parse_axes(["a=1,2", "a=3"])


def test_expansion_is_row_major_with_the_last_axis_fastest() -> None:
    # Act
    combos = expand(AXES)
    # Assert
    assert grid_size(AXES) == 6
    assert [c.params for c in combos[:3]] == [
        (("a", "1"), ("b", "x")), (("a", "1"), ("b", "y")), (("a", "2"), ("b", "x"))]
    assert [c.index for c in combos] == list(range(6))
    assert combos[3].overrides() == ["a=2", "b=y"]


def test_sampling_is_without_replacement_and_the_same_for_a_seed() -> None:
    # Arrange
    axes = (Axis("a", tuple(str(i) for i in range(50))), Axis("b", tuple("pqrstuvw")))
    # Act
    first, again, other = sample(axes, 40, 7), sample(axes, 40, 7), sample(axes, 40, 8)
    # Assert
    indices = [c.index for c in first]
    assert len(set(indices)) == 40 and all(0 <= i < 400 for i in indices)
    assert indices == sorted(indices)
    assert first == again
    assert first != other
    assert all(c == combination(axes, c.index) for c in first)


def test_sampling_at_least_the_grid_gives_the_whole_grid() -> None:
    # Act / Assert
    assert sample(AXES, 6, 1) == expand(AXES) == sample(AXES, 99, 1)


def test_sampling_a_huge_grid_does_not_materialise_it() -> None:
    # Arrange: 10^12 combinations
    axes = tuple(Axis(f"k{i}", tuple(str(v) for v in range(1000))) for i in range(4))
    # Act
    picked = sample(axes, 5, 3)
    # Assert
    assert len({c.index for c in picked}) == 5


def test_numeric_axes_become_numbers_and_others_stay_text() -> None:
    # Act / Assert
    assert typed_values(Axis("a", ("1", "2.5"))) == {"1": 1.0, "2.5": 2.5}
    assert typed_values(Axis("a", ("1", "2"))) == {"1": 1, "2": 2}
    assert typed_values(Axis("a", ("1", "abc"))) == {"1": "1", "abc": "abc"}


def _run(index: int, sharpe: float | None, drawdown: float = 0.1) -> Run:
    summary = None if sharpe is None else {"sharpe": sharpe, "max_drawdown": drawdown}
    return Run(combo=Combination(index=index, params=()), start=None, end=None,
               summary=summary, error=None if summary else "boom")


def test_sorting_puts_the_best_first_in_the_metrics_direction_and_failures_last() -> None:
    # Arrange
    runs = [_run(0, 1.0, 0.3), _run(1, None), _run(2, 2.0, 0.2), _run(3, 2.0, 0.1)]
    # Act
    by_sharpe = [r.combo.index for r in sort_runs(runs, "sharpe")]
    by_drawdown = [r.combo.index for r in sort_runs(runs, "max_drawdown")]
    # Assert
    assert by_sharpe == [2, 3, 0, 1]  # ties in grid order
    assert by_drawdown == [3, 2, 0, 1]  # lower is better


def test_config_hash_follows_overrides_and_table_order(tmp_path: Path) -> None:
    # Arrange
    config = tmp_path / "f.toml"
    config.write_text('[w]\n"A" = 1\n"B" = 2\n')
    swapped = tmp_path / "g.toml"
    swapped.write_text('[w]\n"B" = 2\n"A" = 1\n')
    # Act
    plain = config_hash(raw_config(config, [], tmp_path))
    same = config_hash(raw_config(config, ["w.A=1"], tmp_path))
    changed = config_hash(raw_config(config, ["w.A=3"], tmp_path))
    reordered = config_hash(raw_config(swapped, [], tmp_path))
    # Assert
    assert plain == same
    assert changed != plain
    assert reordered != plain  # weights are traded in table order


def test_file_hashes_are_remembered_until_the_file_changes(tmp_path: Path) -> None:
    # Arrange
    data = tmp_path / "prices.csv"
    data.write_text("a")
    db = tmp_path / "cache.sqlite"
    first = FileHashes(db)
    digest = first.sha256(data)
    first.close()
    # Act: a fresh process-like reader finds it in the table without reading the file
    data_mtime = data.stat().st_mtime_ns
    remembered = FileHashes(db)
    stored = remembered.sha256(data)
    data.write_text("b")
    os.utime(data, ns=(data_mtime + 10**9, data_mtime + 10**9))
    changed = remembered.sha256(data)
    remembered.close()
    # Assert
    assert stored == digest
    assert changed != digest


def test_code_version_follows_the_code_that_decides_and_ignores_presentation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: a copy of the sources, so that editing them touches nothing real
    import shutil

    from agentfund.backtests import sweep_keys

    for directory in sweep_keys.SOURCE_DIRS:
        shutil.copytree(sweep_keys.ROOT / directory, tmp_path / directory,
                        ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(sweep_keys, "ROOT", tmp_path)
    compute = code_version.__wrapped__  # the hash itself, not the process's cached value
    before = compute()
    # Act
    (tmp_path / "fund" / "cli.py").write_text("# presentation only\n", encoding="utf-8")
    after_presentation = compute()
    rebalance = tmp_path / "strategies" / "rebalance.py"
    rebalance.write_text(rebalance.read_text() + "\n# a decision changed\n")
    after_strategy = compute()
    # Assert
    assert len(before) == 64
    assert after_presentation == before
    assert after_strategy != before


def test_walk_forward_windows_roll_by_the_test_length_without_overlap() -> None:
    # Arrange
    start = datetime(2024, 1, 1, tzinfo=UTC)
    day = timedelta(days=1)
    # Act
    windows = make_windows(start, start + 30 * day, 10 * day, 5 * day)
    # Assert
    assert [w.train_start for w in windows] == [start + k * 5 * day for k in range(4)]
    for w in windows:
        assert w.train_end < w.test_start <= w.test_end
        assert w.test_start - w.train_end == timedelta(microseconds=1)
        assert w.test_end <= start + 30 * day
    for before, after in pairwise(windows):
        assert after.test_start > before.test_end  # test windows tile, never overlap


def test_walk_forward_needs_a_whole_window() -> None:
    # Arrange
    start = datetime(2024, 1, 1, tzinfo=UTC)
    # Act / Assert
    assert make_windows(start, start + timedelta(days=14), timedelta(days=10),
                        timedelta(days=5)) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("60d:30d", (timedelta(days=60), timedelta(days=30))),
    ("2w:12h", (timedelta(weeks=2), timedelta(hours=12))),
])
def test_train_test_split_parses(text: str, expected: tuple[timedelta, timedelta]) -> None:
    # Act / Assert
    assert parse_split(text) == expected


@pytest.mark.parametrize("text", ["60d", "60:30", "0d:1d", "1y:1d", "1d:"])
def test_bad_split_is_a_usage_error(text: str) -> None:
    # Act / Assert
    with pytest.raises(UsageError):
        parse_split(text)


def test_a_sweep_key_follows_the_bytes_of_a_file_the_config_names(tmp_path: Path) -> None:
    """A scorer's lexicon is read by no data loader; a changed one must not hit the result
    the old one gave."""
    from agentfund.backtests.sweep import Planner, RunTask

    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("bullish\t2.0\t0.5\t[2, 2, 2]\n", encoding="utf-8")
    config = Path(__file__).resolve().parents[2] / "examples" / "sentiment.toml"
    scorer = 'actors.mentions.params.scorer={kind="vader", lexicon="lexicon.txt"}'
    combo = Combination(index=0, params=())

    def key() -> str:
        hashes = FileHashes(None)  # nothing remembered between the two
        planner = Planner(config=config, cwd=tmp_path, overrides=[scorer], hashes=hashes,
                          journals=None)
        task = planner.plan(combo, None, None)
        assert isinstance(task, RunTask), task
        return task.key

    before = key()
    assert key() == before
    lexicon.write_text("bullish\t-2.0\t0.5\t[-2, -2, -2]\n", encoding="utf-8")
    assert key() != before
