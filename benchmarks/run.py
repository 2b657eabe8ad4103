"""Benchmarks: whole ``fund`` processes, timed from outside, median of several runs.

    python benchmarks/run.py              # every workload, 5 runs each
    python benchmarks/run.py --runs 3 --only w1
    python benchmarks/run.py --json       # machine-readable figures
    python benchmarks/run.py --against REV --only w1 --only w1-5m --runs 9

``--against REV`` times the same workloads on the code of another revision too (a git
worktree of REV, run with this virtualenv), in turn — A B A B …, so that a machine whose
speed drifts affects both alike — and prints each median and the median of the pairwise
ratios (this code / REV's).

Each run is a fresh ``fund backtest`` process (start-up, data load, the whole journal
written to a new SQLite file, summary and report), then ``fund verify`` on its journal.
Wall time is measured around the process; peak memory is the child's max RSS (wait4).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "rebalance.toml"


SHARED_NEWS = (ROOT.parent / "shared" / "data" / "news"
               / "reddit_news_headlines_2021-11_2022-06.json.gz")
SENTIMENT = ROOT / "benchmarks" / "sentiment_full.toml"


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    backtest_args: tuple[str, ...]
    target_seconds: float
    config: Path = CONFIG
    cold_cache: bool = True  # a fresh, empty score cache for every run
    needs: Path | None = None


WORKLOADS = (
    Workload("w1", "W1 rebalance, hourly wakes (4,368), 5 assets, 6 months of 5m candles",
             (), 2.0),
    Workload("w1-5m", "W1 rebalance, wakes every 5 minutes (52,416)",
             ("--set", 'actors.rebalancer.cron="*/5 * * * *"'), 5.0),
    Workload("news", "sentiment fund, all 7,404 shared headlines, 5-minute wakes (65,303), "
             "empty score cache", (), 10.0, SENTIMENT, True, SHARED_NEWS),
    Workload("news-rerun", "the same, scores already cached", (), 5.0, SENTIMENT, False,
             SHARED_NEWS),
)


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mib: float


def measure(args: list[str], root: Path = ROOT) -> Sample:
    """Run one process (with the code at ``root``) to completion; return its wall time and
    peak RSS."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=root, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        stderr = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"benchmark command failed ({process.returncode}): {stderr.strip()}")
    return Sample(elapsed, usage.ru_maxrss / 1024)


def run_once(workload: Workload, cache: Path, root: Path = ROOT) -> tuple[Sample, Sample, int]:
    """One backtest process of the workload and one verify of its journal, with the code
    at ``root`` (this checkout, or a worktree of another revision)."""
    fund = [sys.executable, "-c", "import sys; from fund.cli import main; "
            "sys.argv[0] = 'fund'; sys.exit(main())"]
    if workload.cold_cache:
        shutil.rmtree(cache, ignore_errors=True)
    config = root / workload.config.relative_to(ROOT)
    with tempfile.TemporaryDirectory(prefix="agentfund-bench-") as tmp:
        out = Path(tmp)
        backtest = measure([*fund, "backtest", str(config), "--out", str(out),
                            *workload.backtest_args], root)
        verify = measure([*fund, "verify", str(out / "journal.db")], root)
        entries = json.loads((out / "summary.json").read_text())["entries"]
    return backtest, verify, entries


def run_workload(workload: Workload, runs: int, cache: Path) -> dict[str, object]:
    """Run a workload ``runs`` times (plus verify); return the median figures."""
    backtests: list[Sample] = []
    verifies: list[Sample] = []
    entries = 0
    for _ in range(runs):
        backtest, verify, entries = run_once(workload, cache)
        backtests.append(backtest)
        verifies.append(verify)
    return {
        "workload": workload.name,
        "description": workload.description,
        "runs": runs,
        "entries": entries,
        "backtest_s": statistics.median(s.seconds for s in backtests),
        "backtest_min_s": min(s.seconds for s in backtests),
        "backtest_peak_mib": statistics.median(s.peak_mib for s in backtests),
        "verify_s": statistics.median(s.seconds for s in verifies),
        "target_s": workload.target_seconds,
    }


