"""How cost grows with the work: assets, wakes and journal size (issue 18).

    python benchmarks/scaling.py                       # every axis, default sizes
    python benchmarks/scaling.py --axis assets --assets 5,20,100
    python benchmarks/scaling.py --axis journal --sizes 1000,10000,100000,1000000,10000000
    make bench-scaling

Every figure is one fresh process, timed from outside, with its peak memory (the child's
max RSS, from wait4, as benchmarks/run.py does):

* **assets** — W1's rebalancer (wakes every 5 minutes, 2024-01-01 → 06-30) over 5 assets
  (the shipped sample), and over 20 and 100 synthetic ones (seeded random walks written
  as 5-minute feather files in a temporary directory: benchmarks/synthetic.py);
* **wakes** — W1 on the shipped 5 assets, woken hourly, every 5 minutes and every minute
  (the 1-minute wakes read the 5-minute candles: a wake sees the last closed candle);
* **journal** — N synthetic entries (a wake, a price observation and a decision, in
  turn) appended through the journal's own writer (``JournalWriter``: encode, chain,
  batched atomic appends), then the chain read back and every hash checked, on SQLite and,
  when ``DATABASE_URL`` names a PostgreSQL server, on PostgreSQL.

*process time* is the whole process (start-up, data loading, the run without the report,
``--no-report``); a backtest's *entries/s* is its journal's entries over that whole time, a
journal row's the appends alone (the note gives the append and chain-check times).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import synthetic  # noqa: E402
from benchmarks.run import CONFIG, FUND, parent_peak_mib  # noqa: E402

START, END = date(2024, 1, 1), date(2024, 6, 30)
WAKES = {"hourly": "0 * * * *", "5 minutes": "*/5 * * * *", "1 minute": "* * * * *"}
AXES = ("assets", "wakes", "journal")


def run_child(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run one process; return its wall seconds, peak RSS (MiB) and standard output."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.PIPE, cwd=ROOT,
                                   env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise SystemExit(f"failed: {' '.join(args[-6:])}\n{stderr.strip()}")
        out.seek(0)
        text = out.read().decode()
    return seconds, usage.ru_maxrss / 1024, text


def backtest(config: Path, out: Path, *extra: str) -> dict[str, Any]:
    """One ``fund backtest --no-report`` process: seconds, peak MiB, entries, entries/s."""
    seconds, peak, _ = run_child([*FUND, "backtest", str(config), "--out", str(out),
                                  "--no-report", *extra],
                                 env={"AGENTFUND_RUN_CACHE": "off"})  # timed: really run
    entries = int(json.loads((out / "summary.json").read_text())["entries"])
    return {"seconds": seconds, "peak_mib": peak, "entries": entries,
            "per_second": entries / seconds}


def assets_rows(counts: list[int], work: Path) -> list[dict[str, Any]]:
    """W1 with 5-minute wakes over 5 (shipped) and N synthetic assets."""
    rows = []
    for count in counts:
        if count == 5:
            config, source = CONFIG, "shipped sample"
            extra: tuple[str, ...] = ("--set", f'actors.rebalancer.cron="{WAKES["5 minutes"]}"')
        else:
            universe = work / f"universe-{count}"
            seconds, _, _ = run_child([sys.executable, str(ROOT / "benchmarks" / "synthetic.py"),
                                       str(universe), str(count), START.isoformat(),
                                       END.isoformat()])  # not here: see parent_peak_mib
            source = f"synthetic (written in {seconds:.1f} s)"
            config = universe / "config.toml"
            extra = ()
        result = backtest(config, work / f"out-assets-{count}", *extra)
        rows.append({"axis": "assets", "case": f"{count} assets, 5-minute wakes",
                     "note": source, **result})
    return rows


def wakes_rows(names: list[str], work: Path) -> list[dict[str, Any]]:
    """W1 on the shipped 5 assets, at each wake interval."""
    rows = []
    for name in names:
        result = backtest(CONFIG, work / f"out-wakes-{name.replace(' ', '')}", "--set",
                          f'actors.rebalancer.cron="{WAKES[name]}"')
        rows.append({"axis": "wakes", "case": f"5 assets, wakes every {name}".replace(
            "every hourly", "hourly"), "note": "shipped sample", **result})
    return rows


def journal_child(url: str, size: int) -> None:
    """Append ``size`` synthetic entries to a new stream of ``url``, then check its chain;
    print the two times as JSON (run in its own process by :func:`journal_rows`)."""
    from fund.journal import open_journal
    from fund.journal.base import GENESIS_HASH
    from fund.journal.writer import JournalWriter

    process = f"scale-{size}-{os.getpid()}"
    with open_journal(url) as store:
        writer = JournalWriter(store, process)
        started = time.perf_counter()
        for number in range(size):
            kind, body = synthetic.payload(number)
            writer.append(kind, f"2024-01-01T00:00:{number % 60:02d}.000000Z", body)
        writer.flush()
        appended = time.perf_counter() - started
        started = time.perf_counter()
        prev, count = GENESIS_HASH, 0
        for entry in store.read(process):
            if entry.prev_hash != prev or entry.expected_hash() != entry.hash:
                raise SystemExit(f"entry {entry.seq}: chain broken")
            prev, count = entry.hash, count + 1
        checked = time.perf_counter() - started
    if count != size:
        raise SystemExit(f"read {count} entries back, wrote {size}")
    if not url.startswith("sqlite"):
        drop_stream(url, process)
    print(json.dumps({"append_s": appended, "verify_s": checked}))


def drop_stream(url: str, process: str) -> None:
    """Delete a benchmark stream from a shared server's journal (PostgreSQL)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM journal_entries WHERE process_id = :p"),
                           {"p": process})
    engine.dispose()


