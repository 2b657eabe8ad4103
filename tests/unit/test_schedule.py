"""Tests of fund.schedule: standard crontab(5) semantics on top of APScheduler 3.x triggers.

The property test at the end compares our fire times with an independent, brute-force
matcher written here from the Vixie-cron rules (minute by minute over a window).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fund.schedule import CronError, cron_days, cron_trigger, fire_times, fire_times_ahead

MINUTE = timedelta(minutes=1)
JAN_2024 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
SUN, MON, TUE, WED, THU, FRI, SAT = range(7)  # cron numbering


def cron_weekday(moment: datetime) -> int:
    """Cron's day-of-week number of a date: 0 = Sunday … 6 = Saturday."""
    return moment.isoweekday() % 7


def fires(expr: str, start: datetime, end: datetime) -> list[datetime]:
    return list(fire_times(cron_trigger(expr), start, end))


def fire_days(expr: str, days: int = 28, start: datetime = JAN_2024) -> list[datetime]:
    return fires(expr, start, start + timedelta(days=days))


# --------------------------------------------------------------------------------------
# (a) day-of-week numbering: cron counts 0 = 7 = Sunday, 1 = Monday


def test_weekday_1_is_monday_not_tuesday() -> None:
    # Arrange / Act
    times = fire_days("0 9 * * 1")

    # Assert: January 2024 Mondays are the 1st, 8th, 15th, 22nd and 29th
    assert [t.day for t in times] == [1, 8, 15, 22]  # window ends 2024-01-29 00:00
    assert all(cron_weekday(t) == MON and (t.hour, t.minute) == (9, 0) for t in times)


@pytest.mark.parametrize("expr", ["0 9 * * 0", "0 9 * * 7", "0 9 * * sun", "0 9 * * SUN"])
def test_weekday_0_and_7_are_sunday(expr: str) -> None:
    # Act
    times = fire_days(expr)

    # Assert
    assert [t.day for t in times] == [7, 14, 21, 28]
    assert {cron_weekday(t) for t in times} == {SUN}


@pytest.mark.parametrize("expr", ["0 0 * * 1-5", "0 0 * * mon-fri", "0 0 * * Mon-Fri",
                                  "0 0 * * 1,2,3,4,5", "0 0 * * mon,tue,wed-fri"])
def test_weekday_range_monday_to_friday(expr: str) -> None:
    # Act
    times = fire_days(expr, days=13)

    # Assert
    assert {cron_weekday(t) for t in times} == {MON, TUE, WED, THU, FRI}
    assert len(times) == 10


def test_weekday_every_second_day_is_sun_tue_thu_sat() -> None:
    # Act
    times = fire_days("0 0 * * */2", days=14)

    # Assert
    assert {cron_weekday(t) for t in times} == {SUN, TUE, THU, SAT}
    assert len(times) == 8


@pytest.mark.parametrize(("expr", "expected"), [
    ("0 0 * * 5-7", {FRI, SAT, SUN}),
    ("0 0 * * 6-7", {SAT, SUN}),
    ("0 0 * * 0-7", {SUN, MON, TUE, WED, THU, FRI, SAT}),
    ("0 0 * * sat,sun", {SAT, SUN}),
    ("0 0 * * 1-5/2", {MON, WED, FRI}),
    ("0 0 * * 7-7", {SUN}),
])
def test_weekday_ranges_ending_or_starting_at_7(expr: str, expected: set[int]) -> None:
    # Act
    times = fire_days(expr, days=14)

    # Assert
    assert {cron_weekday(t) for t in times} == expected


@pytest.mark.parametrize(("field", "expected"), [
    ("*", {0, 1, 2, 3, 4, 5, 6}),
    ("0", {SUN}),
    ("7", {SUN}),
    ("1", {MON}),
    ("1-5", {MON, TUE, WED, THU, FRI}),
    ("mon-fri", {MON, TUE, WED, THU, FRI}),
    ("*/2", {SUN, TUE, THU, SAT}),
    ("*/3", {SUN, WED, SAT}),
    ("5-7", {FRI, SAT, SUN}),
    ("sun,sat", {SUN, SAT}),
    ("0,7", {SUN}),
    ("7-7", {SUN}),
])
def test_cron_days_expands_to_cron_numbers(field: str, expected: set[int]) -> None:
    # Act / Assert
    assert cron_days(field, f"0 0 * * {field}") == expected


