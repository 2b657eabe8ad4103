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

    python benchmarks/record_share.py FIGURES.json CONFIG --out DIR [fund backtest options]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import fund.actor  # noqa: E402
import fund.journal.writer  # noqa: E402
import fund.runtime  # noqa: E402
from fund.cli import main  # noqa: E402

TIMED = ("append", "append_text", "flush", "finish", "close", "put_blob")


class Timers:
    """Seconds spent in each part of the record (the writer's outermost calls only)."""

    def __init__(self) -> None:
        self.seconds = {"writer": 0.0, "decision_text": 0.0, "fold_decode": 0.0}
        self.not_record = 0.0  # the writer's on_stored callbacks, inside its calls
        self._depth = 0

    def writer_method(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return method(*args, **kwargs)
            self._depth += 1
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds["writer"] += time.perf_counter() - started
                self._depth -= 1
        return timed

    def part(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
        return timed

    def excluded(self, callback: Callable[[Sequence[Any]], None]
                 ) -> Callable[[Sequence[Any]], None]:
        def timed(entries: Sequence[Any]) -> None:
            started = time.perf_counter()
            try:
                callback(entries)
            finally:
                self.not_record += time.perf_counter() - started
        return timed


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


def main_record(argv: Sequence[str]) -> dict[str, float]:
    timers = Timers()
    install(timers)
    started = time.perf_counter()
    sys.argv = ["fund", "backtest", *argv]
    status = main()
    if status:
        raise SystemExit(f"fund backtest failed ({status})")
    parts = dict(timers.seconds)
    parts["writer"] -= timers.not_record
    return {"record_s": sum(parts.values()), **{f"{k}_s": v for k, v in parts.items()},
            "on_stored_s": timers.not_record, "command_s": time.perf_counter() - started}


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__.rstrip().rsplit("\n", 1)[-1].strip())
    out = Path(sys.argv[1])
    out.write_text(json.dumps(main_record(sys.argv[2:]), indent=1) + "\n")