def journal_rows(sizes: list[int], work: Path) -> list[dict[str, Any]]:
    """Appends and a chain check of N entries, on SQLite and (if configured) PostgreSQL."""
    backends: list[tuple[str, str | None]] = [("SQLite", None)]
    postgres = os.environ.get("DATABASE_URL", "")
    backends.append(("PostgreSQL", postgres if postgres.startswith("postgresql") else ""))
    rows: list[dict[str, Any]] = []
    for backend, url in backends:
        for size in sizes:
            case = f"{size:,} entries, {backend}"
            if url == "":
                rows.append({"axis": "journal", "case": case, "note": "skipped: DATABASE_URL "
                             "does not name a PostgreSQL server"})
                continue
            target = url or f"sqlite:///{work / f'journal-{size}.db'}"
            seconds, peak, out = run_child([sys.executable, str(Path(__file__).resolve()),
                                            "--child-journal", target, "--child-size",
                                            str(size)])
            times = json.loads(out.strip().splitlines()[-1])
            if url is None:
                (work / f"journal-{size}.db").unlink(missing_ok=True)
            rows.append({"axis": "journal", "case": case, "seconds": seconds, "peak_mib": peak,
                         "entries": size, "append_s": times["append_s"],
                         "verify_s": times["verify_s"],
                         "per_second": size / times["append_s"],
                         "note": f"appends {times['append_s']:.2f} s, chain check "
                                 f"{times['verify_s']:.2f} s = {size / times['verify_s']:,.0f}/s"})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The figures as a Markdown table, one line per case."""
    lines = ["| axis | case | entries | process time | peak RSS | entries/s | note |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        if "seconds" not in row:
            lines.append(f"| {row['axis']} | {row['case']} | — | — | — | — | {row['note']} |")
            continue
        lines.append(f"| {row['axis']} | {row['case']} | {row['entries']:,} | "
                     f"{row['seconds']:.2f} s | {row['peak_mib']:.0f} MiB | "
                     f"{row['per_second']:,.0f} | {row.get('note', '')} |")
    return "\n".join(lines)


def numbers(text: str) -> list[int]:
    """A comma-separated list of counts (``1000,1e6`` and ``1_000`` allowed)."""
    return [int(float(part.replace("_", ""))) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--axis", action="append", choices=AXES, default=[],
                        help="only this axis (repeatable; default: all)")
    parser.add_argument("--assets", type=numbers, default=[5, 20, 100],
                        help="universe sizes (default 5,20,100)")
    parser.add_argument("--wakes", action="append", choices=list(WAKES), default=[],
                        help="wake intervals (default: all three)")
    parser.add_argument("--sizes", type=numbers, default=[1_000, 10_000, 100_000, 1_000_000],
                        help="journal sizes (default 1000,10000,100000,1000000; 10M takes long)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child-journal", help=argparse.SUPPRESS)
    parser.add_argument("--child-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_journal:
        journal_child(args.child_journal, args.child_size)
        return 0
    axes = args.axis or list(AXES)
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="agentfund-scaling-") as tmp:
        work = Path(tmp)
        for axis in axes:
            if axis == "assets":
                rows += assets_rows(args.assets, work)
            elif axis == "wakes":
                rows += wakes_rows(args.wakes or list(WAKES), work)
            else:
                rows += journal_rows(args.sizes, work)
            if not args.json:
                print(f"{axis}: done ({time.perf_counter() - started:.0f} s)", file=sys.stderr,
                      flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; one process a "
          f"figure, {time.perf_counter() - started:.0f} s in all; this benchmark process's own "
          f"peak RSS {parent_peak_mib():.0f} MiB (no child's figure can be lower)\n")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