# --------------------------------------------------------------------------------------
# (b) day of month and day of week both restricted: either may match


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    # Act: the 1st of each month, and every Monday
    times = fires("0 0 1 * 1", datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 31, tzinfo=UTC))

    # Assert
    days = [(t.month, t.day) for t in times]
    assert days == [(2, 1), (2, 5), (2, 12), (2, 19), (2, 26),
                    (3, 1), (3, 4), (3, 11), (3, 18), (3, 25)]


def test_only_day_of_month_restricted_ignores_weekday() -> None:
    # Act
    times = fires("0 0 15 * *", JAN_2024, datetime(2024, 4, 1, tzinfo=UTC))

    # Assert
    assert [(t.month, t.day) for t in times] == [(1, 15), (2, 15), (3, 15)]


def test_day_of_month_step_is_a_star_field_so_both_must_match() -> None:
    # crontab(5): the OR rule applies only when both fields are restricted, i.e. do not
    # start with "*". "*/2" starts with "*", so "0 0 */2 * 1" means odd days AND Monday.
    # Act
    times = fire_days("0 0 */2 * 1", days=31)

    # Assert: Mondays in January 2024 that are odd days: the 1st, 15th and 29th
    assert [t.day for t in times] == [1, 15, 29]


def test_weekday_step_is_a_star_field_so_both_must_match() -> None:
    # "*/2" in the weekday field starts with "*": the 1st of the month AND Sun/Tue/Thu/Sat.
    # Act
    times = fires("0 0 1 * */2", JAN_2024, datetime(2024, 12, 31, tzinfo=UTC))

    # Assert: 2024 months whose 1st is a Sunday, Tuesday, Thursday or Saturday
    expected = [m for m in range(1, 13)
                if cron_weekday(datetime(2024, m, 1, tzinfo=UTC)) in {SUN, TUE, THU, SAT}]
    assert [t.month for t in times] == expected
    assert all(t.day == 1 for t in times)


def test_weekday_range_covering_the_whole_week_is_still_restricted() -> None:
    # "0-6" does not start with "*": it is restricted, so the OR rule applies and
    # "0 0 1 * 0-6" fires every day (Vixie cron, cronie, crontab(5)).
    # Act
    times = fire_days("0 0 1 * 0-6", days=6)

    # Assert
    assert [t.day for t in times] == [1, 2, 3, 4, 5, 6, 7]


def test_month_names() -> None:
    # Act
    times = fires("0 0 1 feb,apr-may *", JAN_2024, datetime(2024, 12, 31, tzinfo=UTC))

    # Assert
    assert [t.month for t in times] == [2, 4, 5]


def test_month_name_range_with_step() -> None:
    # crontab(5): "jan-may/2" is January, March and May (step applies to named ranges too)
    # Act
    times = fires("0 0 1 jan-may/2 *", JAN_2024, datetime(2024, 12, 31, tzinfo=UTC))

    # Assert
    assert [t.month for t in times] == [1, 3, 5]


def test_month_name_range_with_bad_step_is_rejected() -> None:
    # Act / Assert
    with pytest.raises(CronError):
        cron_trigger("0 0 1 jan-may/x *")


# --------------------------------------------------------------------------------------
# (c) fire_times: inclusive bounds, ascending, UTC-aware


def test_fire_times_includes_both_bounds_when_they_are_fire_times() -> None:
    # Arrange
    start = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    end = datetime(2024, 3, 1, 11, 0, tzinfo=UTC)

    # Act
    times = fires("*/15 * * * *", start, end)

    # Assert
    assert times == [start + timedelta(minutes=15 * k) for k in range(5)]


def test_fire_times_excludes_moments_outside_the_bounds() -> None:
    # Arrange: bounds just after and just before fire times
    start = datetime(2024, 3, 1, 10, 0, 0, 1, tzinfo=UTC)
    end = datetime(2024, 3, 1, 10, 59, 59, tzinfo=UTC)

    # Act
    times = fires("*/15 * * * *", start, end)

    # Assert
    assert [t.minute for t in times] == [15, 30, 45]


