"""The UI's Charts page on the three examples' journals (issue 14: "under 2 s").

    python benchmarks/charts_page.py                 # build the journals once, then measure
    python benchmarks/charts_page.py --repeat 5 --json
    python benchmarks/charts_page.py --dir /tmp/elsewhere --rebuild

The journals are the examples' own backtests over their whole periods
(examples/rebalance.toml, investors.toml and sentiment.toml), built once under ``--dir``.
Each sample is a fresh Python process that opens the Charts page in Streamlit's AppTest
three times: the first view is **cold** (an empty ``$AGENTFUND_CACHE``: the journal is
read and folded), the next ones are **warm** (the snapshot is in memory, as in a running
``fund ui`` after the first view; what a user waits for on every later view, on every
rerun after a click, and on switching back to the page). A view's figure is the time the
page's script takes (``fund.monitor.views.run``, timed in the script's thread), which
includes building and serialising every figure. Streamlit's one-off start-up (imports, the
component scan) is not timed: a running server has done it. Figures are medians over
``--repeat`` processes. ``--baseline DIR`` also measures another copy of the tree (the
code before a change, say), interleaved with this one in the same run, so both see the
same machine.

With ``--browser`` the page is also timed as a user sees it: ``fund ui`` on the journal
(a fresh snapshot cache) and headless Chromium (Playwright, /usr/bin/chromium), from the
navigation to ``?page=Charts`` until every chart is drawn (each ``.js-plotly-plot`` has its
SVG) and Streamlit's script has finished; the first view is cold, the reloads warm. This
includes the browser's own drawing of every point sent, which AppTest does not see.
Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
EXAMPLES = ("rebalance", "investors", "sentiment")
TARGET = 2.0


def build(directory: Path, rebuild: bool) -> dict[str, Path]:
    """The examples' journals, built once with ``fund backtest``."""
    journals = {}
    for name in EXAMPLES:
        out = directory / name
        journal = out / "journal.db"
        if rebuild or not journal.exists():
            if out.exists():
                for path in sorted(out.iterdir()):
                    path.unlink()
            done = subprocess.run([sys.executable, "-m", "fund", "backtest",
                                   str(ROOT / "examples" / f"{name}.toml"), "--out", str(out),
                                   "--no-report", "--json"], capture_output=True, text=True,
                                  check=False, cwd=ROOT)
            if done.returncode:
                raise SystemExit(f"backtest of {name} failed: {done.stderr}")
        journals[name] = journal
    return journals


def child(journal: str, views: int, app: str) -> None:
    """Open the Charts page ``views`` times in one process; print the times as JSON."""
    from streamlit.testing.v1 import AppTest

    import fund.monitor.views as pages

    page_run = pages.run
    timed: list[float] = []

    def run(argv: Any) -> None:  # app.py calls fund.monitor.views.run on every script run
        started = time.perf_counter()
        try:
            page_run(argv)
        finally:
            timed.append(time.perf_counter() - started)

    pages.run = run
    os.environ["AGENTFUND_JOURNAL"] = journal
    os.environ["AGENTFUND_RUNS"] = str(Path(journal).parent.parent)
    charts = 0
    for _ in range(views):
        at = AppTest.from_file(app, default_timeout=900)
        at.query_params["page"] = "Charts"
        at.run()
        if at.exception:
            raise SystemExit(f"the app raised: {[e.message for e in at.exception]}")
        charts = len(at.get("plotly_chart"))
    print(json.dumps({"views": timed, "charts": charts}))


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(port: int) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                    timeout=2) as answer:
            return bool(answer.read().strip() == b"ok")
    except (urllib.error.URLError, OSError):
        return False


def _env(tree: Path, cache: str) -> dict[str, str]:
    return {**os.environ, "AGENTFUND_CACHE": cache, "PYTHONPATH": str(tree)}


