"""The record's own cost inside a backtest: what recording its entries costs the run.

The floor (benchmarks/floor.py) is what recording a journal's entries costs at the least.
A backtest does more than record: the strategy, its oracles and books, the imports, the
report. This runs ``fund backtest`` in this process with timers around what the record
costs the run itself, and prints them as JSON:

* ``writer``: the journal writer's calls — encoding each payload canonically, buffering
  it, handing the batches to the helper that chains and stores them on the other core,
  and waiting for it where the run must. What the writer's ``on_stored`` callbacks do
  with the stored batches (the run's tables of fills and flows, the report's trade book)
  is not the record and is not counted.
* ``decision_text``: each Decision's canonical text (the actor encodes it once, to be
  journaled and, in a replay, compared).
* ``fold_decode``: decoding each payload the runtime journaled, for the actor's fold of
  what the journal holds.

The timers' own cost (a few hundred nanoseconds a call) is counted in: the figure is an
upper bound.

Beside the record it times what bounds the whole process from below however cheap the
framework's own work at each wake became (the oracle's prices, the books, the runtime's
steps), shown by ``make bench`` next to the floor:

* ``strategy``: the strategy's own ``on_wake`` calls (the user's code);
* ``loop``: the wake loop (each step of the actor's timeline and its sample for the
  report); ``record_in_loop``: the record's part of it;
* ``outside_loop``: everything else, from the process's start (as the kernel dates it, to
  10 ms) to the command's end: the interpreter, imports, config and data, the run's
  totals, the summary and the report; of it, ``before_command`` (the interpreter and the
  imports before ``fund backtest`` starts), ``plan`` (the config's data loaded and the run
  planned) and ``report`` (the HTML report: its modules and templates loaded while the
  helper finishes, and writing it).

``bound`` = ``outside_loop`` + ``strategy`` + ``record_in_loop``: the process's time with
only the strategy and the record left in its wake loop.

    python benchmarks/record_share.py FIGURES.json CONFIG --out DIR [fund backtest options]
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import agentfund.backtests.results  # noqa: E402
import fund.actor  # noqa: E402
import fund.commands.backtest  # noqa: E402
import fund.journal.writer  # noqa: E402
import fund.node  # noqa: E402
import fund.runtime  # noqa: E402
import fund.strategy  # noqa: E402
from fund.cli import main  # noqa: E402

TIMED = ("append", "append_text", "flush", "finish", "close", "put_blob")


def _timed(function: Callable[..., Any], add: Callable[[float], None]) -> Callable[..., Any]:
    """``function``, the seconds of each of its calls handed to ``add``."""
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            add(time.perf_counter() - started)
    return timed


class Timers:
    """Seconds spent in each part of the record (the writer's outermost calls only), and in
    the parts of the run that bound it from below."""

    def __init__(self) -> None:
        self.seconds = {"writer": 0.0, "decision_text": 0.0, "fold_decode": 0.0}
        self.not_record = 0.0  # the writer's on_stored callbacks, inside its calls
        self.in_loop = {"record": 0.0, "not_record": 0.0}  # the same, inside the wake loop
        # the strategy's own on_wake; the plan and the report (outside the loop)
        self.steps = {"strategy": 0.0, "plan": 0.0, "report": 0.0}
        self.loop = 0.0  # the wake loop's steps and samples
        self._depth = 0
        self._looping = False

    def _add(self, name: str, seconds: float) -> None:
        self.seconds[name] += seconds
        if self._looping:
            self.in_loop["record"] += seconds

    def _step(self, name: str, seconds: float) -> None:
        self.steps[name] += seconds

    def _not_record(self, seconds: float) -> None:
        self.not_record += seconds
        if self._looping:
            self.in_loop["not_record"] += seconds

    def writer_method(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return method(*args, **kwargs)
            self._depth += 1
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self._add("writer", time.perf_counter() - started)
                self._depth -= 1
        return timed

    def part(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """A part of the record."""
        return _timed(function, lambda seconds: self._add(name, seconds))

    def step(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """A part of the run that is not the record (the strategy, the plan, the report)."""
        return _timed(function, lambda seconds: self._step(name, seconds))

    def looping(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """A step of the wake loop (not nested in another)."""
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._looping:
                return function(*args, **kwargs)
            self._looping = True
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.loop += time.perf_counter() - started
                self._looping = False
        return timed

    def excluded(self, callback: Callable[[Sequence[Any]], None]
                 ) -> Callable[[Sequence[Any]], None]:
        """A writer's on_stored callback: not the record."""
        return _timed(callback, self._not_record)


def install(timers: Timers) -> None:
    """Put the timers around the writer, the Decision's encoding and the fold's decoding."""
    writer = fund.journal.writer.JournalWriter
    for name in TIMED:
        setattr(writer, name, timers.writer_method(getattr(writer, name)))
    init = writer.__init__

    def init_timed(self: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("on_stored") is not None:
            kwargs["on_stored"] = timers.excluded(kwargs["on_stored"])
        init(self, *args, **kwargs)

    writer.__init__ = init_timed  # type: ignore[method-assign]
    fund.actor.dumps = timers.part("decision_text", fund.actor.dumps)  # type: ignore[attr-defined]
    fund.runtime.loads = timers.part("fold_decode", fund.runtime.loads)  # type: ignore[attr-defined]
    node, recorder = fund.node.Node, agentfund.backtests.results.Recorder
    node.run = timers.looping(node.run)  # type: ignore[method-assign]
    recorder.wake = timers.looping(recorder.wake)  # type: ignore[method-assign]
    command = fund.commands.backtest
    command.plan_backtest = timers.step("plan", command.plan_backtest)  # type: ignore[attr-defined]
    for name in ("_ready_report", "_write_report"):
        setattr(command, name, timers.step("report", getattr(command, name)))
    lookup = fund.strategy.strategy_class  # the function the core finds its class with
    timed: set[type] = set()

    def strategy_class(name: str, search: Sequence[Path] = ()) -> type[Any]:
        cls = lookup(name, search)
        if cls not in timed:  # the class's own on_wake, timed once wrapped
            cls.on_wake = timers.step("strategy", cls.on_wake)  # type: ignore[method-assign]
            timed.add(cls)
        return cls

    setattr(fund.actor, "strategy_class", strategy_class)  # noqa: B010 - as fund.actor calls it


def since_start() -> float:
    """Seconds since this process started, as the kernel dates it (to its clock tick)."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # starttime: ticks after boot
    return float(Path("/proc/uptime").read_text().split()[0]) - started


def main_record(argv: Sequence[str]) -> dict[str, float]:
    timers = Timers()
    install(timers)
    before = since_start()
    started = time.perf_counter()
    sys.argv = ["fund", "backtest", *argv]
    status = main()
    if status:
        raise SystemExit(f"fund backtest failed ({status})")
    command = time.perf_counter() - started
    parts = dict(timers.seconds)
    parts["writer"] -= timers.not_record
    in_loop = timers.in_loop["record"] - timers.in_loop["not_record"]
    outside = before + command - timers.loop
    return {"record_s": sum(parts.values()), **{f"{k}_s": v for k, v in parts.items()},
            "on_stored_s": timers.not_record, "command_s": command,
            "before_command_s": before, "loop_s": timers.loop, "record_in_loop_s": in_loop,
            "outside_loop_s": outside, **{f"{k}_s": v for k, v in timers.steps.items()},
            "bound_s": outside + timers.steps["strategy"] + in_loop}


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__.rstrip().rsplit("\n", 1)[-1].strip())
    out = Path(sys.argv[1])
    out.write_text(json.dumps(main_record(sys.argv[2:]), indent=1) + "\n")
