"""Walk-forward evaluation: choose parameters on one window, judge them on the next.

The backtest period is cut into rolling windows: window k trains on
``[start + k·TEST, start + k·TEST + TRAIN)`` and tests on the TEST that follows, so the
test windows tile the period after the first TRAIN without overlapping each other or the
training window they were chosen on. Only whole windows are used. In each window every
combination is backtested on the training part; the best by the metric (grid order breaks
ties) is then backtested, alone, on the test part. Each run starts from the fund's initial
cash. The out-of-sample result stitches the test runs' NAV curves end to end, each scaled
to the capital the previous one finished with.

Bounds passed to the engine are inclusive, so a training window ends one microsecond
before its test window starts: a wake exactly on the boundary belongs to the test only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agentfund.backtests.engine import BacktestError, actor_period, load_history
from agentfund.backtests.news import load_news
from agentfund.backtests.sweep import Combination, Planner, Progress
from agentfund.backtests.sweep_cache import ResultCache
from agentfund.backtests.sweep_results import metric_value, sort_runs
from agentfund.backtests.sweep_runner import DaskSession, Run, Tally, run_all
from fund.config import load_config, parse_timeframe
from fund.errors import UsageError
from fund.performance import compute_metrics

_TICK = timedelta(microseconds=1)
_SPAN = re.compile(r"[1-9]\d{0,4}[mhdw]")


def parse_split(text: str) -> tuple[timedelta, timedelta]:
    """Parse ``TRAIN:TEST`` such as ``60d:30d`` (units m, h, d, w)."""
    train, sep, test = text.partition(":")
    if not sep or not _SPAN.fullmatch(train.strip()) or not _SPAN.fullmatch(test.strip()):
        raise UsageError(f"--walk-forward {text!r}: expected TRAIN:TEST such as 60d:30d "
                         "(units m, h, d, w)")
    return parse_timeframe(train.strip()), parse_timeframe(test.strip())


@dataclass(frozen=True, slots=True)
class Window:
    """A training period and the test period right after it (bounds inclusive)."""

    index: int
    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime


def make_windows(start: datetime, end: datetime, train: timedelta,
                 test: timedelta) -> list[Window]:
    """Cut ``[start, end]`` into rolling (train, test) windows, stepping by ``test``."""
    windows: list[Window] = []
    origin = start
    while origin + train + test - _TICK <= end:
        test_start = origin + train
        windows.append(Window(index=len(windows) + 1, train_start=origin,
                              train_end=test_start - _TICK, test_start=test_start,
                              test_end=test_start + test - _TICK))
        origin += test
    return windows


def backtest_period(config: Path, overrides: Sequence[str], cwd: Path,
                    start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """Return the period a backtest of the config covers (clipped to its data).

    A requested start within one candle of the data's first close is kept as it is, so
    that ``--start 2024-01-01`` gives windows starting at midnight, not at 00:05.
    """
    cfg = load_config(config, overrides, cwd)
    settings = cfg.backtest
    if settings is None:
        raise BacktestError(f"{config}: no [backtest] section")
    candles = load_history(settings, cfg.actors)
    news = load_news(settings.news, settings.news_fields) if settings.news else None
    periods = [actor_period(spec, candles, settings, start, end, news) for spec in cfg.actors]
    first, last = min(p.start for p in periods), max(p.end for p in periods)
    requested = start or settings.start
    if requested is not None and requested <= first <= requested + settings.timeframe:
        first = requested
    return first, last


@dataclass(slots=True, kw_only=True)
class WindowResult:
    """One window: the best training run and its test run (or why there is none)."""

    window: Window
    best: Run | None = None
    test: Run | None = None
    candidates: int = 0

    @property
    def error(self) -> str | None:
        """Why the window has no out-of-sample result, if it has none."""
        if self.best is None:
            return "every combination failed on the training window"
        if self.test is None or self.test.summary is None:
            return self.test.error if self.test else "not run"
        return None


@dataclass(slots=True, kw_only=True)
class WalkForward:
    """Every window's result, every training run, and what was computed or cached."""

    windows: list[WindowResult]
    train_runs: list[Run]
    train: Tally
    test: Tally


def walk_forward(session: DaskSession, planner: Planner, cache: ResultCache,
                 combos: Sequence[Combination], windows: Sequence[Window], metric: str,
                 progress: Progress | None = None) -> WalkForward:
    """Train every combination in every window, then test each window's best."""
    jobs = [(c, w.train_start, w.train_end) for w in windows for c in combos]
    train_runs, train_tally = run_all(session, planner, cache, jobs, progress=progress,
                                      phase="train")
    results: list[WindowResult] = []
    for k, window in enumerate(windows):
        candidates = train_runs[k * len(combos):(k + 1) * len(combos)]
        ranked = sort_runs(candidates, metric)
        best = ranked[0] if ranked and ranked[0].summary is not None else None
        ok = sum(run.summary is not None for run in candidates)
        results.append(WindowResult(window=window, best=best, candidates=ok))
    chosen = [r for r in results if r.best is not None]
    test_jobs = [(r.best.combo, r.window.test_start, r.window.test_end)
                 for r in chosen if r.best is not None]
    test_runs, test_tally = run_all(session, planner, cache, test_jobs, curve=True,
                                    progress=progress, phase="test")
    for result, run in zip(chosen, test_runs, strict=True):
        result.test = run
    return WalkForward(windows=results, train_runs=train_runs, train=train_tally,
                       test=test_tally)


def stitch(results: Sequence[WindowResult]) -> dict[str, Any] | None:
    """Chain the test runs' NAV curves; return the out-of-sample figures (None if none)."""
    tested = [r.test for r in results if r.test and r.test.summary and r.test.curve]
    if not tested:
        return None
    initial = float(tested[0].summary["initial_cash"]) if tested[0].summary else 0.0
    capital = initial
    times: list[float] = []
    nav: list[float] = []
    for run in tested:
        assert run.summary is not None and run.curve is not None
        scale = capital / float(run.summary["initial_cash"])
        times.extend(run.curve[0])
        nav.extend(value * scale for value in run.curve[1])
        capital = nav[-1]
    metrics = compute_metrics([int(t) for t in times], nav, initial)
    return {"windows": len(tested), "initial_cash": initial, "final_nav": capital,
            "total_return": metrics.total_return,
            "annualized_return": metrics.annualized_return, "sharpe": metrics.sharpe,
            "sortino": metrics.sortino, "max_drawdown": metrics.max_drawdown}


def window_record(result: WindowResult, metric: str) -> dict[str, Any]:
    """Flatten one window's result into a table record."""
    w = result.window
    best, test = result.best, result.test
    tested = test is not None and test.summary is not None
    return {
        "window": w.index,
        "train_start": w.train_start.isoformat(), "train_end": w.train_end.isoformat(),
        "test_start": w.test_start.isoformat(), "test_end": w.test_end.isoformat(),
        "params": dict(best.combo.params) if best else None,
        "candidates": result.candidates,
        f"train_{metric}": metric_value(best.summary, metric) if best and best.summary else None,
        f"test_{metric}": (metric_value(test.summary, metric)
                           if test is not None and test.summary is not None else None),
        "test_return": test.summary["total_return"] if tested and test and test.summary else None,
        "test_head_hash": test.summary["head_hash"] if tested and test and test.summary else None,
        "test_journal": test.summary.get("journal") if tested and test and test.summary else None,
        "error": result.error,
    }
