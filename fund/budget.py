"""A wake's time budget: oracles called in worker threads and waited for no longer than
what is left of it.

An oracle still out when the budget is spent is recorded as failed and the wake decides on
what it has; the late call is left to finish on its own, its bodies dropped, and that
oracle is not called again until it returns. The fetch deadline of each web request
(oracles/http.py) bounds the late call itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import copy_context
from datetime import datetime, timedelta
from typing import Any

from agentfund.oracles.base import BlobSink, Oracle, OracleError, Recorded
from fund.journal.base import blob_digest


class _Bodies:
    """Bodies an oracle stores while it runs: kept only if it answers in time."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def put_blob(self, data: bytes) -> str:
        self.bodies.append(data)
        return blob_digest(data)


class WakeBudget:
    """How long a wake's observations may take in all, and the threads that keep to it."""

    def __init__(self, budget: timedelta, *, name: str = "oracles",
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.seconds = budget.total_seconds()
        self._name = name
        self._monotonic = monotonic
        self._deadline = 0.0
        self._pool: ThreadPoolExecutor | None = None
        self._late: dict[str, Future[Any]] = {}  # oracles cut off, still running

    def start(self) -> None:
        """A wake begins: the budget is whole again."""
        self._deadline = self._monotonic() + self.seconds

    def observe(self, name: str, oracle: Oracle, at: datetime, blobs: BlobSink,
                recorded: Recorded) -> Any:
        """Call the oracle in a worker thread (in the wake's context: its Decimal context
        too) and wait what is left of the budget; raise OracleError when it is spent."""
        late = self._late.get(name)
        if late is not None and not late.done():
            raise OracleError(f"its call of an earlier wake, cut off by the wake budget of "
                              f"{self.seconds:g} s, has not returned yet")
        remaining = self._deadline - self._monotonic()
        if remaining <= 0:
            raise OracleError(f"the wake budget of {self.seconds:g} s was spent before it ran")
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix=self._name)
        bodies = _Bodies()
        future = self._pool.submit(copy_context().run, oracle.observe, at, bodies, recorded)
        try:
            data = future.result(timeout=remaining)
        except FutureTimeout:
            self._late[name] = future
            raise OracleError(f"no answer within the wake budget of {self.seconds:g} s") \
                from None
        for body in bodies.bodies:
            blobs.put_blob(body)
        return data