def test_fire_times_are_ascending_distinct_and_utc_aware() -> None:
    # Arrange: an OrTrigger (both day fields restricted) whose parts fire on the same day
    start = datetime(2024, 4, 1, tzinfo=UTC)  # a Monday and the 1st

    # Act
    times = fires("0 */6 1 * 1", start, start + timedelta(days=10))

    # Assert
    assert times == sorted(set(times))
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)
    assert times[:4] == [start + timedelta(hours=h) for h in (0, 6, 12, 18)]
    assert times[4] == datetime(2024, 4, 8, tzinfo=UTC)


def test_fire_times_with_non_utc_bounds() -> None:
    # Arrange: 10:00 in UTC+02:00 is 08:00 UTC
    tz = timezone(timedelta(hours=2))
    start = datetime(2024, 3, 1, 10, 0, tzinfo=tz)

    # Act
    times = fires("0 8 * * *", start, start + timedelta(days=1))

    # Assert: the schedule is in UTC; results are UTC
    assert times == [datetime(2024, 3, 1, 8, tzinfo=UTC), datetime(2024, 3, 2, 8, tzinfo=UTC)]
    assert all(t.tzinfo == UTC for t in times)


def test_fire_times_empty_window() -> None:
    # Arrange
    start = datetime(2024, 3, 1, 10, 1, tzinfo=UTC)

    # Act / Assert
    assert fires("0 * * * *", start, start + timedelta(minutes=58)) == []


def test_fire_times_is_lazy_and_restartable() -> None:
    # Arrange
    trigger = cron_trigger("0 0 * * *")

    # Act
    first = next(iter(fire_times(trigger, JAN_2024, JAN_2024 + timedelta(days=365))))
    again = list(fire_times(trigger, JAN_2024, JAN_2024 + timedelta(days=2)))

    # Assert: the trigger keeps no state between calls
    assert first == JAN_2024
    assert again == [JAN_2024, JAN_2024 + timedelta(days=1), JAN_2024 + timedelta(days=2)]


def test_fire_times_crosses_month_and_leap_day() -> None:
    # Act
    times = fires("30 23 * * *", datetime(2024, 2, 27, tzinfo=UTC),
                  datetime(2024, 3, 2, tzinfo=UTC))

    # Assert
    assert [(t.month, t.day) for t in times] == [(2, 27), (2, 28), (2, 29), (3, 1)]


@pytest.mark.parametrize(("expr", "days"), [
    ("* * * * 1-5", 4),  # 5040 times: more than one 4096-time chunk from the worker
    ("0 */6 1 * 1", 40),  # an OrTrigger
    ("30 23 * * *", 0),  # empty window
])
def test_fire_times_ahead_yields_the_same_times(expr: str, days: int) -> None:
    # Arrange
    trigger = cron_trigger(expr)
    start = datetime(2024, 2, 27, 12, tzinfo=UTC)
    end = start + timedelta(days=days)

    # Act
    ahead = list(fire_times_ahead(trigger, start, end))

    # Assert
    assert ahead == list(fire_times(trigger, start, end))
    assert all(t.utcoffset() == timedelta(0) for t in ahead)


def test_fire_times_ahead_can_be_abandoned_without_leaving_a_child() -> None:
    # Arrange
    times = fire_times_ahead(cron_trigger("* * * * 1-5"), JAN_2024,
                             JAN_2024 + timedelta(days=60))

    # Act
    first = list(itertools.islice(times, 3))
    times.close()

    # Assert
    assert first == [JAN_2024 + k * MINUTE for k in range(3)]
    try:
        reaped, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        reaped = 0
    assert reaped == 0, "an exited worker was left unreaped"


# --------------------------------------------------------------------------------------
# (d) malformed expressions


