"""Cron schedules: standard 5-field cron, evaluated by APScheduler 3.x triggers.

Two differences between cron and APScheduler's ``CronTrigger.from_crontab`` are fixed
here so that an expression means what it means in crontab(5):

* day-of-week numbers: cron counts 0 = Sunday (7 also Sunday); APScheduler counts
  0 = Monday. Numbers, ranges and steps are expanded and written as day names.
* day-of-month *and* day-of-week both restricted: cron fires when *either* matches;
  APScheduler requires both. Such expressions become an ``OrTrigger`` of the two.

The daemon and the backtest use the same trigger objects; a backtest asks the trigger
for its fire times on the simulated clock.
"""

from __future__ import annotations

import os
import re
from array import array
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_ONE_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 4096
_FIRST_CHUNK = 64


class CronError(ValueError):
    """A cron expression is malformed."""


_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                "dec")
_MONTH_NAME = re.compile(r"[a-z]{3}", re.IGNORECASE)


def _day_number(token: str, expr: str) -> int:
    """Cron day number 0-7 (0 and 7 = Sunday) of a day name or number."""
    text = token.strip().lower()
    if text in _DAY_NAMES:
        return _DAY_NAMES.index(text)
    if text.isdecimal() and text.isascii() and 0 <= int(text) <= 7:
        return int(text)
    raise CronError(f"cron {expr!r}: bad day of week {token!r} (0-7 or sun-sat)")


def _month_numbers(field: str, expr: str) -> str:
    """Write month names as numbers (APScheduler drops a step after a name range)."""
    def number(match: re.Match[str]) -> str:
        name = match.group(0).lower()
        if name not in _MONTH_NAMES:
            raise CronError(f"cron {expr!r}: bad month {match.group(0)!r}")
        return str(_MONTH_NAMES.index(name) + 1)

    return _MONTH_NAME.sub(number, field)


def cron_days(field: str, expr: str) -> set[int]:
    """Expand a cron day-of-week field into cron day numbers (0 = Sunday)."""
    days: set[int] = set()
    for part in field.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdecimal() and step_text.isascii() and \
            int(step_text) > 0 else None
        if step_text and step is None:
            raise CronError(f"cron {expr!r}: bad step {step_text!r} in day of week")
        if body == "*":
            first, last = 0, 6
        elif "-" in body:
            low, _, high = body.partition("-")
            first, last = _day_number(low, expr), _day_number(high, expr)
            if last < first:
                raise CronError(f"cron {expr!r}: day-of-week range {body!r} runs backwards")
        else:
            first = last = _day_number(body, expr)
            if step is not None:
                last = 7
        days.update(day % 7 for day in range(first, last + 1, step or 1))
    return days


def _dow_field(field: str, expr: str) -> str:
    days = cron_days(field, expr)
    if len(days) == 7:
        return "*"
    return ",".join(_DAY_NAMES[day] for day in sorted(days))


def cron_trigger(expr: str) -> BaseTrigger:
    """Build the APScheduler trigger (UTC) for a cron expression.

    Five fields are standard cron (minute hour day month weekday); a sixth field in front
    gives seconds, for schedules finer than a minute (``*/1 * * * * *``: every second).
    """
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise CronError(f"cron {expr!r}: expected 5 fields (minute hour day month weekday), "
                        "or 6 with seconds first")
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, cron_weekday = fields
    weekday = _dow_field(cron_weekday, expr)
    month = _month_numbers(month, expr)
    try:
        # crontab(5): when both day fields are restricted (neither starts with *), either
        # may match; otherwise both must (a field starting with * matches every day)
        if not day.startswith("*") and not cron_weekday.startswith("*"):
            return OrTrigger([
                CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                            timezone=UTC),
                CronTrigger(second=second, minute=minute, hour=hour, month=month,
                            day_of_week=weekday, timezone=UTC),
            ])
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                           day_of_week=weekday, timezone=UTC)
    except ValueError as exc:
        raise CronError(f"cron {expr!r}: {exc}") from None


