"""Fire times computed ahead in a forked worker equal the inline ones, and clean up."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from fund.schedule import cron_trigger, fire_times, fire_times_ahead

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("expr", ["*/5 * * * *", "0 9 * * 1-5", "30 0 1 * 0", "7 7 7 7 7"])
def test_the_worker_yields_exactly_the_inline_fire_times(expr: str) -> None:
    trigger = cron_trigger(expr)

    assert list(fire_times_ahead(trigger, START, END)) == list(fire_times(trigger, START, END))


def test_stopping_early_reaps_the_worker() -> None:
    children_before = _children()
    times = fire_times_ahead(cron_trigger("* * * * *"), START, END)  # 87,000 times

    assert next(times) == START
    times.close()

    assert _children() == children_before


def test_an_empty_window_yields_nothing() -> None:
    assert list(fire_times_ahead(cron_trigger("0 0 1 1 *"), START.replace(month=2), END)) == []


def _children() -> set[str]:
    path = f"/proc/{os.getpid()}/task/{os.getpid()}/children"
    with open(path, encoding="ascii") as handle:
        return set(handle.read().split())
