"""An actor's timeline: its wakes, valuation points and investors' flows, in one order in
every mode, and the missed-wake policy.

At one instant flows come first (their cash is then dealt), then the valuation point,
then the wake (which sees the new cash). A backtest steps a simulated clock from one
moment to the next (:meth:`Timeline.next_moment`) and takes what is due; the daemon asks
what is due now whenever APScheduler wakes it (the fire times of the wake and valuation
crons). With a ``grace`` (the daemon) a wake is run only if it is at most that late; the
latest such runs, every other due wake is *missed* — recorded, never silently skipped,
never run twice — and of several due valuation points only the latest runs. Without one
(backtests) everything due runs, in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from fund.schedule import cron_trigger, fire_times

_RANK = {"flow": 0, "valuation": 1, "missed": 2, "wake": 3}


class Step(NamedTuple):
    """Something due at ``at``: a ``flow`` (``flow``: the request), a ``valuation`` point,
    a ``wake``, or wakes ``missed`` (``missed``: their times). (A tuple: one is made for
    every wake of a backtest.)"""

    kind: Literal["flow", "valuation", "wake", "missed"]
    at: datetime
    flow: Any = None
    missed: tuple[datetime, ...] = ()


class _Times:
    """A sorted stream of moments that can be looked at before it is taken."""

    def __init__(self, times: Iterable[datetime]) -> None:
        self._times = iter(times)
        self._head: datetime | None = next(self._times, None)

    @property
    def head(self) -> datetime | None:
        return self._head

    def until(self, now: datetime) -> list[datetime]:
        taken = []
        while self._head is not None and self._head <= now:
            taken.append(self._head)
            self._head = next(self._times, None)
        return taken

    def stream(self, end: datetime, kind: str) -> Iterator[Step]:
        """Take the moments up to ``end`` one at a time, as they come, as steps."""
        times = self._times
        while (head := self._head) is not None and head <= end:
            self._head = next(times, None)
            yield Step(kind, head)  # type: ignore[arg-type]


def cron_times(cron: str, after: datetime) -> Iterator[datetime]:
    """A cron expression's fire times strictly after ``after``, without end."""
    return fire_times(cron_trigger(cron), after + timedelta(microseconds=1),
                      datetime.max.replace(tzinfo=after.tzinfo))


class Timeline:
    """What is due for one actor, and when the next thing is."""

    def __init__(self, wakes: Iterable[datetime], *, valuations: Iterable[datetime] = (),
                 flows: Sequence[Any] = (), grace: timedelta | None = None) -> None:
        """``wakes`` and ``valuations``: sorted fire times; ``flows``: requests with an
        ``at``; ``grace``: how late a wake may run (None: any, as in a backtest)."""
        self._wakes, self._valuations = _Times(wakes), _Times(valuations)
        self._flows = deque(sorted(flows, key=lambda f: f.at))
        self.grace = grace

    def next_moment(self) -> datetime | None:
        """The next moment anything is due (None: nothing more)."""
        moment = self._wakes.head
        for other in (self._valuations.head, self._flows[0].at if self._flows else None):
            if other is not None and (moment is None or other < moment):
                moment = other
        return moment

    def until(self, end: datetime) -> Iterator[Step]:
        """Everything due up to ``end``, one step at a time in order, as a simulated clock
        stepping from each moment to the next would take it (backtests)."""
        while (moment := self.next_moment()) is not None and moment <= end:
            if self.grace is None and not self._flows and self._valuations.head is None:
                yield from self._wakes.stream(end, "wake")  # wakes only, the usual: one frame
                return
            yield from self.due(moment)

    def due(self, now: datetime) -> list[Step]:
        """Take everything due at or before ``now``, in the order it is to be done."""
        steps = []
        while self._flows and self._flows[0].at <= now:
            flow = self._flows.popleft()
            steps.append(Step("flow", flow.at, flow=flow))
        valuations = self._valuations.until(now)
        if self.grace is not None:
            valuations = valuations[-1:]  # one valuation point prices the books now
        steps += [Step("valuation", at) for at in valuations]
        steps += self._wake_steps(self._wakes.until(now), now)
        return sorted(steps, key=lambda s: (s.at, _RANK[s.kind])) if len(steps) > 1 else steps

    def _wake_steps(self, wakes: list[datetime], now: datetime) -> list[Step]:
        if self.grace is None:
            return [Step("wake", at) for at in wakes]
        if wakes and now - wakes[-1] <= self.grace:
            run, missed = wakes[-1], wakes[:-1]
        else:
            run, missed = None, wakes
        steps = [Step("missed", missed[0], missed=tuple(missed))] if missed else []
        return steps + ([Step("wake", run)] if run is not None else [])
