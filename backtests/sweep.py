"""Parameter sweeps: grids of ``--set`` overrides, each an independent backtest on Dask.

A grid axis is ``dotted.key=v1,v2,...``: each value is an override with exactly the
meaning ``fund backtest --set dotted.key=v`` gives it (TOML, else text). Combinations run
as separate tasks on Dask workers (one backtest per task, its journal in memory or, when
kept, in an SQLite file per run). Results are cached by what they depend on
(``backtests.sweep_keys``), so a re-run computes only what is missing.

Worker processes import this module to run :func:`run_task`; nothing here runs at import.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agentfund.backtests.data import DataError
from agentfund.backtests.sweep_keys import (
    FileHashes,
    code_version,
    config_hash,
    plugin_hash,
    result_key,
)
from fund.config import ConfigError, load_config, raw_config
from fund.errors import UsageError

MAX_GRID = 100_000
"""A grid larger than this needs ``--random N``."""
METRICS: Mapping[str, bool] = {
    "sharpe": True, "sortino": True, "total_return": True, "annualized_return": True,
    "final_nav": True, "max_drawdown": False, "turnover": False, "fees": False,
    "fills": False,
}
"""Metrics a sweep can be sorted by, each with whether higher is better."""
Progress = Callable[[str, int, int], None]
"""Called as (phase, finished, total) while a sweep runs; phase: sweep, train or test."""


@dataclass(frozen=True, slots=True)
class Axis:
    """One ``--grid`` axis: a config key and the values (TOML text) it takes."""

    key: str
    values: tuple[str, ...]


def split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` at top-level commas (not inside quotes, brackets or braces)."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def parse_grid(spec: str) -> Axis:
    """Parse ``dotted.key=v1,v2,...``; raise UsageError when malformed."""
    key, sep, values = spec.partition("=")
    key = key.strip()
    parts = [p.strip().strip('"') for p in key.split(".")]
    if not sep or not key or not all(parts):
        raise UsageError(f"--grid {spec!r}: expected dotted.key=value1,value2,...")
    items = split_values(values)
    if any(not item for item in items):
        raise UsageError(f"--grid {spec!r}: empty value (values are separated by commas)")
    if len(set(items)) != len(items):
        raise UsageError(f"--grid {spec!r}: a value is listed twice")
    return Axis(key=key, values=tuple(items))


def parse_axes(specs: Sequence[str]) -> tuple[Axis, ...]:
    """Parse every ``--grid``; a key may appear only once."""
    axes = tuple(parse_grid(spec) for spec in specs)
    if not axes:
        raise UsageError("give at least one --grid key=v1,v2,...")
    keys = [axis.key for axis in axes]
    for key in keys:
        if keys.count(key) > 1:
            raise UsageError(f"--grid {key}: the same key is given twice")
    return axes


@dataclass(frozen=True, slots=True)
class Combination:
    """One point of the grid: its position (row-major, last axis fastest) and values."""

    index: int
    params: tuple[tuple[str, str], ...]

    def overrides(self) -> list[str]:
        """Return the ``--set`` overrides this combination stands for."""
        return [f"{key}={value}" for key, value in self.params]


def grid_size(axes: Sequence[Axis]) -> int:
    """Return the number of combinations of the axes."""
    size = 1
    for axis in axes:
        size *= len(axis.values)
    return size


def combination(axes: Sequence[Axis], index: int) -> Combination:
    """Return the combination at a position of the grid."""
    values: list[tuple[str, str]] = []
    rest = index
    for axis in reversed(axes):
        rest, pick = divmod(rest, len(axis.values))
        values.append((axis.key, axis.values[pick]))
    return Combination(index=index, params=tuple(reversed(values)))


def expand(axes: Sequence[Axis]) -> list[Combination]:
    """Return every combination of the grid, in grid order."""
    return [combination(axes, i) for i in range(grid_size(axes))]


def sample(axes: Sequence[Axis], count: int, seed: int) -> list[Combination]:
    """Pick ``count`` combinations without replacement, the same ones for the same seed.

    A partial Fisher-Yates shuffle driven only by ``Random(seed).random()`` (whose output
    Python guarantees across versions), kept sparse so huge grids cost nothing.
    """
    total = grid_size(axes)
    if count >= total:
        return expand(axes)
    rng = random.Random(seed)
    swapped: dict[int, int] = {}
    picked: list[int] = []
    for i in range(count):
        j = i + int(rng.random() * (total - i))
        picked.append(swapped.get(j, j))
        swapped[j] = swapped.get(i, i)
    return [combination(axes, i) for i in sorted(picked)]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunTask:
    """One backtest for a worker: the config, its overrides, the period, where to journal."""

    key: str
    config: str
    cwd: str
    overrides: tuple[str, ...]
    start: datetime | None
    end: datetime | None
    journal: str | None = None
    curve: bool = False
    code: str = ""


def one_line(exc: BaseException) -> str:
    """Describe an exception in one line: its type and its message."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_task(task: RunTask) -> dict[str, Any]:
    """Run one backtest (in a worker); return ``{summary, curve}`` or ``{error}``."""
    try:
        with _dask_gc_diagnosis_paused():
            return _run(task)
    except Exception as exc:  # noqa: BLE001 - a failed combination is reported, not fatal
        return {"error": one_line(exc)}