@pytest.mark.parametrize("expr", [
    "",
    "* * * *",
    "* * * * * * *",
    "0 9 * * 8",
    "0 9 * * funday",
    "0 9 * * 5-1",
    "0 9 * * fri-mon",
    "0 9 * * */0",
    "0 9 * * 1/x",
    "0 9 * * 1-",
    "0 9 * * 1,",
    "61 * * * *",
    "5-3 * * * *",
    "*/0 * * * *",
    "*/x * * * *",
    "0 24 * * *",
    "0 0 0 * *",
    "0 0 32 * *",
    "0 0 * 0 *",
    "0 0 * 13 *",
    "a * * * *",
])
def test_malformed_expressions_raise_cron_error_naming_the_expression(expr: str) -> None:
    # Act
    with pytest.raises(CronError) as info:
        cron_trigger(expr)

    # Assert
    assert repr(expr) in str(info.value)
    assert isinstance(info.value, ValueError)


# --------------------------------------------------------------------------------------
# (e) property: our fire times equal a brute-force Vixie-cron matcher

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
               "dec")


def _value(token: str, names: tuple[str, ...], offset: int) -> int:
    token = token.lower()
    return names.index(token) + offset if token in names else int(token)


def parse_field(text: str, low: int, high: int, names: tuple[str, ...] = (),
                name_offset: int = 0) -> set[int]:
    """Expand one cron field (Vixie cron get_list / get_range) into its set of values."""
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            first, last = _value(a, names, name_offset), _value(b, names, name_offset)
        else:
            first = last = _value(body, names, name_offset)
        values.update(range(first, last + 1, step))
    return values


@dataclass(frozen=True)
class CronSpec:
    """A crontab entry parsed by the brute-force reference."""

    minutes: set[int]
    hours: set[int]
    doms: set[int]
    months: set[int]
    dows: set[int]
    dom_star: bool
    dow_star: bool

    @classmethod
    def parse(cls, expr: str) -> CronSpec:
        minute, hour, dom, month, dow = expr.split()
        dows = {d % 7 for d in parse_field(dow, 0, 7, DAY_NAMES)}  # Vixie: 0..7, 7 -> 0
        return cls(minutes=parse_field(minute, 0, 59), hours=parse_field(hour, 0, 23),
                   doms=parse_field(dom, 1, 31), months=parse_field(month, 1, 12, MONTH_NAMES, 1),
                   dows=dows, dom_star=dom.startswith("*"), dow_star=dow.startswith("*"))

    def matches(self, moment: datetime) -> bool:
        if not (moment.minute in self.minutes and moment.hour in self.hours
                and moment.month in self.months):
            return False
        dom_ok = moment.day in self.doms
        dow_ok = cron_weekday(moment) in self.dows
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok


def brute_force(expr: str, start: datetime, end: datetime) -> list[datetime]:
    spec = CronSpec.parse(expr)
    return [m for m in minutes(start, end) if spec.matches(m)]


def minutes(start: datetime, end: datetime) -> Iterator[datetime]:
    moment = start
    while moment <= end:
        yield moment
        moment += MINUTE


def test_brute_force_reference_sanity() -> None:
    # The reference itself on hand-checked cases (so a bug in it cannot mask one in ours)
    day = datetime(2024, 1, 1, tzinfo=UTC)
    assert len(brute_force("* * * * *", day, day + timedelta(hours=1))) == 61
    assert brute_force("0 0 1 * 1", day, day + timedelta(days=9)) == [
        day, day + timedelta(days=7)]
    assert brute_force("0 0 */2 * 1", day, day + timedelta(days=15)) == [
        day, day + timedelta(days=14)]
    assert CronSpec.parse("0 0 * * 5-7").dows == {FRI, SAT, SUN}
    assert CronSpec.parse("0 0 * * 7-7").dows == {SUN}
    assert CronSpec.parse("0 0 * mar-may/2 *").months == {3, 5}


def _step(data: st.DataObject, span: int) -> str:
    # steps no larger than the range they step through: APScheduler rejects larger ones
    # ("*/60", "5-5/3"), which Vixie cron accepts; that difference is left out here
    if span < 1 or not data.draw(st.booleans(), label="has step"):
        return ""
    return f"/{data.draw(st.integers(1, span), label='step')}"


