"""Soak benchmark: many actors in one ``fund run`` daemon on 1-second wakes, for minutes.

    python benchmarks/soak.py                          # 50 actors, 10 minutes
    python benchmarks/soak.py --actors 5 --minutes 0.5 # a quick check
    python benchmarks/soak.py --json                   # machine-readable figures

A Binance-compatible fake exchange runs in this process (prices on a seeded random walk,
so the rebalancers trade now and then). The daemon is a separate ``fund run`` process
writing to a fresh SQLite journal; every 5 s its CPU (user+sys, % of one core over the
interval) and RSS are sampled from /proc. After the duration it is stopped with SIGTERM,
and wake lateness (the Wake entry's ``ts`` minus its ``scheduled`` cron fire time) and
missed wakes are read back from the journal; ``fund verify`` then checks the journal.

Target (the issue): p99 lateness under 250 ms, memory growth under 10 % from minute 2 to
the end, on a 2-core machine. Wakes run at start-up (the daemon's catch-up tick, before
the scheduler starts) are counted apart from the steady-state figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fund.canonical import loads, parse_ts  # noqa: E402
from fund.journal import EntryFilter, open_journal  # noqa: E402
from tests.integration.fake_exchange import FakeExchange  # noqa: E402

PYTHON = ROOT / ".venv" / "bin" / "python"
TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_S = 5.0
GRACE_S = 0.5
TARGET_P99_MS = 250.0
TARGET_GROWTH_PCT = 10.0
WAKE, MISSED = "Wake", "MissedWake"

HEADER = """\
[fund]
name = "soak"
initial_cash = 10000
quote = "USDT"
fee_rate = 0.001

[exchange]
id = "binance"
urls = {{api = "{url}"}}

[daemon]
misfire_grace_s = {grace}
"""

ACTOR = """
[actors.{name}]
cron = "* * * * * *"
strategy = "rebalance"
[actors.{name}.params]
band = 0.002
[actors.{name}.params.weights]
"BTC/USDT" = {btc}
"ETH/USDT" = {eth}
"""


# --- the fund ------------------------------------------------------------------------------

def actor_names(count: int) -> list[str]:
    """a00, a01, … (wide enough for ``count``)."""
    width = max(2, len(str(count - 1)))
    return [f"a{i:0{width}d}" for i in range(count)]


def write_config(path: Path, url: str, names: Sequence[str]) -> None:
    """A fund of rebalancers, each on every-second wakes, with slightly different targets."""
    parts = [HEADER.format(url=url, grace=GRACE_S)]
    for i, name in enumerate(names):
        btc = Decimal("0.30") + Decimal(i % 7) * Decimal("0.05")  # 0.30 … 0.60
        parts.append(ACTOR.format(name=name, btc=btc, eth=Decimal("0.30")))
    path.write_text("".join(parts), encoding="utf-8")


# --- sampling the daemon -------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    """One reading: seconds since the scheduler started, CPU % over the interval, RSS."""

    t: float
    cpu_pct: float
    rss_mib: float
    exchange_cpu_pct: float  # this process: the fake exchange (and the sampler)


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU time of a process, in seconds (/proc/PID/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "; state is fields[0]
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    """Resident set size (VmRSS) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


class Sampler:
    """CPU and RSS of the daemon (and CPU of this process), one reading per call."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.last = (time.monotonic(), cpu_seconds(pid), cpu_seconds("self"))
        self.samples: list[Sample] = []

    def sample(self, t: float) -> None:
        now, daemon, own = time.monotonic(), cpu_seconds(self.pid), cpu_seconds("self")
        then, daemon0, own0 = self.last
        wall = max(now - then, 1e-9)
        self.samples.append(Sample(round(t, 2), 100 * (daemon - daemon0) / wall,
                                   rss_mib(self.pid), 100 * (own - own0) / wall))
        self.last = (now, daemon, own)


# --- running the daemon --------------------------------------------------------------------

@dataclass
class Run:
    """What the run left behind: log events, samples, timings."""

    samples: list[Sample]
    events: list[dict[str, Any]]
    startup_s: float
    seconds: float
    stop_s: float
    exit_code: int
    startup_wakes: set[tuple[str, datetime]] = field(default_factory=set)


def read_events(log: Path) -> list[dict[str, Any]]:
    """The daemon's JSON log lines (anything else is kept as {"event": "text"})."""
    events: list[dict[str, Any]] = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = {"event": "text", "text": line}
        events.append(event if isinstance(event, dict) else {"event": "text", "text": line})
    return events


