"""Clocks: the only place the runtime learns the time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current UTC time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...


class SimulatedClock:
    """A clock that moves only when told (backtests and tests)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set_time(self, moment: datetime) -> None:
        """Jump to a moment; time never runs backwards."""
        if moment < self._now:
            raise ValueError(f"clock cannot go back from {self._now} to {moment}")
        self._now = moment

    def advance_time(self, delta: timedelta) -> None:
        """Move forward by a duration."""
        self.set_time(self._now + delta)


class WallClock:
    """The real UTC time (daemons)."""

    def now(self) -> datetime:
        return datetime.now(UTC)
