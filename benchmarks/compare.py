"""W1 on agentfund, vectorbt and backtrader in one run: same data, rules and fees (issue 7).

    python benchmarks/compare.py                  # hourly wakes, 3 runs per engine
    python benchmarks/compare.py --five-minutes   # also the every-5-minutes variant
    python benchmarks/compare.py --runs 5 --json  # machine-readable figures
    make bench-peers

The peer engines live in their own virtual environment, ``.bench-venv/`` (created on the
first run from benchmarks/peers/requirements.txt, reused after). Every run of every engine
is a separate process, timed from outside (wall time, peak RSS from wait4, as
benchmarks/run.py does): agentfund is ``fund backtest examples/rebalance.toml --no-report``
(start-up, data, every wake recorded in a hash-chained SQLite journal); the peers are
benchmarks/peers/*_w1.py, which also time their own simulation call ("sim s").

vectorbt compiles with numba: its first run starts from an empty numba cache (cleared at
the start of every invocation) and is reported on its own row; the next runs reuse the
cache. ``from_order_func`` with custom callbacks recompiles its simulator in every new
process all the same (numba cannot cache a function specialised on other jitted
functions), so its warm *process* still pays that; "sim s" is the second, warm simulation
inside one process, the engine's own speed.

Rows marked "not W1" are each engine's built-in target-percent sizing without custom
code: they show what the engine gives when it cannot express a rule (``--exact-only``
leaves them out).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.peers import bench_venv  # noqa: E402
from benchmarks.run import CONFIG, Sample, measure  # noqa: E402

PEERS = ROOT / "benchmarks" / "peers"
CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")


@dataclass(frozen=True)
class Engine:
    key: str
    label: str
    exact: bool  # expresses every W1 rule
    script: str | None = None  # a peer script, run by the bench venv's python
    variant: str = "band"
    cold_first: bool = False  # report the first run (empty numba cache) on its own row
    warm_up: bool = False  # one untimed run first


ENGINES = (
    Engine("agentfund", "agentfund", True),
    Engine("vectorbt", "vectorbt", True, "vectorbt_w1.py", cold_first=True),
    Engine("backtrader", "backtrader", True, "backtrader_w1.py"),
    Engine("vectorbt-no-band", "vectorbt from_orders targetpercent", False, "vectorbt_w1.py",
           "no-band", warm_up=True),
    Engine("backtrader-target-percent", "backtrader order_target_percent", False,
           "backtrader_w1.py", "target-percent"),
)


@dataclass
class Row:
    """One line of the table: an engine's result and its timings."""

    label: str
    exact: bool
    final_nav: Decimal
    fills: int
    fees: Decimal
    samples: list[Sample]
    sim_s: float | None = None  # the engine's own simulation time, measured inside
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def wall_s(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def peak_mib(self) -> float:
        return statistics.median(s.peak_mib for s in self.samples)


def to_decimal(value: str | float) -> Decimal:
    """A NAV or fee as a Decimal: strings as they are, floats by their shortest repr."""
    return Decimal(value if isinstance(value, str) else repr(float(value)))


def difference(nav: Decimal, baseline: Decimal) -> Decimal:
    """``nav - baseline``, exact (round it for display)."""
    return nav - baseline


def agrees_to_the_cent(nav: Decimal, baseline: Decimal) -> bool:
    """Whether two NAVs differ by less than half a cent (they print the same to the cent)."""
    return abs(difference(nav, baseline)) < HALF_CENT


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator > 0 else "—"


def format_table(rows: Sequence[Row], baseline: Row) -> str:
    """The comparison table (Markdown), every row against ``baseline`` (agentfund)."""
    header = ("| engine | final NAV | Δ vs agentfund | to the cent | fills | fees | wall s "
              "| sim s | peak MiB | agentfund ÷ engine: time | memory |")
    lines = [header, "| --- | ---: | ---: | :---: |" + " ---: |" * 7]
    for row in rows:
        same, delta, time_ratio, memory_ratio = "—", "—", "—", "—"
        if row is not baseline:
            same = "yes" if agrees_to_the_cent(row.final_nav, baseline.final_nav) else "no"
            if not row.exact:
                same += " (not W1)"
            delta = format_difference(difference(row.final_nav, baseline.final_nav))
            time_ratio = ratio(baseline.wall_s, row.wall_s)
            memory_ratio = ratio(baseline.peak_mib, row.peak_mib)
        sim = f"{row.sim_s:.2f}" if row.sim_s is not None else "—"
        lines.append(
            f"| {row.label} | {row.final_nav.quantize(CENT):,} | {delta} | {same} "
            f"| {row.fills:,} | {row.fees.quantize(CENT):,} | {row.wall_s:.2f} | {sim} "
            f"| {row.peak_mib:.0f} | {time_ratio} | {memory_ratio} |")
    return "\n".join(lines)


def format_difference(delta: Decimal) -> str:
    """To the cent, or (under half a cent) the float residue itself, e.g. ``-3.3e-14``."""
    if delta == 0:
        return "0"
    if abs(delta) < HALF_CENT:
        return f"{float(delta):+.1e}"
    return f"{delta.quantize(CENT):+,}"


def fund_command() -> list[str]:
    if importlib.util.find_spec("fund") is not None:
        return [sys.executable, "-m", "fund"]
    return [str(ROOT / ".venv" / "bin" / "fund")]


def one_run(engine: Engine, every: int, tmp: Path) -> tuple[Sample, dict[str, Any]]:
    """Run ``engine`` once as its own process; return its timing and its JSON result (each
    agentfund run really runs: finished runs are not kept and copied)."""
    if engine.script is None:
        out = tmp / "agentfund"
        shutil.rmtree(out, ignore_errors=True)
        args = [*fund_command(), "backtest", str(CONFIG), "--out", str(out), "--json",
                "--no-report"]
        if every != 60:
            args += ["--set", f'actors.rebalancer.cron="*/{every} * * * *"']
        sample = measure(args, env_extra={"AGENTFUND_RUN_CACHE": "off"})
        result: dict[str, Any] = json.loads((out / "summary.json").read_text())
        return sample, result
    out = tmp / f"{engine.key}.json"
    out.unlink(missing_ok=True)
    sample = measure([str(bench_venv.python()), str(PEERS / engine.script), "--every",
                      str(every), "--variant", engine.variant, "--out", str(out)])
    return sample, json.loads(out.read_text())


def row_from(label: str, engine: Engine, runs: list[tuple[Sample, dict[str, Any]]],
             sim_key: str = "wall_s") -> Row:
    results = [result for _, result in runs]
    first = results[0]
    navs = {str(to_decimal(r["final_nav"])) for r in results}
    if len(navs) != 1:
        raise SystemExit(f"{label}: runs disagree on the final NAV: {sorted(navs)}")
    sims = [float(r[sim_key]) for r in results if sim_key in r]
    return Row(label=label, exact=engine.exact, final_nav=to_decimal(first["final_nav"]),
               fills=int(first["fills"]), fees=to_decimal(first["fees"]),
               samples=[sample for sample, _ in runs],
               sim_s=statistics.median(sims) if sims else None,
               note=str(first.get("notes", "")),
               extra={k: v for k, v in first.items() if k in ("rejected", "version", "wakes")})


def run_engine(engine: Engine, every: int, runs: int, tmp: Path) -> list[Row]:
    if engine.warm_up:
        one_run(engine, every, tmp)
    if not engine.cold_first:
        return [row_from(engine.label, engine, [one_run(engine, every, tmp)
                                                for _ in range(runs)])]
    shutil.rmtree(bench_venv.NUMBA_CACHE, ignore_errors=True)
    cold = row_from(f"{engine.label}, 1st run (empty numba cache)", engine,
                    [one_run(engine, every, tmp)], sim_key="first_s")
    warm = row_from(f"{engine.label}, numba cache warm", engine,
                    [one_run(engine, every, tmp) for _ in range(runs)])
    return [cold, warm]


def compare(every: int, runs: int, engines: Sequence[Engine]) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="agentfund-peers-") as tmp:
        for engine in engines:
            print(f"  {engine.label}, wakes every {every} min ...", file=sys.stderr, flush=True)
            rows += run_engine(engine, every, runs, Path(tmp))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per engine (median)")
    parser.add_argument("--five-minutes", action="store_true",
                        help="also run the every-5-minutes variant (52,416 wakes)")
    parser.add_argument("--exact-only", action="store_true",
                        help="leave out the engines' built-in sizing rows (not W1)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    install_s = bench_venv.ensure()
    os.environ["NUMBA_CACHE_DIR"] = str(bench_venv.NUMBA_CACHE)
    engines = [e for e in ENGINES if e.exact or not args.exact_only]
    load_before = os.getloadavg()
    variants = [60, 5] if args.five_minutes else [60]
    tables = {every: compare(every, args.runs, engines) for every in variants}
    load_after = os.getloadavg()
    versions = bench_venv.versions()

    if args.json:
        print(json.dumps({
            "runs": args.runs, "install_s": install_s, "versions": versions,
            "loadavg_before": load_before, "loadavg_after": load_after,
            "variants": {every: [{
                "engine": r.label, "exact": r.exact, "final_nav": str(r.final_nav),
                "difference": str(difference(r.final_nav, rows[0].final_nav)),
                "fills": r.fills, "fees": str(r.fees), "wall_s": r.wall_s, "sim_s": r.sim_s,
                "peak_mib": r.peak_mib, "samples": [s.seconds for s in r.samples],
                "notes": r.note, **r.extra} for r in rows]
                for every, rows in tables.items()},
        }, indent=2))
        return 0

    print(f"W1 on three engines — {os.cpu_count()} cores, Python {platform.python_version()}, "
          + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
          + f"; median of {args.runs} process runs; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after")
    if install_s:
        print(f"(created {bench_venv.VENV.name}/ first: {install_s:.0f} s)")
    for every, rows in tables.items():
        print(f"\nWakes every {every} min ({'hourly' if every == 60 else 'every 5 minutes'}):")
        print(format_table(rows, rows[0]))
    print("\nwall s: the whole process, timed from outside; sim s: the engine's own run, "
          "timed inside (vectorbt: a second, warm call); agentfund ÷ engine: below 1 means "
          "agentfund is faster or smaller.")
    notes = {row.label.split(",")[0]: row.note for row in tables[variants[0]][1:]}
    for label, note in notes.items():
        print(f"- {label}: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
