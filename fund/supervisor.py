"""Many funds in one daemon: one process, one APScheduler, one signal handler.

``fund run a.toml b.toml`` (or a directory of configs) gives each fund its own
:class:`~fund.daemon.Daemon` — its own journal, leases, nodes and heartbeat — and adds every
daemon's jobs to one ``BlockingScheduler`` whose thread pool runs them side by side. A fund
cannot stop the others: its jobs are called through a guard that logs what escaped them (a
daemon already holds an actor whose wake, write or reconciliation fails), and a fund that
cannot be opened at start (its journal unreachable, its actors leased to another daemon) is
logged and opened again every :data:`RETRY_S` seconds while the others run. SIGINT or
SIGTERM stops the scheduler after the running wakes, then stops each daemon (flushed, a
last checkpoint signed, its leases released) and closes its journal.

With one fund nothing changes: same job ids, same log lines, and an error opening it is the
command's error, as before.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import wraps
from types import TracebackType
from typing import TYPE_CHECKING, Any

from fund.errors import RunFailed
from fund.logs import FUND, json_log, say

if TYPE_CHECKING:
    from fund.daemon import Daemon

RETRY_S = 30  # a fund that could not be opened is tried again this often
MAX_WORKERS = 32


@dataclass(eq=False)
class Fund:
    """One fund of the daemon: its name, its actor count, how to open it (its journal into
    the stack given, then its daemon), and once opened its daemon."""

    name: str
    actors: int
    opener: Callable[[ExitStack], Daemon]
    daemon: Daemon | None = None
    stack: ExitStack = field(default_factory=ExitStack)

    def open(self) -> Daemon:
        """Open the fund's journal and build its daemon (a failure leaves nothing open)."""
        stack = ExitStack()
        try:
            self.daemon = self.opener(stack)
        except BaseException:
            stack.__exit__(*sys.exc_info())  # an empty journal file it created is removed
            raise
        self.stack = stack
        return self.daemon

    def close(self, *exc: Any) -> None:
        """Close the fund's journal."""
        self.daemon = None
        self.stack.__exit__(*(exc or (None, None, None)))


class Supervisor:
    """Runs the daemons of several funds (or one) on one scheduler."""

    def __init__(self, funds: Sequence[Fund]) -> None:
        """``funds``: with more than one, each is named in its log lines and job ids, and
        one that cannot be opened is retried instead of stopping the rest."""
        self.funds = list(funds)
        self.many = len(self.funds) > 1

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for fund in self.funds:
            if fund.daemon is not None:
                fund.close(kind, exc, tb)

    @contextmanager
    def named(self, fund: Fund) -> Iterator[None]:
        """Log lines written in this block name the fund (when there are several)."""
        token = FUND.set(fund.name if self.many else None)
        try:
            yield
        finally:
            FUND.reset(token)

    def open_all(self) -> None:
        """Open every fund; with several, one that fails is logged (and retried later),
        unless all fail (the first error is raised then)."""
        failed: list[BaseException] = []
        for fund in self.funds:
            try:
                with self.named(fund):
                    fund.open()
            except Exception as exc:
                if not self.many:
                    raise
                json_log("fund-unavailable", fund=fund.name, error=say(exc), retry_s=RETRY_S)
                failed.append(exc)
        if failed and len(failed) == len(self.funds):
            raise failed[0]

    def run_once(self) -> None:
        """Wake every actor of every fund once (``fund run --once``); raise RunFailed
        naming what could not wake or open (the rest did)."""
        problems: list[str] = []
        for fund in self.funds:
            with self.named(fund):
                try:
                    daemon = fund.daemon or fund.open()
                    daemon.run_once()
                except Exception as exc:
                    if not self.many:
                        raise
                    problems.append(f"fund {fund.name}: "
                                    f"{exc if isinstance(exc, RunFailed) else say(exc)}")
                finally:
                    if fund.daemon is not None:
                        fund.close()
        if problems:
            raise RunFailed("; ".join(problems))

    def guard(self, fund: Fund, job: Callable[..., None]) -> Callable[..., None]:
        """The job, naming its fund in the log, and logging (never raising) what escapes it."""
        @wraps(job)
        def guarded(*args: Any) -> None:
            with self.named(fund):
                try:
                    job(*args)
                except Exception as exc:  # noqa: BLE001 - one fund never stops the others
                    json_log("job-failed", job=job.__name__, error=say(exc))
        return guarded

    def start(self, scheduler: Any, fund: Fund) -> None:
        """Add an opened fund's jobs to the scheduler (catching up its missed wakes)."""
        daemon = fund.daemon
        assert daemon is not None
        with self.named(fund):
            daemon.schedule(scheduler, f"{fund.name}/" if self.many else "",
                            wrap=lambda job: self.guard(fund, job))
            json_log("started", actors=list(daemon.nodes), journal=daemon.journal.url)

    def retry(self, scheduler: Any) -> None:
        """Try again to open the funds that could not be opened; schedule those that open."""
        for fund in self.funds:
            if fund.daemon is not None:
                continue
            with self.named(fund):
                try:
                    fund.open()
                except Exception as exc:  # noqa: BLE001 - logged, tried again later
                    json_log("fund-unavailable", fund=fund.name, error=say(exc),
                             retry_s=RETRY_S)
                    continue
            self.start(scheduler, fund)

    def serve(self) -> None:
        """Run every opened fund until SIGINT or SIGTERM; finish the running wakes first,
        then stop each fund cleanly."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        # wakes wait on the network, side by side: a worker per actor and per heartbeat
        workers = min(MAX_WORKERS, sum(f.actors for f in self.funds) + len(self.funds) + 1)
        scheduler = BlockingScheduler(timezone="UTC",
                                      executors={"default": ThreadPoolExecutor(workers)})
        for fund in self.funds:
            if fund.daemon is not None:
                self.start(scheduler, fund)
        if any(fund.daemon is None for fund in self.funds):
            scheduler.add_job(self.retry, "interval", seconds=RETRY_S, args=[scheduler],
                              id="open-funds", coalesce=True, max_instances=1)

        def stop(signum: int, _frame: Any) -> None:
            json_log("stopping", signal=signal.Signals(signum).name)
            scheduler.shutdown(wait=True)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            scheduler.start()
        finally:
            self.stop()
        json_log("stopped")

    def stop(self) -> None:
        """Stop every opened fund: flushed, a last checkpoint, its leases given back."""
        for fund in self.funds:
            if fund.daemon is None:
                continue
            with self.named(fund):
                try:
                    fund.daemon.stop()
                except Exception as exc:  # noqa: BLE001 - the other funds still stop
                    json_log("stop-failed", error=say(exc))


def serve_all(daemons: Sequence[Daemon]) -> None:
    """Run already-opened daemons on one scheduler until SIGINT or SIGTERM (their journals
    stay open: the caller closes them)."""
    Supervisor([_opened(daemon) for daemon in daemons]).serve()


def _opened(daemon: Daemon) -> Fund:
    def opener(_: ExitStack) -> Daemon:
        return daemon

    return Fund(name=daemon.config.name, actors=len(daemon.nodes), opener=opener, daemon=daemon)
