"""``fund sweep``: backtest a grid of parameter combinations on Dask, optionally walk-forward.

Exit codes: 0 when at least one combination (walk-forward: one test window) succeeded;
1 when every one failed; 2 for bad input (a malformed ``--grid``, an invalid base config,
an unreachable ``--scheduler``).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentfund.backtests.sweep import (
    MAX_GRID,
    METRICS,
    Axis,
    Combination,
    Planner,
    Progress,
    expand,
    grid_size,
    parse_axes,
    sample,
)
from agentfund.backtests.sweep_cache import ResultCache, default_cache_path
from agentfund.backtests.sweep_keys import FileHashes
from agentfund.backtests.sweep_results import record, sort_runs, write_tables
from agentfund.backtests.sweep_runner import DaskSession, Run, run_all
from fund.config import load_config
from fund.errors import RunFailed, UsageError


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepOptions:
    """Everything ``fund sweep`` was asked to do."""

    config: Path
    grids: Sequence[str]
    overrides: Sequence[str] = ()
    random: int | None = None
    seed: int = 0
    workers: int | None = None
    scheduler: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    out: Path | None = None
    sort: str = "sharpe"
    keep_journals: bool = False
    cache: Path | None = None
    no_cache: bool = False
    walk_forward: str | None = None
    as_json: bool = False
    top: int = 20


def _combinations(axes: Sequence[Axis], options: SweepOptions) -> list[Combination]:
    total = grid_size(axes)
    if options.random is not None:
        if options.random < 1:
            raise UsageError("--random N: N must be at least 1")
        return sample(axes, options.random, options.seed)
    if total > MAX_GRID:
        raise UsageError(f"the grid has {total:,} combinations (more than {MAX_GRID:,}); "
                         "sample it with --random N")
    return expand(axes)


def _out_dir(options: SweepOptions, name: str) -> Path:
    if options.out is not None:
        return options.out
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "fund"
    return Path("runs") / f"{slug}-sweep-{datetime.now(UTC):%Y%m%d-%H%M%S}"


def sweep(options: SweepOptions) -> int:
    """Run the sweep (or walk-forward), write its files, print the results; the exit code."""
    axes = parse_axes(options.grids)
    if options.sort not in METRICS:
        raise UsageError(f"--sort {options.sort}: choose one of {', '.join(METRICS)}")
    if options.workers is not None and options.workers < 1:
        raise UsageError("--workers N: N must be at least 1")
    combos = _combinations(axes, options)
    split = None
    if options.walk_forward:
        from agentfund.backtests.walkforward import parse_split

        split = parse_split(options.walk_forward)
    base = load_config(options.config, options.overrides)  # a broken base config: exit 2
    out = _out_dir(options, base.name)
    out.mkdir(parents=True, exist_ok=True)
    journals = out / "journals" if options.keep_journals else None
    if journals:
        journals.mkdir(exist_ok=True)
    cache_path = None if options.no_cache else (options.cache or default_cache_path())
    cache, hashes = ResultCache(cache_path), FileHashes(cache_path)
    planner = Planner(config=options.config, cwd=Path.cwd(), overrides=options.overrides,
                      hashes=hashes, journals=journals)
    workers = options.workers or os.cpu_count() or 1
    try:
        with DaskSession(workers=workers, scheduler=options.scheduler) as session, \
                _progress(enabled=sys.stderr.isatty() and not options.as_json) as progress:
            if split is None:
                report = _grid(session, planner, cache, combos, axes, options, out, progress)
            else:
                report = _walk(session, planner, cache, combos, axes, options, out, split,
                               progress)
    finally:
        cache.close()
        hashes.close()
    report.update(config=str(options.config), out=str(out), metric=options.sort,
                  grid_size=grid_size(axes), combinations=len(combos),
                  scheduler=options.scheduler, workers=None if options.scheduler else workers,
                  cache=str(cache_path) if cache_path else None, code_version=planner.code)
    (out / "sweep.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if options.as_json:
        print(json.dumps(report))
    if not report["succeeded"]:
        raise RunFailed("every combination failed" if split is None
                        else "no walk-forward window produced an out-of-sample result")
    return 0


def _grid(session: DaskSession, planner: Planner, cache: ResultCache,
          combos: Sequence[Combination], axes: Sequence[Axis], options: SweepOptions,
          out: Path, progress: Progress | None) -> dict[str, Any]:
    jobs = [(combo, options.start, options.end) for combo in combos]
    runs, tally = run_all(session, planner, cache, jobs, progress=progress)
    ranked = sort_runs(runs, options.sort)
    files = [str(p) for p in write_tables(out, "results", [record(r, axes) for r in ranked])]
    if len(axes) == 2:
        files.append(str(_heatmap(out, axes, runs, options.sort, planner)))
    results = [record(r, axes, exact=True) for r in ranked]
    succeeded = sum(r.summary is not None for r in runs)
    if not options.as_json:
        from fund.commands.sweep_view import print_grid

        print_grid(results, axes, options.sort, options.top, files)
    return {"computed": tally.computed, "cached": tally.cached,
            "failed": len(runs) - succeeded, "succeeded": succeeded,
            "best": results[0] if succeeded else None, "results": results, "files": files}


def _heatmap(out: Path, axes: Sequence[Axis], runs: Sequence[Run], metric: str,
             planner: Planner) -> Path:
    from agentfund.backtests.heatmap import Cell, write_heatmap
    from agentfund.backtests.sweep_results import metric_value

    cells: dict[tuple[str, str], Cell] = {}
    for run in runs:
        row, col = (value for _, value in run.combo.params)
        if run.summary is None:
            cells[(row, col)] = (None, f"{axes[0].key}={row}, {axes[1].key}={col}: {run.error}")
        else:
            value = metric_value(run.summary, metric)
            cells[(row, col)] = (value, f"{axes[0].key}={row}, {axes[1].key}={col}: "
                                        f"{metric} {value:.6g}, return "
                                        f"{run.summary['total_return']:.4%}")
    path = out / "heatmap.html"
    write_heatmap(path, f"Sweep of {planner.config.name}: {metric}", metric, METRICS[metric],
                  (axes[0].key, axes[0].values), (axes[1].key, axes[1].values), cells)
    return path


def _walk(session: DaskSession, planner: Planner, cache: ResultCache,
          combos: Sequence[Combination], axes: Sequence[Axis], options: SweepOptions,
          out: Path, split: tuple[Any, Any], progress: Progress | None) -> dict[str, Any]:
    from agentfund.backtests.walkforward import (
        backtest_period,
        make_windows,
        stitch,
        walk_forward,
        window_record,
    )

    start, end = backtest_period(options.config, options.overrides, Path.cwd(), options.start,
                                 options.end)
    windows = make_windows(start, end, *split)
    if not windows:
        period = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
        raise UsageError(f"--walk-forward {options.walk_forward}: the period {period} holds "
                         "no whole train+test window")
    result = walk_forward(session, planner, cache, combos, windows, options.sort, progress)
    rows = [record(run, axes, _train_extra(run, 1 + i // len(combos)))
            for i, run in enumerate(result.train_runs)]
    files = [str(p) for p in write_tables(out, "results", rows)]
    per_window = [window_record(r, options.sort) for r in result.windows]
    files += [str(p) for p in write_tables(out, "walkforward", [_flat(w) for w in per_window])]
    oos = stitch(result.windows)
    succeeded = sum(w["error"] is None for w in per_window)
    if not options.as_json:
        from fund.commands.sweep_view import print_walk_forward

        print_walk_forward(per_window, oos, options.sort, files)
    failed = sum(r.summary is None for r in result.train_runs)
    return {"computed": result.train.computed + result.test.computed,
            "cached": result.train.cached + result.test.cached,
            "failed": failed, "succeeded": succeeded,
            "walk_forward": {"split": options.walk_forward, "windows": per_window,
                             "out_of_sample": oos},
            "files": files}


def _train_extra(run: Run, window: int) -> dict[str, Any]:
    return {"window": window, "phase": "train",
            "start": run.start.isoformat() if run.start else None,
            "end": run.end.isoformat() if run.end else None}


def _flat(window: Mapping[str, Any]) -> dict[str, Any]:
    """A window record with its parameters as text, for CSV/Parquet."""
    params = window.get("params")
    text = " ".join(f"{k}={v}" for k, v in params.items()) if params else None
    return {**window, "params": text}


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done, total=total)

    with bar:
        yield update