def fire_times(trigger: BaseTrigger, start: datetime, end: datetime) -> Iterator[datetime]:
    """Yield the trigger's fire times t with start <= t <= end, in order."""
    previous: datetime | None = None
    now = start
    while True:
        moment = trigger.get_next_fire_time(previous, now)
        if moment is None or moment > end:
            return
        yield moment.astimezone(UTC)
        previous = moment
        now = moment + _ONE_MICROSECOND


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _ONE_MICROSECOND


def _produce(trigger: BaseTrigger, start: datetime, end: datetime, fd: int) -> None:
    """Child side: write fire times as native int64 microseconds since the epoch."""
    buffer = array("q")
    chunk = _FIRST_CHUNK  # a small first chunk: the caller starts while the rest is computed
    for moment in fire_times(trigger, start, end):
        buffer.append(_micros(moment))
        if len(buffer) == chunk:
            os.write(fd, buffer.tobytes())
            buffer, chunk = array("q"), _CHUNK
    data = buffer.tobytes()
    while data:
        data = data[os.write(fd, data):]


def fire_times_ahead(trigger: BaseTrigger, start: datetime,
                     end: datetime) -> Generator[datetime, None, None]:
    """Yield the same times as :func:`fire_times`, computed ahead in a forked process.

    Evaluating a CronTrigger costs ~16 µs a fire time; a backtest over 50,000 wakes would
    spend most of a second on it. A schedule whose day, month and weekday fields are all
    ``*`` fires at the same times of every (UTC) day: the trigger is asked for one day's
    and they are repeated, exactly. Any other schedule runs in a forked child, on the other
    core, streaming the times through a pipe while the caller works through them (inline
    where fork is unavailable).
    """
    daily = _daily(trigger)
    if daily is not None:  # the same times every day: one day's, repeated
        yield from _every_day(daily, start, end)
        return
    if not hasattr(os, "fork"):
        yield from fire_times(trigger, start, end)
        return
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: compute, write, exit without running any parent cleanup
        status = 1
        try:
            os.close(read_fd)
            _produce(trigger, start, end, write_fd)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    yield from _consume(read_fd, pid)


_EVERY_DAY = frozenset({"year", "month", "day", "week", "day_of_week"})
_DAY = timedelta(days=1)


def _daily(trigger: BaseTrigger) -> tuple[timedelta, ...] | None:
    """The times of day a trigger fires at, when it fires at the same times every UTC day
    (None: it does not, or it may not)."""
    if not isinstance(trigger, CronTrigger) or trigger.timezone != UTC or trigger.jitter \
            or trigger.start_date is not None or trigger.end_date is not None:
        return None
    if any(str(field) != "*" for field in trigger.fields if field.name in _EVERY_DAY):
        return None
    midnight = datetime(2000, 1, 1, tzinfo=UTC)
    return tuple(moment - midnight for moment in
                 fire_times(trigger, midnight, midnight + _DAY - _ONE_MICROSECOND))


def _every_day(daily: tuple[timedelta, ...], start: datetime,
               end: datetime) -> Iterator[datetime]:
    """Each day's times from ``start`` to ``end`` (both included), in order."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end:
        for offset in daily:
            moment = day + offset
            if moment > end:
                return
            if moment >= start:
                yield moment
        day += _DAY


def _consume(read_fd: int, pid: int) -> Generator[datetime, None, None]:
    """Parent side: read int64 microseconds until EOF, then check the child's exit."""
    pending = b""
    finished = False
    try:
        while chunk := os.read(read_fd, 1 << 16):
            pending += chunk
            usable = len(pending) - len(pending) % 8
            values = array("q", pending[:usable])
            pending = pending[usable:]
            for micros in values:
                yield _EPOCH + timedelta(microseconds=micros)
        finished = True
    finally:
        os.close(read_fd)
        if not finished:
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
    if finished and (status or pending):
        raise RuntimeError(f"fire-time worker failed (wait status {status})")