def wait_started(process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait for the daemon's "started" log line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the daemon exited ({process.returncode}) before starting:\n"
                             f"{log.read_text(errors='replace')[-3000:]}")
        if b'"event": "started"' in log.read_bytes():
            return
        time.sleep(0.05)
    raise SystemExit(f"the daemon did not start within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> tuple[int, float]:
    """SIGTERM, then wait (kill after 60 s); return the exit code and seconds to stop."""
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    return code, time.monotonic() - began


def run_daemon(config: Path, db: Path, log: Path, seconds: float, quiet: bool) -> Run:
    """Start ``fund run``, sample it every 5 s for ``seconds``, stop it with SIGTERM."""
    command = [str(PYTHON), "-m", "fund", "run", str(config), "--journal", f"sqlite:///{db}"]
    spawned = time.monotonic()
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=sink,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        sampler = Sampler(process.pid)
        wait_started(process, log, timeout=300)
        started = time.monotonic()
        sampler.sample(0.0)  # CPU over start-up (imports, opening every stream)
        next_at = started + SAMPLE_S
        while (now := time.monotonic()) < started + seconds:
            time.sleep(max(0.0, min(next_at, started + seconds) - now))
            if time.monotonic() >= next_at:
                sampler.sample(time.monotonic() - started)
                next_at += SAMPLE_S
                if not quiet and len(sampler.samples) % 12 == 1:
                    last = sampler.samples[-1]
                    print(f"  {last.t:6.0f} s  daemon CPU {last.cpu_pct:5.1f} %  "
                          f"RSS {last.rss_mib:6.1f} MiB", file=sys.stderr)
        if process.poll() is not None:
            raise SystemExit(f"the daemon died during the soak ({process.returncode}):\n"
                             f"{log.read_text(errors='replace')[-3000:]}")
        sampler.sample(time.monotonic() - started)
        ran = time.monotonic() - started
        code, stop_s = stop(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    events = read_events(log)
    return Run(samples=sampler.samples, events=events, startup_s=started - spawned,
               seconds=ran, stop_s=stop_s, exit_code=code,
               startup_wakes=startup_wakes(events))


def startup_wakes(events: Sequence[dict[str, Any]]) -> set[tuple[str, datetime]]:
    """(actor, scheduled) of the wakes run before the scheduler started (catch-up ticks)."""
    found: set[tuple[str, datetime]] = set()
    for event in events:
        if event.get("event") == "started":
            break
        if event.get("event") == "wake":
            found.add((event["actor"], datetime.fromisoformat(event["scheduled"])))
    return found


# --- the journal ---------------------------------------------------------------------------

def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values (NaN if none)."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class Stats:
    """Lateness percentiles (ms) of a set of wakes."""

    wakes: int = 0
    p50_ms: float = math.nan
    p90_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    mean_ms: float = math.nan


def stats(values: Sequence[float]) -> Stats:
    """Count, p50, p90, p99, max and mean of lateness values."""
    ordered = sorted(values)
    if not ordered:
        return Stats()
    return Stats(len(ordered), percentile(ordered, 50), percentile(ordered, 90),
                 percentile(ordered, 99), ordered[-1], sum(ordered) / len(ordered))


@dataclass
class Journaled:
    """What the journal holds: every wake's lateness, missed wakes, entry counts."""

    wakes: list[tuple[datetime, str, float]] = field(default_factory=list)  # steady state
    startup: list[float] = field(default_factory=list)  # catch-up wakes before "started"
    missed_wakes: int = 0
    missed_entries: int = 0
    entries: int = 0
    fills: int = 0
    rejections: int = 0
    observation_errors: int = 0


def read_journal(db: Path, names: Sequence[str],
                 startup: set[tuple[str, datetime]]) -> Journaled:
    """Lateness (ms) of every Wake entry (ts − scheduled), and the MissedWake counts."""
    out = Journaled()
    with open_journal(str(db), must_exist=True) as journal:
        for name in names:
            out.entries += journal.count(name)
            out.fills += journal.count(name, ("Fill",))
            out.rejections += journal.count(name, ("OrderRejected",))
            for entry in journal.read(name, EntryFilter(kinds=(WAKE, MISSED, "Observation"))):
                payload = loads(entry.payload)
                if entry.kind == "Observation":
                    out.observation_errors += "error" in payload
                elif entry.kind == MISSED:
                    out.missed_entries += 1
                    out.missed_wakes += int(payload["count"])
                else:
                    scheduled = parse_ts(payload["scheduled"])
                    late = (parse_ts(entry.ts) - scheduled).total_seconds() * 1000
                    if (name, scheduled) in startup:
                        out.startup.append(late)
                    else:
                        out.wakes.append((scheduled, name, late))
    return out


def lateness(found: Journaled, actors: int) -> dict[str, Any]:
    """Overall and settled (from minute 1) lateness, per minute, and the wake accounting.

    ``due`` counts every actor's fire times from the first to the last second any actor
    woke at; ``unaccounted`` are due wakes neither run nor recorded as missed (an actor's
    wakes before its first ever wake are not recorded as missed by the daemon).
    """
    if not found.wakes:
        return {"overall": asdict(Stats()), "settled": asdict(Stats()), "per_minute": [],
                "due": 0, "unaccounted": 0}
    first = min(t for t, _, _ in found.wakes)
    rounds = int((max(t for t, _, _ in found.wakes) - first).total_seconds()) + 1
    minutes: dict[int, list[float]] = {}
    by_actor: dict[str, list[float]] = {}
    for scheduled, name, late in found.wakes:
        minutes.setdefault(int((scheduled - first).total_seconds() // 60), []).append(late)
        by_actor.setdefault(name, []).append(late)
    medians = sorted(((n, percentile(sorted(v), 50)) for n, v in by_actor.items()),
                     key=lambda item: -item[1])
    return {
        "overall": asdict(stats([late for _, _, late in found.wakes])),
        "settled": asdict(stats([late for t, _, late in found.wakes
                                 if (t - first).total_seconds() >= 60])),
        "per_minute": [{"minute": m, **asdict(stats(v))} for m, v in sorted(minutes.items())],
        "worst_actors_p50_ms": medians[:5],
        "due": rounds * actors,
        "unaccounted": rounds * actors - len(found.wakes) - found.missed_wakes,
        "startup_wakes": len(found.startup),
        "startup_max_ms": max(found.startup, default=math.nan),
        "missed_wakes": found.missed_wakes, "missed_entries": found.missed_entries,
    }


def verify(db: Path) -> dict[str, Any]:
    """Run ``fund verify`` on the journal: did it verify, and how long did it take."""
    began = time.perf_counter()
    done = subprocess.run([str(PYTHON), "-m", "fund", "verify", str(db)], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    return {"ok": done.returncode == 0, "seconds": round(time.perf_counter() - began, 2),
            "streams": sum("verified" in line for line in done.stdout.splitlines()),
            "error": done.stderr.strip()[-500:] if done.returncode else None}


# --- figures -------------------------------------------------------------------------------

def window(samples: Sequence[Sample], start: float, end: float) -> dict[str, float]:
    """Mean CPU % over (start, end] and the RSS of the last reading in it."""
    inside = [s for s in samples if start < s.t <= end + 0.5 and not math.isnan(s.cpu_pct)]
    if not inside:
        return {"cpu_pct": math.nan, "exchange_cpu_pct": math.nan, "rss_mib": math.nan,
                "at_s": math.nan}
    return {"cpu_pct": sum(s.cpu_pct for s in inside) / len(inside),
            "exchange_cpu_pct": sum(s.exchange_cpu_pct for s in inside) / len(inside),
            "rss_mib": inside[-1].rss_mib, "at_s": inside[-1].t}


def resources(run: Run) -> dict[str, Any]:
    """CPU and RSS at minute 0–1, minute 1–2 and the last minute; memory growth.

    Growth is measured from minute 2 to the end. A run shorter than 3 minutes has no
    minute-2 baseline; it uses the reading at a fifth of the run instead (and says so).
    """
    end = run.samples[-1].t
    if end >= 180:
        base_t = 120.0
    else:
        base_t = min((s.t for s in run.samples), key=lambda t: abs(t - end / 5))
    base = min(run.samples, key=lambda s: abs(s.t - base_t))
    last = run.samples[-1]
    growth = 100 * (last.rss_mib - base.rss_mib) / base.rss_mib
    return {
        "rss_at_start_mib": run.samples[0].rss_mib,
        "minute_0_1": window(run.samples, 0, 60),
        "minute_1_2": window(run.samples, 60, 120),
        "last_minute": window(run.samples, max(0.0, end - 60), end),
        "growth_from_s": base.t, "growth_to_s": last.t,
        "growth_base_mib": base.rss_mib, "growth_end_mib": last.rss_mib,
        "memory_growth_pct": growth,
        "peak_rss_mib": max(s.rss_mib for s in run.samples),
    }


def log_counts(events: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many of each log event the daemon wrote."""
    counts: dict[str, int] = {}
    for event in events:
        key = str(event.get("event"))
        counts[key] = counts.get(key, 0) + 1
    return counts


def finite(value: Any) -> Any:
    """The figures with NaN replaced by None (JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def fmt_ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:,.1f}"


def stats_line(label: str, row: dict[str, Any]) -> str:
    return (f"{label:<22} {row['wakes']:>7,} {fmt_ms(row['p50_ms']):>8} "
            f"{fmt_ms(row['p90_ms']):>8} {fmt_ms(row['p99_ms']):>8} {fmt_ms(row['max_ms']):>9}")


def print_table(figures: dict[str, Any]) -> None:
    """The figures as a small table."""
    late, res, v, j = (figures["lateness"], figures["resources"], figures["verify"],
                       figures["journal"])
    print(f"agentfund soak — {figures['actors']} actors, 1-second wakes, "
          f"{figures['seconds'] / 60:.1f} min, {figures['cores']} cores, "
          f"misfire grace {GRACE_S * 1000:.0f} ms")
    print(f"start-up {figures['startup_s']:.1f} s (spawn to scheduler running), "
          f"stop {figures['stop_s']:.1f} s (SIGTERM, exit {figures['exit_code']})")
    print(f"wakes run {late['overall']['wakes']:,} of {late['due']:,} due, "
          f"missed {late['missed_wakes']:,} (in {late['missed_entries']:,} MissedWake "
          f"entries), unaccounted {late['unaccounted']:,}; "
          f"start-up catch-up wakes {late['startup_wakes']} (max "
          f"{fmt_ms(late['startup_max_ms'])} ms, not counted below)")
    print(f"{'lateness (ms)':<22} {'wakes':>7} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>9}")
    print(stats_line("all", late["overall"]))
    print(stats_line("from minute 1", late["settled"]))
    for row in late["per_minute"]:
        print(stats_line(f"  minute {row['minute']}", row))
    settled = late["settled"]["p99_ms"]
    print(f"p99 target < {TARGET_P99_MS:.0f} ms: {'met' if figures['p99_met'] else 'NOT MET'}"
          " (all wakes); from minute 1: "
          f"{'—' if math.isnan(settled) else 'met' if settled < TARGET_P99_MS else 'NOT MET'}")
    print(f"{'resources':<14} {'daemon CPU %':>13} {'exchange CPU %':>15} {'RSS MiB':>9}")
    first = figures["samples"][0]
    print(f"{'start-up':<14} {first['cpu_pct']:>13.1f} {first['exchange_cpu_pct']:>15.1f} "
          f"{res['rss_at_start_mib']:>9.1f}")
    for label, key in (("minute 0–1", "minute_0_1"), ("minute 1–2", "minute_1_2"),
                       ("last minute", "last_minute")):
        w = res[key]
        print(f"{label:<14} {fmt_ms(w['cpu_pct']):>13} {fmt_ms(w['exchange_cpu_pct']):>15} "
              f"{fmt_ms(w['rss_mib']):>9}")
    print(f"memory growth {res['memory_growth_pct']:+.1f} % from {res['growth_from_s']:.0f} s "
          f"({res['growth_base_mib']:.1f} MiB) to {res['growth_to_s']:.0f} s "
          f"({res['growth_end_mib']:.1f} MiB), target < {TARGET_GROWTH_PCT:.0f} %: "
          f"{'met' if figures['growth_met'] else 'NOT MET'}")
    print(f"journal {j['entries']:,} entries, {j['mib']:.1f} MiB, {j['fills']:,} fills, "
          f"{j['rejections']} rejections, {j['observation_errors']} oracle errors")
    status = "verified" if v["ok"] else f"FAILED: {v['error']}"
    print(f"fund verify {status} ({v['streams']} streams) in {v['seconds']:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, default=50, help="actors in the fund (50)")
    parser.add_argument("--minutes", type=float, default=10.0, help="soak duration (10)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--seed", type=int, default=7, help="random-walk seed (7)")
    parser.add_argument("--walk-bps", type=int, default=5,
                        help="price move per ticker request, at most, in bps (5)")
    parser.add_argument("--keep", type=Path, help="keep config, journal and log in this folder")
    args = parser.parse_args(argv)
    if args.actors < 1 or args.minutes <= 0:
        parser.error("--actors must be at least 1 and --minutes positive")
    names = actor_names(args.actors)
    with tempfile.TemporaryDirectory(prefix="agentfund-soak-") as tmp, FakeExchange() as venue:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        venue.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        venue.random_walk(args.seed, args.walk_bps)
        config, db, log = folder / "soak.toml", folder / "journal.db", folder / "daemon.log"
        for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            stale.unlink(missing_ok=True)
        write_config(config, venue.url, names)
        if not args.json:
            print(f"soak: {args.actors} actors for {args.minutes:g} min "
                  f"(journal {db})", file=sys.stderr)
        run = run_daemon(config, db, log, args.minutes * 60, quiet=args.json)
        found = read_journal(db, names, run.startup_wakes)
        journal_mib = sum(p.stat().st_size for p in folder.glob("journal.db*")) / 2**20
        checked = verify(db)
    res = resources(run)
    late = lateness(found, args.actors)
    figures: dict[str, Any] = {
        "actors": args.actors, "seconds": round(run.seconds, 1), "cores": os.cpu_count(),
        "startup_s": round(run.startup_s, 2), "stop_s": round(run.stop_s, 2),
        "exit_code": run.exit_code, "lateness": late, "resources": res,
        "journal": {"entries": found.entries, "mib": journal_mib, "fills": found.fills,
                    "rejections": found.rejections,
                    "observation_errors": found.observation_errors},
        "verify": checked, "log_events": log_counts(run.events),
        "p99_met": late["overall"]["p99_ms"] < TARGET_P99_MS,
        "growth_met": res["memory_growth_pct"] < TARGET_GROWTH_PCT,
        "samples": [asdict(s) for s in run.samples],
    }
    if args.json:
        print(json.dumps(finite(figures), indent=2, default=str))
    else:
        print_table(figures)
    return 0 if run.exit_code == 0 and checked["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
