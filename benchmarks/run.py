"""Benchmarks: whole ``fund`` processes, timed from outside, median of several runs.

    python benchmarks/run.py --against 585aef6   # the issue-18 table, today (B) and now (A)
    python benchmarks/run.py                     # every workload on this checkout, 5 runs
    python benchmarks/run.py --runs 3 --only w1
    python benchmarks/run.py --json              # machine-readable figures
    make bench                                   # = --against $(BENCH_BASE)

``--against REV`` times every workload on this checkout (A) and on the code of REV (B: a
git worktree of REV, run with this virtualenv), in turn — A B A B …, so that a machine
whose speed drifts affects both alike — and prints the issue's table: each side's median,
the median of the pairwise ratios A/B and whether each target is met; plus the floor (a
plain loop that encodes, chains and inserts the 5-minute run's entries into SQLite in one
transaction: benchmarks/floor.py).

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import targets  # noqa: E402

CONFIG = ROOT / "examples" / "rebalance.toml"
SHARED_NEWS = (ROOT.parent / "shared" / "data" / "news"
               / "reddit_news_headlines_2021-11_2022-06.json.gz")
SENTIMENT = ROOT / "benchmarks" / "sentiment_full.toml"
FIVE_MINUTES = ("--set", 'actors.rebalancer.cron="*/5 * * * *"')


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
    Workload("w1-5m", "W1 rebalance, wakes every 5 minutes (52,416)", FIVE_MINUTES, 5.0),
    Workload("news", "sentiment fund, all 7,404 shared headlines, 5-minute wakes (65,303), "
             "empty score cache", (), 10.0, SENTIMENT, True, SHARED_NEWS),
    Workload("news-rerun", "the same, scores already cached", (), 5.0, SENTIMENT, False,
             SHARED_NEWS),
)
BY_NAME = {w.name: w for w in WORKLOADS}
UI = "ui"  # the `fund ui` start row (--against only): benchmarks/ui_million.py's journal


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mib: float


def measure(args: list[str], root: Path = ROOT, cache: Path | None = None,
            env_extra: dict[str, str] | None = None) -> Sample:
    """Run one process (with the code at ``root``, ``cache`` as ``$AGENTFUND_CACHE``, and
    ``env_extra`` in its environment) to completion; return its wall time and peak RSS."""
    env = {**os.environ, "PYTHONPATH": str(root), **(env_extra or {})}
    if cache is not None:
        env["AGENTFUND_CACHE"] = str(cache)
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


FUND = [sys.executable, "-c", "import sys; from fund.cli import main; "
        "sys.argv[0] = 'fund'; sys.exit(main())"]


def run_once(workload: Workload, cache: Path, root: Path = ROOT, *,
             keep: Path | None = None) -> tuple[Sample, Sample, int]:
    """One backtest process of the workload and one verify of its journal, with the code
    at ``root`` (this checkout, or a worktree of another revision); ``keep``: copy the
    journal there."""
    if workload.cold_cache:
        shutil.rmtree(cache, ignore_errors=True)
    config = root / workload.config.relative_to(ROOT)
    with tempfile.TemporaryDirectory(prefix="agentfund-bench-") as tmp:
        out = Path(tmp)
        backtest = measure([*FUND, "backtest", str(config), "--out", str(out),
                            *workload.backtest_args], root, cache)
        verify = measure([*FUND, "verify", str(out / "journal.db")], root, cache)
        entries = json.loads((out / "summary.json").read_text())["entries"]
        if keep is not None:
            shutil.copyfile(out / "journal.db", keep)
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


# --- the issue-18 table: this checkout (A) against a revision (B), pair by pair ---------------


def parent_peak_mib() -> float:
    """This process's own peak RSS: a child's max RSS (wait4) is never below it, since Linux
    counts the pages of the parent it was forked from; keep it small."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor_seconds(journal: Path) -> float:
    """The floor loop over a journal's entries (median of 3), in its own process: the
    entries it holds would otherwise raise every later child's peak RSS (Linux counts the
    forked parent's pages in a child's max RSS)."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "floor.py"), str(journal),
                           "--runs", "3", "--json"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"the floor failed ({done.returncode}):\n{done.stderr}")
    return float(json.loads(done.stdout)["seconds"])


def record_seconds(workload: Workload) -> dict[str, float]:
    """The record's own time inside one backtest of the workload with this checkout's code
    (benchmarks/record_share.py: the journal writer, the Decisions' encoding and the fold's
    decoding, timed in the process), in its own process; with the rest of its figures
    (``bound_s``: the process with only the strategy and the record in its wake loop)."""
    with tempfile.TemporaryDirectory(prefix="agentfund-bench-record-") as tmp:
        figures = Path(tmp) / "record.json"
        done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "record_share.py"),
                               str(figures), str(workload.config), "--out", str(Path(tmp) / "out"),
                               "--no-cache", *workload.backtest_args], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if done.returncode != 0:
            raise SystemExit(f"the record's timing failed ({done.returncode}):\n{done.stderr}")
        return {k: float(v) for k, v in json.loads(figures.read_text()).items()}


def bound_parts(record: list[dict[str, float]]) -> str:
    """The parts of that bound, each the median over the runs."""
    parts = (("the interpreter and imports", lambda r: r["before_command_s"]),
             ("the strategy's on_wake", lambda r: r["strategy_s"]),
             ("the record in the loop", lambda r: r["record_in_loop_s"]),
             ("the report", lambda r: r["report_s"]),
             ("the rest outside the loop",
              lambda r: r["outside_loop_s"] - r["before_command_s"] - r["report_s"]))
    return ", ".join(f"{what} {statistics.median(map(part, record)):.2f} s"
                     for what, part in parts)


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """A detached git worktree of ``revision`` for the length of the block (beside it, a
    link to the shared data, as the checkout has)."""
    with tempfile.TemporaryDirectory(prefix="agentfund-bench-rev-") as tmp:
        other = Path(tmp) / "code"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(other),
                        revision], check=True, capture_output=True)
        shared = ROOT.parent / "shared"  # configs name the shared data as ../shared
        if shared.is_dir():
            (Path(tmp) / "shared").symlink_to(shared)
        try:
            yield other
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(other)], check=False, capture_output=True)


@dataclass
class Side:
    """One side's samples of one workload."""

    backtest: list[Sample]
    verify: list[Sample]
    entries: int = 0

    def seconds(self) -> list[float]:
        return [s.seconds for s in self.backtest]

    def peaks(self) -> list[float]:
        return [s.peak_mib for s in self.backtest]


