"""A backtest's summary: the figures the CLI prints and ``--json`` emits."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from agentfund.backtests.engine import ActorRun
from fund.performance import Metrics, compute_metrics


def _combined(runs: Sequence[ActorRun], curve: str = "nav") -> tuple[list[int], list[float]]:
    """Sum the actors' unit-value curves (or another curve of theirs) on the union of their
    times (each carried forward, its start value before its first point)."""
    if len(runs) == 1:
        return list(runs[0].times), list(getattr(runs[0], curve))
    times = np.unique(np.concatenate([np.asarray(r.times, dtype=np.int64) for r in runs]))
    total = np.zeros(len(times))
    for run in runs:
        index = np.searchsorted(np.asarray(run.times), times, side="right") - 1
        values = np.asarray(getattr(run, curve))[np.maximum(index, 0)]
        total += np.where(index >= 0, values, float(run.initial_cash))
    return times.tolist(), total.tolist()


def _figures(metrics: Metrics, benchmark: Sequence[float], initial: Decimal) -> dict[str, Any]:
    """The performance figures of summary.json (see docs/metrics.md), one definition:
    fund.performance on the unit-value curve."""
    bench = float(benchmark[-1]) / float(initial) - 1.0 if len(benchmark) and initial else None
    return {
        "total_return": metrics.total_return,
        "annualized_return": metrics.annualized_return,
        "period_years": metrics.years,
        "volatility": metrics.volatility,
        "sharpe": metrics.sharpe,
        "sortino": metrics.sortino,
        "max_drawdown": metrics.max_drawdown,
        "benchmark_return": bench,
    }


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def head_hash(runs: Sequence[ActorRun]) -> str:
    """The stream's head hash for one actor; for several, sha256 of 'actor:head' lines."""
    return combined_head({r.actor_id: r.head_hash for r in runs})


def combined_head(heads: Mapping[str, str]) -> str:
    """A fund's head hash from its actors' (actor id → head hash): the one head, or for
    several the sha256 of their 'actor:head' lines in actor order."""
    if len(heads) == 1:
        return next(iter(heads.values()))
    lines = "\n".join(f"{actor}:{heads[actor]}" for actor in sorted(heads))
    return hashlib.sha256(lines.encode()).hexdigest()


def actor_summary(run: ActorRun) -> dict[str, Any]:
    """Return the figures of one actor's run (money as exact decimal strings)."""
    metrics = compute_metrics(run.times, run.nav, float(run.initial_cash))
    mean_nav = float(np.mean(run.money)) if run.money else 0.0
    return {
        "final_nav": str(run.final_nav),
        "initial_cash": str(run.initial_cash),
        **_figures(metrics, run.benchmark, run.initial_cash),
        "flows": len(run.flows),
        "turnover": float(run.traded_notional) / mean_nav if mean_nav else 0.0,
        "fees": str(run.fees),
        "fills": run.fills,
        "open_orders": run.open_orders,
        "wakes": run.wakes,
        "entries": run.entries,
        "head_hash": run.head_hash,
        "quote": run.quote,
    }


def fund_summary(runs: Sequence[ActorRun], journal: str, report: str | None) -> dict[str, Any]:
    """Return the fund's summary: totals over its actors plus each actor's figures."""
    times, nav = _combined(runs)
    initial = sum((r.initial_cash for r in runs), Decimal(0))
    metrics = compute_metrics(times, nav, float(initial))
    per_actor = {run.actor_id: actor_summary(run) for run in runs}
    mean_nav = float(np.mean(_combined(runs, "money")[1])) if nav else 0.0
    traded = float(sum((r.traded_notional for r in runs), Decimal(0)))
    benchmark = _combined(runs, "benchmark")[1] if all(r.benchmark for r in runs) else []
    return {
        "final_nav": str(sum((r.final_nav for r in runs), Decimal(0))),
        "initial_cash": str(initial),
        **_figures(metrics, benchmark, initial),
        "flows": sum(len(r.flows) for r in runs),
        "turnover": traded / mean_nav if mean_nav else 0.0,
        "fees": str(sum((r.fees for r in runs), Decimal(0))),
        "fills": sum(r.fills for r in runs),
        "open_orders": sum(r.open_orders for r in runs),
        "wakes": sum(r.wakes for r in runs),
        "entries": sum(r.entries for r in runs),
        "head_hash": head_hash(runs),
        "journal": journal,
        "report": report,
        "first_wake": _iso(times[0]) if times else None,
        "end": _iso(times[-1]) if times else None,
        "actors": per_actor,
    }