@contextmanager
def _dask_gc_diagnosis_paused() -> Iterator[None]:
    """Pause a Dask worker's GC diagnosis while a backtest runs.

    Its ``gc.callbacks`` hook reads ``/proc`` at every full collection, in whichever
    thread collects; inside a handler the purity guard refuses that read and Python
    prints the refused callback's traceback. The handler is unaffected, but the noise
    is not wanted.
    """
    try:
        from distributed import gc as dask_gc

        paused = bool(dask_gc._gc_diagnosis.enabled)
    except (ImportError, AttributeError):
        paused = False
    if paused:
        dask_gc.disable_gc_diagnosis(force=True)  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if paused:
            dask_gc.enable_gc_diagnosis()  # type: ignore[no-untyped-call]


def _run(task: RunTask) -> dict[str, Any]:
    from agentfund.backtests.engine import run_backtest
    from agentfund.backtests.summary import _combined, fund_summary
    from fund.journal import MemoryJournal, journal_url, open_journal

    if task.code and task.code != code_version():
        return {"error": f"worker {socket.gethostname()} runs other code (version "
                         f"{code_version()[:12]}, the client's {task.code[:12]}): install the "
                         "same agentfund and libraries on every worker"}
    config = load_config(Path(task.config), task.overrides, Path(task.cwd))
    if task.journal:
        for suffix in ("", "-wal", "-shm"):  # a run killed half-way left it: start afresh
            Path(task.journal + suffix).unlink(missing_ok=True)
        store = open_journal(journal_url(task.journal))
    else:
        store = MemoryJournal(f"memory://sweep-{task.key[:16]}")
    try:
        runs = run_backtest(config, store, start=task.start, end=task.end)
    finally:
        store.close()
    summary = fund_summary(runs, task.journal or "", None)
    summary["journal"] = task.journal
    curve = [list(part) for part in _combined(runs)] if task.curve else None
    return {"summary": summary, "curve": curve}


class Planner:
    """Turn combinations into run tasks: validate, hash config and data, name the journal."""

    def __init__(self, *, config: Path, cwd: Path, overrides: Sequence[str],
                 hashes: FileHashes, journals: Path | None) -> None:
        self.config = config.resolve()
        self.cwd = cwd
        self.overrides = tuple(overrides)
        self.hashes = hashes
        self.journals = journals
        self.code = code_version()
        self._parts: dict[tuple[str, ...], tuple[str, str, str] | str] = {}

    def _hash_parts(self, overrides: tuple[str, ...]) -> tuple[str, str, str] | str:
        """(config, data, plugin) hashes of a set of overrides, or the reason it is invalid."""
        if overrides not in self._parts:
            try:
                raw = raw_config(self.config, overrides, self.cwd)
                config = load_config(self.config, overrides, self.cwd)
                self._parts[overrides] = (config_hash(raw),
                                          self.hashes.inputs_hash(config, raw,
                                                                  self.config.parent,
                                                                  self.cwd),
                                          plugin_hash(raw))
            except (ConfigError, DataError, OSError) as exc:
                self._parts[overrides] = " ".join(str(exc).split())
        return self._parts[overrides]

    def plan(self, combo: Combination, start: datetime | None, end: datetime | None, *,
             curve: bool = False) -> RunTask | str:
        """Return the task for a combination over a period, or why it cannot run."""
        overrides = (*self.overrides, *combo.overrides())
        parts = self._hash_parts(overrides)
        if isinstance(parts, str):
            return parts
        period = f"{start.isoformat() if start else ''}..{end.isoformat() if end else ''}"
        key = result_key(config=parts[0], data=parts[1], code=self.code, plugins=parts[2],
                         period=period)
        journal = str(self.journals / f"{key[:16]}.db") if self.journals else None
        return RunTask(key=key, config=str(self.config), cwd=str(self.cwd), overrides=overrides,
                       start=start, end=end, journal=journal, curve=curve, code=self.code)