def browser_views(journal: Path, views: int, charts: int, tree: Path = ROOT) -> list[float]:
    """Time ``views`` loads of the Charts page in headless Chromium against ``fund ui``."""
    import signal

    from playwright.sync_api import sync_playwright

    port = _free_port()
    with tempfile.TemporaryDirectory() as cache:
        process = subprocess.Popen([sys.executable, "-m", "fund", "ui", str(journal), "--runs",
                                    str(journal.parent.parent), "--port", str(port)],
                                   cwd=tree, env=_env(tree, cache), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while not _healthy(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("fund ui did not start")
                time.sleep(0.25)
            timed = []
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=["--headless", "--no-sandbox", "--disable-gpu",
                          "--disable-dev-shm-usage"])
                page = chromium.new_page(viewport={"width": 1400, "height": 1600})
                page.goto(f"http://127.0.0.1:{port}/?page=Overview")  # the server's start-up
                page.wait_for_function("() => !document.querySelector("
                                       "'[data-testid=\"stStatusWidget\"]')", timeout=60_000)
                for _ in range(views):
                    started = time.perf_counter()
                    page.goto(f"http://127.0.0.1:{port}/?page=Charts")
                    page.wait_for_function(
                        "n => document.querySelectorAll('.js-plotly-plot .main-svg').length"
                        " >= n && !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                        arg=2 * charts, timeout=120_000)  # plotly draws two SVG layers a chart
                    timed.append(time.perf_counter() - started)
                chromium.close()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    return timed


def measure(journal: Path, views: int, tree: Path = ROOT) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as cache:
        done = subprocess.run([sys.executable, __file__, "--child", str(journal),
                               "--views", str(views), "--app", str(tree / "app.py")],
                              capture_output=True, text=True, env=_env(tree, cache),
                              check=False, cwd=tree)
    if done.returncode:
        raise SystemExit(done.stderr)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir())
                        / "agentfund-charts-page")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--browser", action="store_true", help="also time it in Chromium")
    parser.add_argument("--baseline", type=Path, help="another tree to measure alongside")
    parser.add_argument("--child")
    parser.add_argument("--app", default=str(APP))
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.views, args.app)
        return 0
    args.dir.mkdir(parents=True, exist_ok=True)
    journals = build(args.dir, args.rebuild)
    trees = {"": ROOT} if args.baseline is None else {"baseline ": args.baseline, "": ROOT}
    rows: dict[str, dict[str, Any]] = {}
    for name, journal in journals.items():
        samples: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
        seen: dict[str, list[list[float]]] = {label: [] for label in trees}
        for _ in range(args.repeat):  # interleaved: each tree sees the same machine
            for label, tree in trees.items():
                samples[label].append(measure(journal, args.views, tree))
                if args.browser:
                    seen[label].append(browser_views(journal, args.views,
                                                     samples[label][0]["charts"], tree))
        for label in trees:
            got = samples[label]
            row: dict[str, Any] = {
                "cold_s": round(statistics.median(s["views"][0] for s in got), 3),
                "warm_s": round(statistics.median(v for s in got for v in s["views"][1:]), 3),
                "charts": got[0]["charts"], "samples": len(got)}
            if args.browser:
                row["browser_cold_s"] = round(statistics.median(s[0] for s in seen[label]), 3)
                row["browser_warm_s"] = round(
                    statistics.median(v for s in seen[label] for v in s[1:]), 3)
            rows[f"{label}{name}"] = row
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"Charts page, median of {args.repeat} processes (target {TARGET:.0f} s warm)")
        print(f"{'journal':<20}{'cold s':>9}{'warm s':>9}{'charts':>8}"
              + (f"{'browser cold':>14}{'browser warm':>14}" if args.browser else ""))
        for name, row in rows.items():
            print(f"{name:<20}{row['cold_s']:>9.2f}{row['warm_s']:>9.2f}{row['charts']:>8}"
                  + (f"{row['browser_cold_s']:>14.2f}{row['browser_warm_s']:>14.2f}"
                     if args.browser else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
