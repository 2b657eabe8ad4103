"""Investors' flows and valuation points in a backtest, replayed between the wakes.

A flow is recorded as a Subscription or Redemption at its time; valuation points are the
fire times of the fund's valuation cron. Both run on the simulated clock in time order,
before any wake at the same moment (a wake at a valuation time already sees the new cash).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime

from fund.accounting.config import Flow
from fund.accounting.spec import REDEMPTION, SUBSCRIPTION
from fund.clock import SimulatedClock
from fund.runtime import ActorRuntime
from fund.schedule import cron_trigger, fire_times


class Dealing:
    """The actor's flows and valuation points still to come, in time order."""

    def __init__(self, runtime: ActorRuntime, clock: SimulatedClock, flows: Sequence[Flow],
                 start: datetime, end: datetime) -> None:
        self.runtime, self.clock = runtime, clock
        accounting = runtime.core.spec.accounting
        points: list[tuple[datetime, int, Flow | None]] = [(f.at, 0, f) for f in flows]
        if accounting is not None:
            points += [(at, 1, None) for at in
                       fire_times(cron_trigger(accounting.valuation_cron), start, end)]
        self.events = deque(sorted(points, key=lambda p: (p[0], p[1])))

    def until(self, moment: datetime) -> None:
        """Record every flow and run every valuation point due at or before ``moment``."""
        while self.events and self.events[0][0] <= moment:
            at, _, flow = self.events.popleft()
            self.clock.set_time(max(at, self.clock.now()))
            if flow is not None:
                self.runtime.request(SUBSCRIPTION if flow.kind == "subscribe" else REDEMPTION,
                                     flow.investor, amount=flow.amount, units=flow.units,
                                     reason="flow in the backtest's config")
            elif at >= self.clock.now():
                self.runtime.value(at)