def pairs(workload: Workload, runs: int, roots: tuple[Path, Path], caches: tuple[Path, Path],
          floor: list[float] | None = None, record: list[dict[str, float]] | None = None
          ) -> tuple[Side, Side]:
    """``runs`` pairs of one workload, A then B each time; with ``floor``, the floor loop is
    timed over A's journal after each of A's runs (median of 3), appended there; with
    ``record``, the record's time inside one more of A's runs (:func:`record_seconds`)."""
    sides = (Side([], []), Side([], []))
    with tempfile.TemporaryDirectory(prefix="agentfund-bench-keep-") as tmp:
        kept = Path(tmp) / "journal.db"
        for _ in range(runs):
            for index, side in enumerate(sides):
                keep = kept if index == 0 and floor is not None else None
                backtest, verify, side.entries = run_once(workload, caches[index],
                                                          roots[index], keep=keep)
                side.backtest.append(backtest)
                side.verify.append(verify)
                if keep is not None and floor is not None:
                    floor.append(floor_seconds(kept))
                if index == 0 and record is not None:
                    record.append(record_seconds(workload))
    return sides


def sentiment_pairs(runs: int, roots: tuple[Path, Path], caches: tuple[Path, Path]
                    ) -> tuple[tuple[Side, Side], tuple[Side, Side]]:
    """``runs`` rounds of: A's first run (empty score cache) and A's re-run (scores cached),
    then B's two; returns (first runs A, B), (re-runs A, B)."""
    first = (Side([], []), Side([], []))
    again = (Side([], []), Side([], []))
    for _ in range(runs):
        for index in (0, 1):
            for workload, sides in ((BY_NAME["news"], first), (BY_NAME["news-rerun"], again)):
                backtest, verify, sides[index].entries = run_once(workload, caches[index],
                                                                  roots[index])
                sides[index].backtest.append(backtest)
                sides[index].verify.append(verify)
    return first, again


def issue_table(chosen: set[str], runs: int, revision: str, work: Path) -> list[targets.Row]:
    """Measure every chosen row of the issue's table, A (this checkout) against B."""
    rows: list[targets.Row] = []
    caches = (work / "cache-a", work / "cache-b")
    with worktree(revision) as other:
        roots = (ROOT, other)
        hourly = pairs(BY_NAME["w1"], runs, roots, caches) if "w1" in chosen else None
        if hourly:
            rows.append(targets.time_row("W1 hourly", hourly[0].seconds(),
                                         hourly[1].seconds(), 0.65))
        if "w1-5m" in chosen:
            floor: list[float] = []
            record: list[dict[str, float]] = []
            a, b = pairs(BY_NAME["w1-5m"], runs, roots, caches, floor, record)
            rows.append(targets.time_row("W1 every 5 minutes", a.seconds(), b.seconds(), 0.4))
            rows.append(targets.floor_row("W1 every 5 minutes against the floor",
                                          a.seconds(), floor, a.entries))
            rows.append(targets.floor_row(
                "W1 every 5 minutes: its record alone (timed inside the run) against the floor",
                [r["record_s"] for r in record], floor, a.entries, note="shown, not the "
                "target: the record's own time inside A's run (benchmarks/record_share.py), "
                "over the floor"))
            rows.append(targets.floor_row(
                "W1 every 5 minutes with the framework's work at each wake taken as free, "
                "against the floor", [r["bound_s"] for r in record], floor, a.entries,
                note="shown, not the target: A's process less its wake loop's steps but the "
                "strategy's own on_wake and the record (benchmarks/record_share.py), over "
                "the floor: " + bound_parts(record)))
            rows.append(targets.rate_row("`fund verify` of W1-5m, entries replayed/s",
                                         a.entries, [s.seconds for s in a.verify],
                                         [s.seconds for s in b.verify], 2.5))
            rss = targets.median_ratio(a.peaks(), b.peaks())
            rows.append(targets.Row("peak RSS, W1 every 5 minutes", "MiB",
                                    statistics.median(a.peaks()), statistics.median(b.peaks()),
                                    rss, f"≤ today (+{targets.RSS_NOISE - 1:.0%} noise)",
                                    targets.at_most(rss, targets.RSS_NOISE)))
            if hourly:
                b_flat = targets.median_ratio(b.peaks(), hourly[1].peaks())
                rows.append(targets.own_ratio_row(
                    "peak RSS flat: 52,416 wakes ÷ 4,368 wakes", a.peaks(), hourly[0].peaks(),
                    targets.FLAT_RSS, f"≤ {targets.FLAT_RSS:g} (flat)", b_flat))
        rows.extend(sentiment_rows(chosen, runs, roots, caches))
        if UI in chosen:
            from benchmarks.ui_start import ui_rows

            rows.extend(ui_rows(runs, roots, work))
    return rows


