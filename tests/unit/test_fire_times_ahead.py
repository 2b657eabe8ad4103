"""Fire times computed ahead — one day's repeated, or in a forked worker — equal the inline
ones, at every edge, and the worker is cleaned up."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone

import pytest

from fund.schedule import _daily, cron_trigger, fire_times, fire_times_ahead

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("expr", ["*/5 * * * *", "0 9 * * 1-5", "30 0 1 * 0", "7 7 7 7 7"])
def test_the_worker_yields_exactly_the_inline_fire_times(expr: str) -> None:
    trigger = cron_trigger(expr)

    assert list(fire_times_ahead(trigger, START, END)) == list(fire_times(trigger, START, END))


def test_stopping_early_reaps_the_worker() -> None:
    children_before = _children()
    times = fire_times_ahead(cron_trigger("* * * * 1-5"), START, END)  # 61,000 times

    assert next(times) == START
    times.close()

    assert _children() == children_before


DAILY = ["* * * * *", "*/5 * * * *", "0 * * * *", "30 23 * * *", "*/15 * * * * *",
         "0 9,17 * * *", "59 23 * * *"]


@pytest.mark.parametrize("expr", DAILY)
@pytest.mark.parametrize(("start", "end"), [
    (START, END),  # whole days, a leap day inside
    (datetime(2024, 2, 28, 23, 59, 59, 999999, tzinfo=UTC),  # a microsecond before a day
     datetime(2024, 3, 1, 0, 0, tzinfo=UTC)),  # and ending exactly on a fire time
    (datetime(2024, 2, 29, 9, 0, tzinfo=UTC), datetime(2024, 2, 29, 9, 0, tzinfo=UTC)),
    (datetime(2024, 2, 29, 12, 0, 1, tzinfo=UTC), datetime(2024, 2, 29, 12, 0, 2, tzinfo=UTC)),
    (datetime(2023, 12, 31, 23, 0, tzinfo=UTC), datetime(2024, 1, 1, 1, 0, tzinfo=UTC)),
])
def test_a_schedule_that_fires_alike_every_day_repeats_one_days_times_exactly(
        expr: str, start: datetime, end: datetime) -> None:
    trigger = cron_trigger(expr)

    assert _daily(trigger) is not None  # the daily path, not the worker
    assert list(fire_times_ahead(trigger, start, end)) == list(fire_times(trigger, start, end))


@pytest.mark.parametrize("expr", ["0 9 * * 1-5", "0 0 1 * *", "0 0 * 2 *", "0 */6 1 * 1"])
def test_a_schedule_that_depends_on_the_day_is_not_repeated(expr: str) -> None:
    assert _daily(cron_trigger(expr)) is None


def test_a_window_given_in_another_zone_is_read_in_utc() -> None:
    trigger = cron_trigger("0 * * * *")
    start = START.astimezone(timezone(timedelta(hours=2))) + timedelta(minutes=30)

    assert list(fire_times_ahead(trigger, start, start + timedelta(hours=3))) == \
        list(fire_times(trigger, start, start + timedelta(hours=3)))


def test_an_empty_window_yields_nothing() -> None:
    assert list(fire_times_ahead(cron_trigger("0 0 1 1 *"), START.replace(month=2), END)) == []


def _children() -> set[str]:
    path = f"/proc/{os.getpid()}/task/{os.getpid()}/children"
    with open(path, encoding="ascii") as handle:
        return set(handle.read().split())
