"""Running a sweep's tasks on Dask: skip what the cache holds, run the rest, cache it.

Only this process (the Dask client) reads and writes the cache; workers just run
:func:`backtests.sweep.run_task`. A sweep whose results are all cached starts no cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentfund.backtests.sweep import Combination, Planner, Progress, RunTask, one_line, run_task
from agentfund.backtests.sweep_cache import ResultCache
from fund.errors import UsageError

if TYPE_CHECKING:
    from distributed import Client


@dataclass(slots=True, kw_only=True)
class Outcome:
    """What became of one task: its result or error, and whether it came from the cache."""

    result: dict[str, Any] | None = None
    error: str | None = None
    cached: bool = False


@dataclass(slots=True, kw_only=True)
class Tally:
    """How many distinct tasks ran, or came from the cache, and each one's outcome."""

    computed: int = 0
    cached: int = 0
    outcomes: dict[str, Outcome] = field(default_factory=dict)


def _cached(task: RunTask, cache: ResultCache) -> dict[str, Any] | None:
    hit = cache.get(task.key, need_curve=task.curve)
    if hit is not None and task.journal and not Path(task.journal).is_file():
        return None  # the journal is to be kept here and is not: run again
    return hit


def execute(session: DaskSession, tasks: Sequence[RunTask], cache: ResultCache,
            progress: Progress | None = None, phase: str = "sweep",
            runner: Callable[[RunTask], dict[str, Any]] = run_task) -> Tally:
    """Run the tasks not in the cache on Dask, caching each success as it arrives.

    ``runner`` is what the workers call with each task (a benchmark may wrap ``run_task``).
    """
    unique = {task.key: task for task in tasks}
    tally = Tally()
    pending: list[RunTask] = []
    for key, task in unique.items():
        hit = _cached(task, cache)
        if hit is None:
            pending.append(task)
        else:
            tally.outcomes[key] = Outcome(result=hit, cached=True)
            tally.cached += 1
    done, total = tally.cached, len(unique)
    if progress:
        progress(phase, done, total)
    if not pending:
        return tally
    from distributed import as_completed

    client = session.client()
    futures = {client.submit(runner, task, pure=False): task for task in pending}
    for future in as_completed(futures):  # type: ignore[no-untyped-call]
        task = futures[future]
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - a lost worker fails one combination only
            result = {"error": one_line(exc)}
        tally.computed += 1
        if "error" in result:
            tally.outcomes[task.key] = Outcome(error=str(result["error"]))
        else:
            cache.put(task.key, result)
            tally.outcomes[task.key] = Outcome(result=result)
        done += 1
        if progress:
            progress(phase, done, total)
    return tally


@dataclass(slots=True, kw_only=True)
class Run:
    """One combination over one period, with what became of it."""

    combo: Combination
    start: datetime | None
    end: datetime | None
    key: str | None = None
    summary: dict[str, Any] | None = None
    curve: list[list[float]] | None = None
    error: str | None = None
    cached: bool = False


def run_all(session: DaskSession, planner: Planner, cache: ResultCache,
            jobs: Sequence[tuple[Combination, datetime | None, datetime | None]], *,
            curve: bool = False, progress: Progress | None = None,
            phase: str = "sweep") -> tuple[list[Run], Tally]:
    """Plan and run (combination, start, end) jobs; return a Run for each, in order."""
    runs: list[Run] = []
    tasks: list[RunTask] = []
    for combo, start, end in jobs:
        planned = planner.plan(combo, start, end, curve=curve)
        if isinstance(planned, str):
            runs.append(Run(combo=combo, start=start, end=end, error=planned))
        else:
            runs.append(Run(combo=combo, start=start, end=end, key=planned.key))
            tasks.append(planned)
    tally = execute(session, tasks, cache, progress, phase)
    for run in runs:
        outcome = tally.outcomes.get(run.key or "")
        if outcome is None:  # invalid: it never ran
            continue
        run.error, run.cached = outcome.error, outcome.cached
        if outcome.result is not None:
            run.summary = outcome.result["summary"]
            run.curve = outcome.result.get("curve")
    return runs, tally


def local_cluster_kwargs(workers: int) -> dict[str, Any]:
    """LocalCluster settings: one single-threaded process per worker, quiet, no dashboard."""
    return {"n_workers": workers, "processes": True, "threads_per_worker": 1,
            "dashboard_address": None, "silence_logs": logging.ERROR}


class DaskSession:
    """A Dask client made on first use: connected to ``scheduler``, or a LocalCluster.

    A sweep whose results are all cached never starts a cluster.
    """

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None) -> None:
        self.workers = workers
        self.scheduler = scheduler
        self._stack = ExitStack()
        self._client: Client | None = None

    def client(self) -> Client:
        """Return the client, connecting or starting the cluster the first time."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Client:
        from distributed import Client, LocalCluster

        # distributed's constructors are untyped: hence the ignores
        client: Client
        if self.scheduler:
            try:
                client = Client(self.scheduler, timeout="10s")  # type: ignore[no-untyped-call]
            except (OSError, TimeoutError) as exc:
                raise UsageError(f"--scheduler {self.scheduler}: cannot connect: "
                                 f"{one_line(exc)}") from None
        else:
            cluster = self._stack.enter_context(LocalCluster(  # type: ignore[no-untyped-call]
                **local_cluster_kwargs(self.workers or 1)))
            client = Client(cluster)  # type: ignore[no-untyped-call]
        self._stack.enter_context(client)
        return client

    def __enter__(self) -> DaskSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