def field(data: st.DataObject, low: int, high: int, *, near: list[int] | None = None,
          star_weight: int = 2) -> str:
    """Draw one numeric cron field: '*', '*/n', or a list of values / ranges / stepped ranges."""
    kind = data.draw(st.sampled_from(["*"] * star_weight + ["*/n", "list", "list", "near"]),
                     label="field kind")
    if kind == "*":
        return "*"
    if kind == "*/n":
        return f"*/{data.draw(st.integers(1, high - low), label='star step')}"
    values = st.integers(low, high)
    if kind == "near" and near:
        values = st.sampled_from(near)
    parts = []
    for _ in range(data.draw(st.integers(1, 3), label="list length")):
        if data.draw(st.booleans(), label="range?"):
            a, b = sorted((data.draw(values), data.draw(values)))
            parts.append(f"{a}-{b}{_step(data, b - a)}")
        else:
            parts.append(str(data.draw(values)))
    return ",".join(parts)


def weekday_field(data: st.DataObject) -> str:
    """Draw a weekday field: numbers 0-7 and names, '*', '*/n', ranges, steps, lists."""
    kind = data.draw(st.sampled_from(["*", "*", "*/n", "list", "list", "list"]), label="dow")
    if kind == "*":
        return "*"
    if kind == "*/n":
        return f"*/{data.draw(st.integers(1, 7), label='dow star step')}"

    def token(number: int) -> str:
        if number < 7 and data.draw(st.booleans(), label="as name"):
            name = DAY_NAMES[number]
            return data.draw(st.sampled_from([name, name.upper(), name.title()]))
        return str(number)

    parts = []
    for _ in range(data.draw(st.integers(1, 3), label="dow list length")):
        if data.draw(st.booleans(), label="dow range?"):
            a, b = sorted((data.draw(st.integers(0, 7)), data.draw(st.integers(0, 7))))
            parts.append(f"{token(a)}-{token(b)}{_step(data, max(b - a, 1))}")
        else:
            parts.append(token(data.draw(st.integers(0, 7))))
    return ",".join(parts)


@st.composite
def cron_cases(draw: st.DrawFn) -> tuple[str, datetime, datetime]:
    """A valid cron expression and a window of up to two days starting in 2024."""
    data = draw(st.data())
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(
        minutes=draw(st.integers(0, 365 * 24 * 60), label="start minute"))
    end = start + timedelta(minutes=draw(st.integers(0, 2 * 24 * 60), label="window minutes"))
    window_days = sorted({d.day for d in (start, end, start + (end - start) / 2)})
    minute = field(data, 0, 59, star_weight=1)
    hour = field(data, 0, 23, near=[start.hour, end.hour])
    # days 1-28 only: an impossible date (e.g. 30 February) makes APScheduler search to
    # the year 9999 on every call, which is correct but too slow for a property test
    day = field(data, 1, 28, near=[d for d in window_days if d <= 28] or [1], star_weight=3)
    month = field(data, 1, 12, near=[start.month, end.month], star_weight=4)
    if month != "*" and data.draw(st.booleans(), label="month by name"):
        month = re.sub(r"(?<![/\d])\d+", lambda m: MONTH_NAMES[int(m[0]) - 1], month)
    return f"{minute} {hour} {day} {month} {weekday_field(data)}", start, end


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cron_cases())
@example(("0 12 */2 * 1", JAN_2024, JAN_2024 + timedelta(days=3)))
@example(("0 12 1 * 0-6", JAN_2024, JAN_2024 + timedelta(days=3)))
@example(("0 12 * * 5-7", JAN_2024, JAN_2024 + timedelta(days=7)))
def test_fire_times_match_brute_force_vixie_cron(case: tuple[str, datetime, datetime]) -> None:
    # Arrange
    expr, start, end = case
    expected = brute_force(expr, start, end)

    # Act
    actual = fires(expr, start, end)

    # Assert
    assert actual == expected, f"{expr!r} from {start} to {end}"


def test_a_sixth_field_in_front_gives_seconds() -> None:
    start = datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)
    every_second = list(fire_times(cron_trigger("* * * * * *"), start,
                                   start + timedelta(seconds=3)))
    every_fifteen = list(fire_times(cron_trigger("*/15 * * * * *"), start,
                                    start + timedelta(minutes=1)))

    assert every_second == [start + timedelta(seconds=s) for s in range(4)]
    assert [t.second for t in every_fifteen] == [0, 15, 30, 45, 0]