def compare(workloads: list[Workload], runs: int, cache: Path, revision: str) -> int:
    """Time each workload on this code (A) and on ``revision`` (B), in turn; print medians
    and the median of the pairwise ratios A/B."""
    with tempfile.TemporaryDirectory(prefix="agentfund-bench-rev-") as tmp:
        other = Path(tmp) / "code"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(other),
                        revision], check=True, capture_output=True)
        try:
            print(f"A = this checkout, B = {revision}; {runs} pairs each, A B A B …, "
                  "whole backtest processes (wall s)")
            print(f"{'workload':<10} {'A median':>9} {'B median':>9} {'A/B median':>11} "
                  f"{'A/B min':>8} {'A/B max':>8}")
            for workload in workloads:
                a, b = [], []
                for _ in range(runs):
                    a.append(run_once(workload, cache)[0].seconds)
                    b.append(run_once(workload, cache, other)[0].seconds)
                ratios = [x / y for x, y in zip(a, b, strict=True)]
                print(f"{workload.name:<10} {statistics.median(a):>9.2f} "
                      f"{statistics.median(b):>9.2f} {statistics.median(ratios):>11.3f} "
                      f"{min(ratios):>8.3f} {max(ratios):>8.3f}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(other)], check=False, capture_output=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", action="append", default=[],
                        choices=[w.name for w in WORKLOADS])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--against", metavar="REV",
                        help="also time REV's code, in turn, and print the ratios")
    args = parser.parse_args()
    chosen = [w for w in WORKLOADS if not args.only or w.name in args.only]
    missing = [w for w in chosen if w.needs is not None and not w.needs.exists()]
    for workload in missing:
        print(f"skipping {workload.name}: needs {workload.needs} (shared data), absent here")
    chosen = [w for w in chosen if w not in missing]
    cache = Path(tempfile.mkdtemp(prefix="agentfund-bench-cache-"))
    os.environ["AGENTFUND_CACHE"] = str(cache)
    if args.against:
        try:
            return compare(chosen, args.runs, cache, args.against)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    try:
        results = [run_workload(w, args.runs, cache) for w in chosen]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    scoring = scoring_rate() if SHARED_NEWS.exists() else None
    if args.json:
        print(json.dumps({"workloads": results, "scoring": scoring}, indent=2))
        return 0
    print(f"agentfund benchmarks — {os.cpu_count()} cores, median of {args.runs} runs, "
          "whole processes (start-up, data, full journal on SQLite, report)")
    print(f"{'workload':<8} {'entries':>9} {'backtest s':>11} {'min s':>7} {'peak MiB':>9} "
          f"{'verify s':>9} {'target s':>9}  met")
    for r in results:
        met = "yes" if r["backtest_s"] < r["target_s"] else "NO"  # type: ignore[operator]
        print(f"{r['workload']:<8} {r['entries']:>9,} {r['backtest_s']:>11.2f} "
              f"{r['backtest_min_s']:>7.2f} {r['backtest_peak_mib']:>9.0f} {r['verify_s']:>9.2f} "
              f"{r['target_s']:>9.1f}  {met}")
    if scoring:
        print(f"VADER scoring: {scoring['headlines']:,} headlines in {scoring['seconds']:.2f} s "
              f"= {scoring['per_second']:,.0f} headlines/s uncached; "
              f"{scoring['cached_per_second']:,.0f}/s from the cache")
    return 0


def scoring_rate() -> dict[str, float]:
    """Score every shared headline with VADER, uncached and then from a warm cache."""
    import gzip

    from agentfund.oracles.scoring import CachedScorer, ScoreCache, VaderScorer

    with gzip.open(SHARED_NEWS, "rt", encoding="utf-8") as handle:
        titles = [record["title"] for record in json.load(handle)]
    scorer = VaderScorer()
    started = time.perf_counter()
    scorer.score(titles)
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        cached = CachedScorer(scorer, ScoreCache(Path(tmp) / "scores.sqlite"))
        cached.score(titles)
        started = time.perf_counter()
        cached.score(titles)
        warm = time.perf_counter() - started
    return {"headlines": len(titles), "seconds": seconds, "per_second": len(titles) / seconds,
            "cached_per_second": len(titles) / warm}


if __name__ == "__main__":
    sys.exit(main())
