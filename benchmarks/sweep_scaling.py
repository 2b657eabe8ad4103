"""Sweep scaling: the same 64-combination grid on 1 and on 2 Dask workers.

    python benchmarks/sweep_scaling.py                 # 8 bands x 8 fee rates, W1, 1 then 2
    python benchmarks/sweep_scaling.py --workers 1,2,4 --repeat 3
    python benchmarks/sweep_scaling.py --end 2024-03-31 --json

Each combination is the whole W1 backtest (hourly wakes over the sample data, unless
``--start/--end`` shorten it), journaled in memory in the worker, the way ``fund sweep``
runs it. For each worker count a fresh LocalCluster is started (its start-up is reported
separately) and warmed (agentfund imported in every worker), then the grid is timed from
planning the first combination to the last result, with no cache. The head hashes of
every run must agree across worker counts. Run it on a quiet machine: other processes
on the cores skew the figures, the 2-worker run the most.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "rebalance.toml"
BANDS = "0.0025,0.005,0.0075,0.01,0.015,0.02,0.03,0.05"
FEES = "0.0,0.0005,0.001,0.0015,0.002,0.003,0.004,0.005"


def _warm() -> str:
    from agentfund.backtests.engine import run_backtest  # noqa: F401 - imported to warm the worker
    from agentfund.backtests.sweep_keys import code_version

    return code_version()


def _timed(task: Any) -> dict[str, Any]:
    """Run one task as ``fund sweep`` does, and time it inside the worker."""
    from agentfund.backtests.sweep import run_task

    wall, cpu = time.perf_counter(), time.process_time()
    result = run_task(task)
    result["timing"] = (time.perf_counter() - wall, time.process_time() - cpu)
    return result


def _machine_busy() -> float | None:
    """CPU seconds the whole machine (every process) has been busy, from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields[:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _moment(text: str | None, *, end: bool = False) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return moment + timedelta(days=1) if end and len(text) == 10 else moment


def run_once(workers: int, grids: list[str], start: datetime | None,
             end: datetime | None) -> dict[str, Any]:
    """Start a cluster of ``workers``, warm it, time the grid; return the figures."""
    from agentfund.backtests.sweep import Planner, RunTask, expand, parse_axes
    from agentfund.backtests.sweep_cache import ResultCache
    from agentfund.backtests.sweep_keys import FileHashes
    from agentfund.backtests.sweep_runner import DaskSession, execute

    combos = expand(parse_axes(grids))
    with DaskSession(workers=workers) as session:
        began = time.perf_counter()
        session.client().run(_warm)
        startup = time.perf_counter() - began
        began, busy = time.perf_counter(), _machine_busy()
        planner = Planner(config=CONFIG, cwd=ROOT, overrides=(), hashes=FileHashes(None),
                          journals=None)
        tasks = [planner.plan(c, start, end) for c in combos]
        if not all(isinstance(t, RunTask) for t in tasks):
            raise SystemExit(f"a combination is invalid: {tasks}")
        tally = execute(session, [t for t in tasks if isinstance(t, RunTask)],
                        ResultCache(None), runner=_timed)
        seconds = time.perf_counter() - began
        busy_after = _machine_busy()
    machine = (busy_after - busy) / seconds if busy is not None and busy_after else None
    results = [tally.outcomes[t.key] for t in tasks if isinstance(t, RunTask)]
    failed = [o.error for o in results if o.result is None]
    if failed:
        raise SystemExit(f"{len(failed)} combinations failed, e.g. {failed[0]}")
    timings = [o.result["timing"] for o in results if o.result]
    return {"workers": workers, "combinations": len(combos), "computed": tally.computed,
            "seconds": seconds, "startup_seconds": startup,
            "task_wall_seconds": sum(w for w, _ in timings),
            "task_cpu_seconds": sum(c for _, c in timings),
            "machine_busy_cores": machine,
            "heads": [o.result["summary"]["head_hash"] for o in results if o.result]}


def main() -> int:
    """Run the benchmark; print a table (or JSON) with the speed-up over the first count."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2", help="worker counts (default 1,2)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per count (median)")
    parser.add_argument("--grid", action="append", help="override the default 8x8 grid")
    parser.add_argument("--start", help="first day (UTC) of each backtest")
    parser.add_argument("--end", help="last day (UTC) of each backtest, inclusive")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    grids = args.grid or [f"actors.rebalancer.params.band={BANDS}", f"fund.fee_rate={FEES}"]
    start, end = _moment(args.start), _moment(args.end, end=True)
    results = []
    for workers in (int(w) for w in args.workers.split(",")):
        samples = [run_once(workers, grids, start, end) for _ in range(args.repeat)]
        best = samples[0]
        median = statistics.median(s["seconds"] for s in samples)
        results.append({**best, "seconds": median,
                        "all_seconds": [round(s["seconds"], 2) for s in samples]})
        print(f"{workers} worker(s): {median:.1f} s for {best['combinations']} combinations "
              f"(cluster start {best['startup_seconds']:.1f} s)", file=sys.stderr)
    heads = {tuple(r.pop("heads")) for r in results}
    base = results[0]["seconds"]
    for r in results:
        r["speedup"] = base / r["seconds"]
    if args.json:
        print(json.dumps({"results": results, "identical_heads": len(heads) == 1}, indent=2))
        return 0
    print(f"{'workers':>7} {'combos':>6} {'wall s':>7} {'speed-up':>8} {'task CPU s':>10} "
          f"{'task wall s':>11} {'tasks got':>11} {'machine busy':>12}")
    for r in results:
        busy = r["machine_busy_cores"]
        got = r["task_cpu_seconds"] / r["seconds"]
        print(f"{r['workers']:>7} {r['combinations']:>6} {r['seconds']:>7.1f} "
              f"{r['speedup']:>7.2f}× {r['task_cpu_seconds']:>10.1f} "
              f"{r['task_wall_seconds']:>11.1f} {got:>5.2f} cores "
              f"{'' if busy is None else f'{busy:.2f} cores':>12}")
    print(f"task CPU, task wall: summed over the tasks, inside the workers (wall well above CPU: "
          f"they waited for a core); tasks got: task CPU / wall; machine busy: all processes "
          f"on the {os.cpu_count()} cores, this sweep's and others', while it ran.")
    print("head hashes identical across worker counts:", "yes" if len(heads) == 1 else "NO")
    return 0 if len(heads) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
