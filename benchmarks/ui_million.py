"""The monitoring UI on a journal of about one million entries (``make bench-ui``).

    python benchmarks/ui_million.py                  # build once (cached), then measure
    python benchmarks/ui_million.py --repeat 3       # median of 3 fresh processes a figure
    python benchmarks/ui_million.py --profile        # also cProfile the slow measurements
    python benchmarks/ui_million.py --rebuild --dir /tmp/elsewhere
    python benchmarks/ui_million.py --start --against 585aef6 --repeat 3   # `fund ui` start

``--start`` times `fund ui` from start to the first Overview (what ``fund ui`` does before
it serves, then the Overview page) on a fresh copy of the journal: the first start, a
restart, a start after the journal grew by 100k entries and a restart after that; and
``fund status`` likewise — for this checkout and, with ``--against REV``, for the code of
REV side by side (A B A B), each in fresh processes.

The journal is a REAL backtest, not synthetic entries: one fund of three rebalancing actors
over the shipped sample (Binance 5-minute candles, 2024-01-01 → 2024-06-30) — W1's
rebalancer woken every minute, a BTC/ETH one every 5 minutes and an altcoin one every 15
minutes — about 1.0 M entries in one SQLite file. It is built once under ``--dir`` and
reused while its config is unchanged. Projection checkpoints (fund/projection_store.py)
live in the journal's own database: a "cold" figure first removes them
(:func:`drop_checkpoints`), a "warm" one uses those a previous process wrote.

Every figure is measured in a fresh Python process, so Streamlit's caches and the monitor's
in-process snapshot memo are cold; "cold" also means an empty ``$AGENTFUND_CACHE`` (no
on-disk snapshot, no projection checkpoint in the journal), "warm" means what a previous
process saved. The
operating system's file cache is warm in both: each measurement first reads the journal
file through (:func:`warm_file`). Each
process first views the same page once on a one-day journal, untimed: a running ``fund ui``
server has done that work (imports, Streamlit's start-up) before anyone opens the big
journal. A page's figure is the time its script takes (``fund.monitor.views.run``, timed
inside the script thread); AppTest's whole wall time is shown beside it. Figures only:
nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import io
import json
import os
import pstats
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
PRICES = ROOT / "data" / "sample" / "binance_spot_2024"
BIG = "rebalancer"  # the longest stream: the one the decision figures use
TARGET_OVERVIEW = 3.0
TARGET_DECISION = 1.0

CONFIG = f"""\
# ui-million: W1's rebalancer woken every minute, plus two more rebalancers, one journal.
[fund]
name = "ui-million"
initial_cash = 10000
quote = "USDT"
fee_rate = 0.001
slippage_bps = 0

[backtest]
prices = "{PRICES}"
timeframe = "5m"
start = 2024-01-01
end = 2024-06-30

[actors.{BIG}]
cron = "* * * * *"
strategy = "rebalance"
[actors.{BIG}.params]
band = 0.01
min_notional = 0
[actors.{BIG}.params.weights]
"BTC/USDT" = 0.18
"ETH/USDT" = 0.18
"SOL/USDT" = 0.18
"XRP/USDT" = 0.18
"DOGE/USDT" = 0.18

[actors.majors]
cron = "*/5 * * * *"
strategy = "rebalance"
[actors.majors.params]
band = 0.005
min_notional = 10
[actors.majors.params.weights]
"BTC/USDT" = 0.45
"ETH/USDT" = 0.45

