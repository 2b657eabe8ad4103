"""The issue-18 benchmark's judging and formatting (benchmarks/targets.py): no processes,
no timing — made-up samples in, rows and verdicts out."""

from __future__ import annotations

import pytest

from benchmarks import targets


def test_the_ratio_is_the_median_of_the_pairwise_ratios() -> None:
    # Arrange: three pairs whose ratios are 0.5, 0.6 and 2.0 (one disturbed pair)
    a, b = [1.0, 1.2, 4.0], [2.0, 2.0, 2.0]

    # Act
    ratio = targets.median_ratio(a, b)

    # Assert: the outlier does not move the median, unlike a ratio of medians (1.2/2.0)
    assert ratio == pytest.approx(0.6)


def test_unpaired_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="as many"):
        targets.median_ratio([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        targets.median_ratio([], [])


def test_a_time_row_is_met_at_or_under_its_limit() -> None:
    met = targets.time_row("W1 hourly", [0.65, 0.65], [1.0, 1.0], 0.65)
    missed = targets.time_row("W1 hourly", [0.7], [1.0], 0.65)

    assert (met.met, missed.met) == (True, False)
    assert met.target == "≤ 0.65 × today"
    assert (met.a, met.b) == (0.65, 1.0)


def test_a_rate_row_compares_speeds_not_times() -> None:
    # Arrange: B verifies in 3 s, A in 1 s: A replays 3 × as many entries a second
    row = targets.rate_row("verify", 150_000, [1.0, 1.0], [3.0, 3.0], 2.5)

    assert row.ratio == pytest.approx(3.0)
    assert row.met is True
    assert (row.a, row.b) == (150_000, 50_000)


def test_the_floor_row_divides_by_the_floor_loop() -> None:
    # Arrange: a floor time after each of A's runs; pairwise ratios 2.0, 2.0, 2.5
    row = targets.floor_row("W1-5m vs floor", [2.5, 3.0, 2.5], [1.25, 1.5, 1.0], 157_753)

    assert row.ratio == pytest.approx(2.0)
    assert row.met is True
    assert (row.a, row.b) == (2.5, 1.25)
    assert "126,202 entries/s" in row.note


def test_a_floor_row_with_a_note_is_shown_not_judged() -> None:
    # the record's own time in three runs over the floor: pairwise 0.8, 0.9, 1.0
    row = targets.floor_row("record vs floor", [0.4, 0.45, 0.5], [0.5, 0.5, 0.5], 157_753,
                            note="shown, not the target")

    assert row.ratio == pytest.approx(0.9)
    assert (row.met, row.target, row.note) == (None, "", "shown, not the target")
    assert "record vs floor" in targets.format_rows([row], "585aef6")


def test_a_skipped_row_is_not_judged_and_says_why() -> None:
    row = targets.skipped("sentiment", "≤ 0.45 × today", "needs ../shared")

    assert row.met is None
    assert targets.verdict(row.met) == "—"
    assert "needs ../shared" in targets.format_rows([row], "585aef6")


def test_the_table_shows_both_sides_the_ratio_and_the_verdict() -> None:
    rows = [targets.time_row("W1 hourly", [0.8], [1.6], 0.65),
            targets.own_ratio_row("re-run", [4.0], [10.0], 0.5, "≤ 0.5 × its own first run",
                                  b_ratio=0.98)]

    text = targets.format_rows(rows, "585aef6")

    lines = text.splitlines()
    assert lines[0].startswith("| workload | B = 585aef6 (today) | A = this checkout")
    assert lines[2] == "| W1 hourly | 1.60 s | 0.80 s | **0.500** | ≤ 0.65 × today | yes |"
    assert lines[3] == "| re-run | 0.980 | 0.400 | **0.400** | ≤ 0.5 × its own first run | yes |"


def test_the_ui_rows_judge_the_first_start_and_the_grown_journal() -> None:
    from benchmarks.ui_start import ui_table

    # Arrange: one round a side, seconds per start (A checkpoints, B refolds)
    def round_(first: float, restart: float, grown: float) -> dict[str, dict[str, float]]:
        return {"ui: first start (as the backtest left it)": {"seconds": first},
                "ui: restart": {"seconds": restart},
                "ui: start after +100,000 entries": {"seconds": grown},
                "status: restart": {"seconds": restart / 2}}

    sides = ([round_(1.5, 0.5, 0.52)], [round_(10.0, 1.0, 1.2)])

    # Act
    rows = {row.name: row for row in ui_table(sides, 100_000)}

    # Assert
    first = rows["`fund ui`, 1M entries, first start to first Overview"]
    assert first.ratio == pytest.approx(0.15)
    assert first.met is True
    assert rows["`fund status`: restart"].met is None  # shown, not judged
    grown = rows["`fund ui` start after +100,000 entries ÷ restart before"]
    assert grown.a == pytest.approx(1.04)
    assert grown.b == pytest.approx(1.2)
    assert grown.met is True
