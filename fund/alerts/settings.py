"""``[notify]``: the alert targets (apprise URLs, secrets from the environment), which
events go to each, the daily summary's time and how sending is paced."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fund import secrets

EVENTS = ("halt", "kill", "pause", "resume", "rejected", "reconciled", "balances", "missed",
          "error", "held", "recovered", "lease-lost", "started", "stopped", "summary")
"""Every event an alert can be about (docs/operations.md#alerts says what each means)."""
Event = Literal["halt", "kill", "pause", "resume", "rejected", "reconciled", "balances",
                "missed", "error", "held", "recovered", "lease-lost", "started", "stopped",
                "summary"]
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class NotifyError(Exception):
    """A target cannot be used (an environment variable it names is not set)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetSection(_Model):
    url: str = Field(min_length=3)  # an apprise URL; {NAME}: the environment variable NAME
    events: list[Event] = list(EVENTS)  # type: ignore[arg-type]


class NotifySection(_Model):
    urls: list[str] = []  # targets of every event
    targets: dict[str, TargetSection] = {}  # named targets, each with its events
    summary_at: str = "08:00"  # the daily summary, HH:MM UTC
    rate_limit_s: float = Field(default=300.0, ge=0, le=86_400)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    retries: int = Field(default=3, ge=0, le=10)
    backoff_s: float = Field(default=2.0, ge=0, le=300)
    queue: int = Field(default=1000, ge=1, le=100_000)

    @field_validator("summary_at")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("a time of day as HH:MM (UTC), such as 08:00")
        return value

    def settings(self) -> NotifySettings:
        """The validated settings (target names: the table's, or ``urls.N`` for ``urls``)."""
        named = {f"urls.{i}": TargetSection(url=url) for i, url in enumerate(self.urls, 1)}
        named.update(self.targets)
        hour, minute = self.summary_at.split(":")
        return NotifySettings(
            targets=tuple(Target(name=name, url=t.url, events=frozenset(t.events))
                          for name, t in named.items()),
            summary_at=time(int(hour), int(minute)), rate_limit_s=self.rate_limit_s,
            timeout_s=self.timeout_s, retries=self.retries, backoff_s=self.backoff_s,
            queue=self.queue)


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where alerts go: a name (the only thing ever shown or journaled), an apprise URL
    template, and the events it is sent."""

    name: str
    url: str
    events: frozenset[str]

    def resolve(self, environ: Mapping[str, str] | None = None) -> str:
        """The URL with each ``{NAME}`` replaced by that environment variable; every value
        (and the URL itself) is registered as a secret, so no log line or entry shows it."""
        env = os.environ if environ is None else environ
        missing = sorted({m for m in PLACEHOLDER.findall(self.url) if not env.get(m)})
        if missing:
            raise NotifyError(f"notify target {self.name}: set the environment variable"
                              f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        url = PLACEHOLDER.sub(lambda m: env[m.group(1)], self.url)
        secrets.register(*(env[m] for m in PLACEHOLDER.findall(self.url)))
        secrets.register(url)
        return url


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifySettings:
    """The alert targets, the daily summary's time (UTC) and how sending is paced."""

    targets: tuple[Target, ...]
    summary_at: time = time(8, 0)
    rate_limit_s: float = 300.0  # the same event (and actor) at most once this often
    timeout_s: float = 10.0  # one attempt to send
    retries: int = 3  # more attempts after a failed one
    backoff_s: float = 2.0  # the wait before the first retry, doubled each time
    queue: int = 1000  # alerts waiting to be sent; more are dropped (and logged)