[actors.alts]
cron = "*/15 * * * *"
strategy = "rebalance"
[actors.alts.params]
band = 0.02
min_notional = 10
[actors.alts.params.weights]
"SOL/USDT" = 0.3
"XRP/USDT" = 0.3
"DOGE/USDT" = 0.3
"""


# --- the journal -----------------------------------------------------------------------------

BUILD = 3  # 2: the backtest leaves its streams' projection checkpoints (fund.monitor.keeper);
# 3: made with the key of MACHINE, the cache every measuring process starts from
MACHINE = "machine-cache"  # this machine's $AGENTFUND_CACHE as the backtest left it: only
# its projection key is kept (a checkpoint is trusted only where it was made)


def machine_cache(cache: Path, base: Path) -> Path:
    """An empty ``$AGENTFUND_CACHE`` for a measuring process, holding only the key of the
    machine that wrote the journal at ``base`` (its backtest's, under MACHINE): the same
    machine, nothing folded kept."""
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    key = base.parent.parent / MACHINE / "projection.key"
    if key.is_file():
        shutil.copyfile(key, cache / key.name)
    return cache


def build(directory: Path, rebuild: bool) -> dict[str, Any]:
    """The million-entry backtest under ``directory`` (run once; reused while the config is
    the same); returns what was built."""
    from fund.monitor.store import KEY  # the fold the backtest checkpoints: rebuilt with it

    marker = directory / "built.json"
    digest = hashlib.sha256(f"{BUILD}\n{KEY}\n{CONFIG}".encode()).hexdigest()
    if not rebuild and marker.is_file():
        built: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
        if built.get("config_sha256") == digest and Path(built["journal"]).is_file():
            built["reused"] = True
            return built
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    config = directory / "ui-million.toml"
    config.write_text(CONFIG, encoding="utf-8")
    out = directory / "run"
    print(f"building the journal: fund backtest {config} (a few minutes, once)…",
          file=sys.stderr, flush=True)
    started = time.perf_counter()
    env = {**os.environ, "AGENTFUND_CACHE": str(directory / MACHINE),  # the checkpoints' key
           "AGENTFUND_RUN_CACHE": "off"}  # a run of its own (and no 600 MB copy kept)
    done = subprocess.run([sys.executable, "-m", "fund", "backtest", str(config), "--out",
                           str(out), "--no-report", "--json"], cwd=ROOT, capture_output=True,
                          text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"the backtest failed ({done.returncode}):\n{done.stderr}")
    seconds = time.perf_counter() - started
    summary = json.loads(done.stdout)
    journal = out / "journal.db"
    with contextlib.closing(sqlite3.connect(journal)) as db, db:
        streams = dict(db.execute("SELECT process_id, count(*) FROM journal_entries "
                                  "GROUP BY process_id").fetchall())
    built = {"config_sha256": digest, "journal": str(journal), "streams": streams,
             "entries": sum(streams.values()), "backtest_seconds": round(seconds, 1),
             "bytes": journal.stat().st_size, "head_hash": summary["head_hash"]}
    marker.write_text(json.dumps(built, indent=2), encoding="utf-8")
    built["reused"] = False
    return built


def warmup_journal(directory: Path) -> Path:
    """A one-day W1 backtest's journal (built once): the warm-up page views' journal."""
    tiny = directory / "tiny"
    if not (tiny / "summary.json").is_file():
        done = subprocess.run([sys.executable, "-m", "fund", "backtest",
                               str(ROOT / "examples" / "rebalance.toml"), "--out", str(tiny),
                               "--start", "2024-01-01", "--end", "2024-01-01", "--no-report"],
                              cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"the warm-up backtest failed ({done.returncode}):\n{done.stderr}")
    return tiny / "journal.db"


def pick_decision(journal: Path) -> int:
    """A decision of the big actor that placed orders, from the middle of its stream."""
    with contextlib.closing(sqlite3.connect(journal)) as db, db:
        seqs = [seq for (seq,) in db.execute(
            "SELECT seq FROM journal_entries WHERE process_id=? AND kind='Decision' AND "
            "payload NOT LIKE '%\"intents\":0,%' ORDER BY seq", (BIG,))]
    if not seqs:
        raise SystemExit(f"{BIG} never traded: no decision with orders to open")
    return int(seqs[len(seqs) // 2])


# --- one measurement, in its own process ------------------------------------------------------


def _app_test(params: dict[str, str], state: dict[str, Any],
              profiler: cProfile.Profile | None, result: dict[str, Any]) -> tuple[float, Any]:
    """Run app.py once in AppTest with these query parameters and session state.

    Returns the time the page's script took (``fund.monitor.views.run``, timed and, with
    ``profiler``, profiled in the script's own thread) and the AppTest. The AppTest's whole
    wall time is kept in ``result["apptest_s"]``: it adds Streamlit's one-off start-up (a
    scan of the installed packages for components, which a server does once when it starts)
    and the polling of the test harness.
    """
    from streamlit.testing.v1 import AppTest

    import fund.monitor.views as pages

    page_run = pages.run
    timed: list[float] = []
    cpu: list[float] = []

    def run(argv: Any) -> None:  # app.py calls fund.monitor.views.run on every script run
        started, used = time.perf_counter(), time.thread_time()
        if profiler:
            profiler.enable()
        try:
            page_run(argv)
        finally:
            if profiler:
                profiler.disable()
            timed.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - used)

    pages.run = run
    at = AppTest.from_file(str(APP), default_timeout=900)
    for key, value in params.items():
        at.query_params[key] = value
    for key, value in state.items():
        at.session_state[key] = value
    started = time.perf_counter()
    at.run()
    result["apptest_s"] = time.perf_counter() - started
    pages.run = page_run
    if at.exception:
        raise SystemExit(f"the app raised: {[e.message for e in at.exception]}")
    result["cpu_s"] = sum(cpu)
    return sum(timed), at


def child(kind: str, journal: str, warmup: str, decision: int, text: str,
          profile: Path | None) -> None:
    """Measure one thing (the parent set ``$AGENTFUND_CACHE``); print a JSON line.

    First the same page is viewed once on a small journal (``warmup``), so that what a
    running server has already done (imports, Streamlit's start-up) is not timed; the
    big journal is then new to the process, as when a server opens it for the first time.
    """
    sys.argv = [str(APP)]  # app.py reads its arguments: give it none (the journal is in env)
    started = time.perf_counter()
    from fund.journal import open_journal
    from fund.monitor.decisions import DecisionQuery, decision_page, explain

    result: dict[str, Any] = {"kind": kind}
    params = {"overview": {"page": "Overview"},
              "decision-page": {"page": "Decisions", "actor": BIG, "decision": str(decision)},
              "search-page": {"page": "Decisions", "actor": BIG},
              "charts": {"page": "Charts", "actor": BIG}}.get(kind, {})
    state = {"d-text": text} if kind == "search-page" else {}
    os.environ["AGENTFUND_JOURNAL"] = warmup
    _app_test(params or {"page": "Overview"}, state, None, {})
    with open_journal(warmup, must_exist=True) as small:
        explain(small, BIG, next(iter(decision_page(small, BIG, DecisionQuery())[0])).seq)
    result["warmup_s"] = time.perf_counter() - started
    os.environ["AGENTFUND_JOURNAL"] = journal
    profiler = cProfile.Profile() if profile else None
    if profiler and kind in ("explain", "search-query"):
        profiler.enable()
    if kind == "overview":
        seconds, at = _app_test(params, state, profiler, result)
        result["shown"] = {m.label: m.value for m in at.metric if m.label in ("NAV", "Fills")}
        result["badges"] = [s.value[:60] for s in at.success]
    elif kind == "start":
        seconds = _start(journal, profiler, result)
    elif kind == "decision-page":
        seconds, at = _app_test(params, state, profiler, result)
        result["shown"] = [h.value for h in at.subheader][:1]
    elif kind == "charts":
        seconds, at = _app_test(params, state, profiler, result)
        figures = [e for e in at.main if getattr(e, "type", "") == "plotly_chart"]
        result["shown"] = {"charts": len(figures), "json_mib": round(sum(
            len(e.proto.spec) for e in figures) / 2**20, 1)}
    elif kind == "explain":
        store = open_journal(journal, must_exist=True)
        started, used = time.perf_counter(), time.thread_time()
        story = explain(store, BIG, decision)
        seconds, result["cpu_s"] = time.perf_counter() - started, time.thread_time() - used
        result["shown"] = {"rule": story.payload.get("rule"), "orders": len(story.orders),
                           "observations": len(story.observations)}
    elif kind == "search-page":
        seconds, at = _app_test(params, state, profiler, result)
        result["shown"] = [c.value for c in at.caption if str(c.value).startswith("page ")]
    elif kind == "search-query":
        store = open_journal(journal, must_exist=True)
        started, used = time.perf_counter(), time.thread_time()
        rows, _ = decision_page(store, BIG, DecisionQuery(text=text), size=50)
        seconds, result["cpu_s"] = time.perf_counter() - started, time.thread_time() - used
        result["shown"] = {"rows": len(rows)}
    else:
        raise SystemExit(f"unknown measurement {kind}")
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile))
    result["seconds"] = seconds
    print(json.dumps(result, default=str))


def _start(journal: str, profiler: cProfile.Profile | None, result: dict[str, Any]) -> float:
    """`fund ui`'s start to the first Overview: what ``fund ui`` does before it serves
    (open the journal, bring every actor's snapshot up to its head: ``prepare``), then the
    server's first Overview page (another process in ``fund ui``: only this process's
    in-memory snapshots are dropped in between, never what was saved)."""
    from fund.commands.ui import prepare
    from fund.journal import open_journal
    from fund.monitor.store import forget

    started, used = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    with open_journal(journal, must_exist=True) as store:
        prepare(store)
        forget(store)
    if profiler:
        profiler.disable()
    result["prepare_s"] = time.perf_counter() - started
    page, at = _app_test({"page": "Overview"}, {}, profiler, result)
    result["page_s"] = page
    # this process's CPU time for both (all its threads): a start whose wall time grows
    # while its CPU time does not waited (for the disk, or for a busy machine)
    result["cpu_s"] = time.process_time() - used
    result["shown"] = {m.label: m.value for m in at.metric if m.label in ("NAV", "Fills")}
    result["badges"] = [s.value[:60] for s in at.success]
    return float(result["prepare_s"] + page)


def warm_file(journal: Path) -> None:
    """Read the journal file through once, so that the operating system's file cache
    holds all of it when a measurement starts, as the figures assume. Machines of this
    kind evict file pages that nothing touched for a few seconds, free memory
    notwithstanding (about 1 % of this journal in 20 s): without this, whether a start
    read a checkpoint from memory or from the disk was chance — 0.13 s or 0.7 s for the
    same start. (This process has no SQLite connection open on the file here: closing a
    descriptor would drop such a connection's locks.)"""
    with journal.open("rb") as source:
        while source.read(1 << 20):
            pass


def measure(kind: str, journal: Path, cache: Path, *, decision: int = 0, text: str = "",
            profile: Path | None = None, root: Path = ROOT,
            warmup: Path | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh process with ``cache`` as ``$AGENTFUND_CACHE``, on
    the code at ``root`` (this checkout, or a worktree of another revision: this script's
    own measuring code, that revision's agentfund)."""
    env = {**os.environ, "AGENTFUND_CACHE": str(cache), "PYTHONHASHSEED": "0",
           "PYTHONPATH": str(root)}
    warmup = warmup or warmup_journal(journal.parent.parent)
    warm_file(journal)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind,
               "--child-journal", f"sqlite:///{journal}", "--child-warmup",
               f"sqlite:///{warmup}", "--child-decision", str(decision), "--child-text", text]
    if profile is not None:
        command += ["--child-profile", str(profile)]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"measurement {kind} ({root}) failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the figures -----------------------------------------------------------------------------


def _median(samples: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(samples[-1])
    out["seconds"] = statistics.median(s["seconds"] for s in samples)
    for key in ("apptest_s", "cpu_s"):
        if key in out:
            out[key] = statistics.median(s[key] for s in samples)
    out["all"] = [round(s["seconds"], 3) for s in samples]
    return out


def run_all(journal: Path, work: Path, repeat: int, decision: int,
            texts: list[str]) -> list[tuple[str, dict[str, Any], float | None]]:
    """Every figure, ``repeat`` fresh processes each: (row name, result, target)."""
    rows: list[tuple[str, dict[str, Any], float | None]] = []
    cold: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []
    for number in range(repeat):
        cache = work / f"cache-{number}"
        shutil.rmtree(cache, ignore_errors=True)
        drop_checkpoints(journal)
        cold.append(measure("overview", journal, cache))  # fills the on-disk snapshots
        warm.append(measure("overview", journal, cache))
    rows.append(("Overview, cold (empty snapshot cache)", _median(cold), TARGET_OVERVIEW))
    rows.append(("Overview, warm (on-disk snapshots)", _median(warm), TARGET_OVERVIEW))
    warm_cache = work / "cache-0"
    cold_cache = work / "cache-empty"
    for kind, label, cache, target in (
            ("explain", "explain() one decision (bare call)", cold_cache, TARGET_DECISION),
            ("decision-page", "Decisions page opening one decision, warm", warm_cache,
             TARGET_DECISION),
            ("decision-page", "Decisions page opening one decision, cold", cold_cache,
             TARGET_DECISION)):
        samples = []
        for _ in range(repeat):
            shutil.rmtree(cold_cache, ignore_errors=True)
            if cache == cold_cache:
                drop_checkpoints(journal)
            samples.append(measure(kind, journal, cache, decision=decision))
        rows.append((f"{label} (entry {decision})", _median(samples), target))
    measure("overview", journal, warm_cache)  # untimed: the checkpoints back (warm again)
    samples = [measure("charts", journal, warm_cache) for _ in range(repeat)]
    rows.append((f"Charts page of {BIG}, warm", _median(samples), None))
    for text in texts:
        for kind, label in (("search-query", "decision_page() search"),
                            ("search-page", "Decisions page with a search, warm")):
            samples = [measure(kind, journal, warm_cache, text=text) for _ in range(repeat)]
            rows.append((f"{label} {text!r}", _median(samples), None))
    return rows


# --- `fund ui` from start to the first Overview, and `fund status` --------------------------


def drop_checkpoints(journal: Path) -> None:
    """Remove the projection checkpoints kept in the journal's database (a cold start)."""
    with contextlib.closing(sqlite3.connect(journal)) as db, db:
        db.execute("DROP TABLE IF EXISTS projection_checkpoints")


def fresh_copy(source: Path, target: Path, *, checkpoints: bool = True) -> Path:
    """A copy of the journal as the backtest left it (its projection checkpoints, no -wal
    file); ``checkpoints=False``: without them (a journal nothing has folded yet)."""
    for path in (target, target.with_name(target.name + "-wal"),
                 target.with_name(target.name + "-shm")):
        path.unlink(missing_ok=True)
    shutil.copyfile(source, target)
    if not checkpoints:
        drop_checkpoints(target)
    return target


def grow(journal: Path, entries: int, actor: str = BIG, cache: Path | None = None) -> int:
    """Append ``entries`` entries to the actor's stream, as a daemon running on would: its
    quiet wakes again (Wake, Observation and a Decision without orders, payloads as
    recorded), through the journal's writer with the daemon's projection keeper
    (fund.monitor.keeper: it folds what is stored and keeps the checkpoint every
    DAEMON_SAVE_EVERY entries and when the daemon stops). Returns the new head's sequence
    number."""
    from fund.journal import JournalWriter, open_journal
    from fund.monitor.keeper import DAEMON_SAVE_EVERY, SnapshotKeeper

    with contextlib.closing(sqlite3.connect(journal)) as db, db:
        quiet = db.execute(
            "SELECT kind, ts, payload FROM journal_entries WHERE process_id=? AND kind IN "
            "('Wake', 'Observation', 'Decision') AND seq > 1 AND NOT (kind='Decision' AND "
            "payload NOT LIKE '%\"intents\":0,%') ORDER BY seq LIMIT ?",
            (actor, entries)).fetchall()
    before = os.environ.get("AGENTFUND_CACHE")
    if cache is not None:  # the daemon runs on the machine (its key) of the measurements
        os.environ["AGENTFUND_CACHE"] = str(cache)
    try:
        with open_journal(f"sqlite:///{journal}", must_exist=True) as store:
            keeper = SnapshotKeeper.resume(store, actor, save_every=DAEMON_SAVE_EVERY)
            writer = JournalWriter(store, actor, on_stored=keeper.stored)
            for kind, ts, payload in quiet:
                writer.append_text(kind, ts, payload)
            writer.flush()
            keeper.save()  # the daemon's clean stop
            return writer.last_seq
    finally:
        if before is None:
            os.environ.pop("AGENTFUND_CACHE", None)
        else:
            os.environ["AGENTFUND_CACHE"] = before


def status_seconds(root: Path, journal: Path, cache: Path) -> tuple[float, str]:
    """The whole ``fund status JOURNAL --json`` process of the code at ``root``: its wall
    time and what it printed (every actor's NAV, positions, orders, controls)."""
    env = {**os.environ, "AGENTFUND_CACHE": str(cache), "PYTHONHASHSEED": "0",
           "PYTHONPATH": str(root)}
    warm_file(journal)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fund", "status", str(journal), "--json"],
                          cwd=root, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"fund status ({root}) failed ({done.returncode}):\n{done.stderr}")
    return seconds, done.stdout


START_ROWS = ("first start (as the backtest left it)", "restart",
              "start after +{grow:,} entries", "restart after +{grow:,} entries")
COLD = "cold start (checkpoints removed)"


def round_line(figures: dict[str, dict[str, Any]]) -> str:
    """One round's figures on a line: seconds, and for `fund ui` starts (prepare + page,
    CPU seconds)."""
    return ", ".join(
        f"{name} {r['seconds']:.2f}" + (f" ({r['prepare_s']:.2f} + {r['page_s']:.2f}, CPU "
                                        f"{r['cpu_s']:.2f})" if "cpu_s" in r else "")
        for name, r in figures.items())


def start_round(root: Path, base: Path, work: Path, warmup: Path, grown: int
                ) -> dict[str, dict[str, Any]]:
    """One side's round: `fund ui` start and `fund status`, on a fresh copy of ``base``
    (first, again, after it grew by ``grown`` entries, again), after a cold start on a copy
    without checkpoints. Returns figures by row."""
    cache = work / "cache"
    out: dict[str, dict[str, Any]] = {}
    cold = fresh_copy(base, work / "journal.db", checkpoints=False)
    out[f"ui: {COLD}"] = measure("start", cold, machine_cache(cache, base), root=root,
                                 warmup=warmup)
    journal = fresh_copy(base, work / "journal.db")
    machine_cache(cache, base)
    for number, row in enumerate(START_ROWS):
        if number == 2:
            grow(journal, grown, cache=cache)
        name = row.format(grow=grown)
        out[f"ui: {name}"] = measure("start", journal, cache, root=root, warmup=warmup)
    # fund status on its own copy (its checkpoints are its own fold's)
    journal = fresh_copy(base, work / "journal.db")
    status_cache = machine_cache(work / "status-cache", base)
    for number, row in enumerate(START_ROWS):
        if number == 2:
            grow(journal, grown, cache=status_cache)
        seconds, shown = status_seconds(root, journal, status_cache)
        out[f"status: {row.format(grow=grown)}"] = {"seconds": seconds, "shown": shown}
    return out


def _shown(figures: dict[str, Any]) -> Any:
    """What a measurement showed, without where its journal copy was (A's and B's differ)."""
    shown = figures.get("shown")
    if isinstance(shown, str):  # fund status --json: rows naming their journal
        shown = [{k: v for k, v in row.items() if k != "journal"} for row in json.loads(shown)]
    return shown, figures.get("badges")


def start_table(base: Path, work: Path, repeat: int, against: str | None, grown: int) -> int:
    """`fund ui` start to the first Overview and `fund status`, this checkout (A) against
    ``against`` (B), A B A B; prints medians and the ratio of the medians."""
    from contextlib import nullcontext

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.run import worktree

    warmup = warmup_journal(base.parent.parent)
    sides: dict[str, list[dict[str, dict[str, Any]]]] = {"A": [], "B": []}
    with (worktree(against) if against else nullcontext(None)) as other:
        roots = {"A": ROOT, **({"B": other} if other else {})}
        for number in range(repeat):
            for side, root in roots.items():
                place = work / f"start-{side}"
                place.mkdir(parents=True, exist_ok=True)
                sides[side].append(start_round(root, base, place, warmup, grown))
                print(f"round {number + 1} {side}: {round_line(sides[side][-1])}",
                      file=sys.stderr, flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; A = this "
          f"checkout, B = {against or '—'}; {repeat} round(s) A B, fresh processes; seconds "
          "(median); ui = `fund ui`'s work before it serves + the first Overview page")
    print("\n| measurement | A s | A prepare / page | B s | B prepare / page | A/B |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in sides["A"][0]:
        cells = []
        medians = {}
        for side in ("A", "B"):
            runs = [r[name] for r in sides[side]]
            if not runs:
                cells += ["", ""]
                continue
            medians[side] = statistics.median(r["seconds"] for r in runs)
            parts = ("" if "prepare_s" not in runs[0] else
                     f"{statistics.median(r['prepare_s'] for r in runs):.2f} / "
                     f"{statistics.median(r['page_s'] for r in runs):.2f}")
            cells += [f"{medians[side]:.2f}", parts]
        ratio = f"{medians['A'] / medians['B']:.3f}" if len(medians) == 2 else ""
        print(f"| {name} | {' | '.join(cells)} | {ratio} |")
    if sides["B"]:
        same = all(_shown(a[k]) == _shown(b[k])
                   for a, b in zip(sides["A"], sides["B"], strict=True) for k in a)
        print(f"\nA and B showed the same figures, badges and status: {same}")
    return 0


def profile_slow(journal: Path, work: Path, decision: int,
                 rows: list[tuple[str, dict[str, Any], float | None]]) -> None:
    """cProfile every measurement that missed its target; print where the time goes."""
    missed = [(r["kind"], name) for name, r, target in rows
              if target is not None and r["seconds"] > target]
    for number, (kind, name) in enumerate(missed):
        cache = work / "cache-0" if "warm" in name else work / "cache-profile"
        if "warm" not in name:
            shutil.rmtree(cache, ignore_errors=True)
        out = work / f"{number}-{kind}.prof"
        measure(kind, journal, cache, decision=decision, profile=out)
        text = io.StringIO()
        pstats.Stats(str(out), stream=text).sort_stats("tottime").print_stats(20)
        print(f"\n## cProfile: {name} (own time, top 20; {out})\n")
        print("\n".join(line for line in text.getvalue().splitlines()
                        if line.strip())[:6000])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/agentfund-ui-million"),
                        help="where the journal is built and kept (default %(default)s)")
    parser.add_argument("--rebuild", action="store_true", help="build the journal again")
    parser.add_argument("--repeat", type=int, default=1,
                        help="fresh processes per figure; the median is shown (default 1)")
    parser.add_argument("--search", action="append", default=[],
                        help="search text(s) for the Decisions page (default: a common, a "
                             "rare and an absent text)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the measurements that miss their target")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--start", action="store_true",
                        help="time `fund ui` start to the first Overview and `fund status`: "
                             "first start, restart, after the journal grows, restart")
    parser.add_argument("--against", metavar="REV",
                        help="with --start: also the code of REV (a git worktree), A B A B")
    parser.add_argument("--grow", type=int, default=100_000,
                        help="with --start: entries the journal grows by (default %(default)s)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-journal", help=argparse.SUPPRESS)
    parser.add_argument("--child-warmup", help=argparse.SUPPRESS)
    parser.add_argument("--child-decision", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child-text", default="", help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.child_journal, args.child_warmup, args.child_decision,
              args.child_text, args.child_profile)
        return 0

    built = build(args.dir.resolve(), args.rebuild)
    journal = Path(built["journal"])
    decision = pick_decision(journal)
    if args.start:
        return start_table(journal, args.dir.resolve() / "work", max(args.repeat, 1),
                           args.against, args.grow)
    texts = args.search or ["hold", '"rule":"rebalance"', "no such text"]
    print(f"journal: {journal} — a real `fund backtest` (not synthetic), "
          f"{built['entries']:,} entries, {built['bytes'] / 2**20:,.0f} MiB, streams "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(built["streams"].items()))
          + (" (reused)" if built["reused"] else f" (built in {built['backtest_seconds']} s)"),
          flush=True)
    rows = run_all(journal, args.dir.resolve() / "work", max(args.repeat, 1), decision, texts)
    if args.json:
        print(json.dumps({"journal": built, "decision": decision,
                          "figures": [{"name": n, "target": t, **r} for n, r, t in rows]},
                         default=str, indent=2))
    else:
        print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
              "seconds are wall time, CPU is the measuring thread's own CPU time")
        print(f"\n| measurement ({max(args.repeat, 1)} fresh process(es), median) | seconds | "
              "CPU | AppTest wall | target | shown |")
        print("| --- | ---: | ---: | ---: | ---: | --- |")
        for name, result, target in rows:
            verdict = "" if target is None else (
                f"< {target:g} s " + ("met" if result["seconds"] <= target else "**missed**"))
            wall = f"{result['apptest_s']:.3f}" if "apptest_s" in result else ""
            print(f"| {name} | {result['seconds']:.3f} | {result.get('cpu_s', 0):.3f} | "
                  f"{wall} | {verdict} | "
                  f"{json.dumps(result.get('shown'), ensure_ascii=False)[:90]} |")
    if args.profile:
        profile_slow(journal, args.dir.resolve() / "work", decision, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