def sentiment_rows(chosen: set[str], runs: int, roots: tuple[Path, Path],
                   caches: tuple[Path, Path]) -> list[targets.Row]:
    """The sentiment rows (first run; re-run with scores cached), or why they were skipped."""
    names = ("sentiment benchmark, first run", "the same, re-run with scores cached")
    if not chosen & {"news", "news-rerun"}:
        return []
    if not SHARED_NEWS.exists():
        reason = f"needs the shared headlines {SHARED_NEWS} (../shared), absent here"
        return [targets.skipped(names[0], "≤ 0.45 × today", reason),
                targets.skipped(names[1], "≤ 0.5 × its own first run", reason)]
    first, again = sentiment_pairs(runs, roots, caches)
    b_own = targets.median_ratio(again[1].seconds(), first[1].seconds())
    return [targets.time_row(names[0], first[0].seconds(), first[1].seconds(), 0.45),
            targets.own_ratio_row(names[1], again[0].seconds(), first[0].seconds(), 0.5,
                                  "≤ 0.5 × its own first run", b_own)]


def print_plain(results: list[dict[str, object]], runs: int) -> None:
    """The one-checkout table: each workload's medians against its absolute target."""
    print(f"agentfund benchmarks — {os.cpu_count()} cores, median of {runs} runs, "
          "whole processes (start-up, data, full journal on SQLite, report)")
    print(f"{'workload':<10} {'entries':>9} {'backtest s':>11} {'min s':>7} {'peak MiB':>9} "
          f"{'verify s':>9} {'target s':>9}  met")
    for r in results:
        met = "yes" if r["backtest_s"] < r["target_s"] else "NO"  # type: ignore[operator]
        print(f"{r['workload']:<10} {r['entries']:>9,} {r['backtest_s']:>11.2f} "
              f"{r['backtest_min_s']:>7.2f} {r['backtest_peak_mib']:>9.0f} {r['verify_s']:>9.2f} "
              f"{r['target_s']:>9.1f}  {met}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", action="append", default=[],
                        choices=[w.name for w in WORKLOADS] + [UI],
                        help=f"only these workloads ({UI}: `fund ui` start, --against only)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--against", metavar="REV",
                        help="also time REV's code, in turn, and print the issue's table")
    args = parser.parse_args(argv)
    everything = {w.name for w in WORKLOADS} | {UI}
    chosen = set(args.only) or everything
    work = Path(tempfile.mkdtemp(prefix="agentfund-bench-work-"))
    try:
        if args.against:
            started = time.perf_counter()
            rows = issue_table(chosen, args.runs, args.against, work)
            if args.json:
                print(json.dumps({"against": args.against, "runs": args.runs,
                                  "rows": [asdict(r) for r in rows]}, indent=2))
                return 0
            print(f"A = this checkout, B = {args.against}; {args.runs} pairs a row, A B A B …, "
                  f"whole processes; load average {os.getloadavg()[0]:.1f} on "
                  f"{os.cpu_count()} CPUs; {time.perf_counter() - started:.0f} s in all; "
                  f"this benchmark process's peak RSS {parent_peak_mib():.0f} MiB (no "
                  "child's can be lower)\n")
            print(targets.format_rows(rows, args.against))
            return 0
        missing = [w for w in WORKLOADS if w.name in chosen and w.needs is not None
                   and not w.needs.exists()]
        for workload in missing:
            print(f"skipping {workload.name}: needs {workload.needs} (shared data), absent here")
        plain = [w for w in WORKLOADS if w.name in chosen and w not in missing]
        results = [run_workload(w, args.runs, work / "cache") for w in plain]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    scoring = scoring_rate() if SHARED_NEWS.exists() and not args.only else None
    if args.json:
        print(json.dumps({"workloads": results, "scoring": scoring}, indent=2))
        return 0
    print_plain(results, args.runs)
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
