"""The monitoring UI in a real browser: ``fund ui`` on a real backtest's journal, driven by
headless Chromium (Playwright), every figure shown checked against the journal itself.

Skipped, saying why, when Chromium (/usr/bin/chromium) or the playwright package is absent.
Screenshots of every page (taken before anything on it is clicked) are left in
``artifacts/ui-screenshots/`` at the repository root, where CI collects them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from fund.canonical import loads
from fund.display import DIGITS, significant
from fund.journal import Entry, open_journal

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "artifacts" / "ui-screenshots"
ACTOR = "rebalancer"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
WAIT_MS = 30_000

try:
    import playwright.sync_api  # noqa: F401 - only to know whether it is there
    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium)"),
    pytest.mark.skipif(not HAVE_PLAYWRIGHT,
                       reason="needs the playwright package (pip install playwright; "
                              "never `playwright install`: the Debian Chromium is used)"),
    pytest.mark.slow,
    pytest.mark.serial,  # a real browser on a real server: run alone (see pyproject.toml)
]

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


# --- what the journal says, read independently of the UI ------------------------------------


@dataclass(frozen=True)
class Facts:
    """The figures the UI must show, computed here from the journal and the run summary."""

    entries: int
    head_hash: str
    nav: str
    fills: str
    return_time_weighted: str  # no flows after the start: NAV over the first deposit
    last_wake: str
    open_orders: str
    wakes: int
    decision: Entry
    decision_payload: dict[str, Any]
    intents: list[dict[str, Any]]
    summary_nav: str
    summary_max_drawdown: str


def money(value: str, quote: str = "") -> str:
    """Money to the cent with thousands separators, as a reader expects it."""
    return f"{Decimal(value).quantize(Decimal('0.01')):,} {quote}".strip()


def facts_of(journal: Path, summary: dict[str, Any]) -> Facts:
    with open_journal(f"sqlite:///{journal}", must_exist=True) as store:
        entries = list(store.read(ACTOR))
    payloads = [loads(e.payload) for e in entries]
    by_kind: dict[str, list[tuple[Entry, dict[str, Any]]]] = {}
    for entry, payload in zip(entries, payloads, strict=True):
        by_kind.setdefault(entry.kind, []).append((entry, payload))
    (end,) = [p for _, p in by_kind["End"]]
    deposits = sum(Decimal(p["amount"]) for _, p in by_kind["Deposit"])
    last_wake = by_kind["Wake"][-1][1]["scheduled"]
    settled = {p["client_order_id"] for _, p in by_kind.get("OrderAck", [])
               if p.get("status") in ("filled", "closed", "canceled")}
    settled |= {p["client_order_id"] for _, p in by_kind.get("OrderRejected", [])
                if not p.get("ambiguous")}
    intents_all = [p for _, p in by_kind.get("OrderIntent", [])]
    decision, decision_payload = next((e, p) for e, p in by_kind["Decision"]
                                      if p.get("intents"))
    return Facts(
        entries=len(entries), head_hash=entries[-1].hash,
        nav=money(end["nav"]), fills=f"{end['fills']:,}",
        return_time_weighted=f"{(Decimal(end['nav']) / deposits - 1) * 100:.2f} %",
        last_wake=last_wake[:16].replace("T", " "),  # the wakes are on the hour
        open_orders=str(sum(1 for p in intents_all if p["client_order_id"] not in settled)),
        wakes=len(by_kind["Wake"]), decision=decision, decision_payload=decision_payload,
        intents=[p for p in intents_all if p["decision"] == decision.seq],
        summary_nav=money(summary["final_nav"]),
        summary_max_drawdown=f"{summary['max_drawdown'] * 100:.2f} %")


# --- fixtures: a real backtest, the real `fund ui`, headless Chromium ------------------------


@dataclass(frozen=True)
class Run:
    runs: Path
    journal: Path
    summary: dict[str, Any]
    facts: Facts


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    runs = tmp_path_factory.mktemp("ui-runs")
    out = runs / "w1-march"
    done = subprocess.run(
        [sys.executable, "-m", "fund", "backtest", str(ROOT / "examples" / "rebalance.toml"),
         "--out", str(out), "--start", "2024-03-01", "--end", "2024-03-03", "--no-report"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return Run(runs=runs, journal=out / "journal.db", summary=summary,
               facts=facts_of(out / "journal.db", summary))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                    timeout=2) as answer:
            return bool(answer.read().strip() == b"ok")
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Path, Path], str]]:
    """Start ``fund ui JOURNAL --runs DIR --port P`` (default address, a fresh snapshot cache);
    return its base URL. Every server started is stopped afterwards, whatever happened."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    tmp_path = tmp_path_factory.mktemp("ui-servers")

    def start(journal: Path, runs: Path) -> str:
        port = _free_port()
        cache = tmp_path / f"cache-{port}"
        log = tmp_path / f"ui-{port}.log"
        env = {**os.environ, "AGENTFUND_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "fund", "ui", str(journal), "--runs", str(runs),
                 "--port", str(port)],
                cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                start_new_session=True)  # its own group: fund ui and the streamlit it starts
        started.append((process, log))
        deadline = time.monotonic() + 60
        while not _healthy(port):
            if process.poll() is not None:
                pytest.fail(f"fund ui exited ({process.returncode}):\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"fund ui not healthy after 60 s:\n{log.read_text()}")
            time.sleep(0.25)
        return f"http://127.0.0.1:{port}"

    try:
        yield start
    finally:
        for process, _ in started:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop ``fund ui`` and the Streamlit server it started (its process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            process.poll()  # reap the leader; the group lives on while Streamlit does
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            continue
        break
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def base(run: Run, serve: Callable[[Path, Path], str]) -> str:
    """The UI on the backtest's journal and runs directory."""
    return serve(run.journal, run.runs)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    try:
        yield context.new_page()
    finally:
        context.close()


# --- helpers reading the page ----------------------------------------------------------------


def shot(page: Page, name: str) -> Path:
    """Screenshot the page (before anything on it is clicked) for CI to collect."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def settle(page: Page) -> None:
    """Wait until Streamlit has finished the script run (no 'Running…' status widget)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=WAIT_MS)
    page.wait_for_timeout(300)


def metrics(page: Page) -> dict[str, str]:
    """The st.metric values on the page, by label."""
    page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=WAIT_MS)
    found = {}
    for block in page.locator('[data-testid="stMetric"]').all():
        label = block.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        found[label] = block.locator('[data-testid="stMetricValue"]').inner_text().strip()
    return found


def no_exception(page: Page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, \
        page.locator('[data-testid="stException"]').first.inner_text()


def heading(page: Page, text: str) -> None:
    page.get_by_role("heading", name=text, exact=True).first.wait_for(timeout=WAIT_MS)


# --- the tests -------------------------------------------------------------------------------


def test_listens_on_loopback_only_by_default() -> None:
    from fund.cli import _parser

    assert _parser().parse_args(["ui"]).address == "127.0.0.1"


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* has them) of sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def test_every_page_against_the_journal(run: Run, base: str, page: Page) -> None:
    facts = run.facts
    port = int(base.rsplit(":", 1)[1])
    assert _healthy(port)
    if Path("/proc/net/tcp").exists():  # 0100007F is 127.0.0.1; nothing on any other address
        assert _listening_addresses(port) == {"0100007F"}

    # Overview, by URL
    page.goto(f"{base}/?page=Overview")
    heading(page, "Overview")
    page.get_by_text("Hash chain intact").wait_for(timeout=WAIT_MS)
    settle(page)
    shot(page, "overview")
    no_exception(page)
    shown = metrics(page)
    assert shown["NAV (USDT)"] == facts.nav
    assert shown["Fills"] == facts.fills
    assert shown["Return (time-weighted)"] == facts.return_time_weighted
    assert shown["Last wake (UTC)"] == facts.last_wake
    assert shown["Next wake (UTC)"] == "finished"
    assert shown["Open orders"] == facts.open_orders
    assert shown["Max drawdown"] == facts.summary_max_drawdown  # the backtest's own figure
    for label in ("Drawdown", "Max drawdown"):
        assert shown[label].endswith(" %") and len(shown[label].split(".")[-1]) == 4, shown
    badge = page.locator('[data-testid="stAlert"]', has_text="Hash chain intact").inner_text()
    assert f"Hash chain intact: {facts.entries:,} entries" in badge
    assert f"{facts.head_hash[:16]}…" in badge

    # Journal, by clicking the sidebar radio
    radio = page.locator('[data-testid="stSidebar"] [data-testid="stRadio"]')
    radio.get_by_text("Journal", exact=True).click()
    heading(page, "Journal")
    caption = page.get_by_text(f"{ACTOR}: {facts.entries:,} entries")
    caption.wait_for(timeout=WAIT_MS)
    settle(page)
    shot(page, "journal")
    no_exception(page)
    assert "page=Journal" in page.url
    assert "showing 50 from entry 1" in caption.inner_text()

    # Charts, by URL
    page.goto(f"{base}/?page=Charts&actor={ACTOR}")
    heading(page, "Charts")
    page.locator(".js-plotly-plot").first.wait_for(timeout=WAIT_MS)
    settle(page)
    shot(page, "charts")
    no_exception(page)
    assert page.locator(".js-plotly-plot").count() >= 3  # NAV, allocation, buy-and-hold
    page.get_by_text(f"{facts.fills} fills marked").wait_for(timeout=WAIT_MS)
    page.get_by_text(f"{facts.wakes:,} wakes").wait_for(timeout=WAIT_MS)

    # Decisions: one decision opened by URL
    seq = facts.decision.seq
    page.goto(f"{base}/?page=Decisions&actor={ACTOR}&decision={seq}")
    rule = facts.decision_payload["rule"]
    heading(page, f"Decision {seq}: {rule}")
    settle(page)
    shot(page, "decisions")
    no_exception(page)
    assert f"hash {facts.decision.hash[:16]}…" in page.get_by_text(
        "wake scheduled").first.inner_text()
    page.get_by_text(f"Orders ({len(facts.intents)})").wait_for(timeout=WAIT_MS)
    assert len(facts.intents) == facts.decision_payload["intents"]
    body = page.locator("section.main, [data-testid='stMain']").first.inner_text()
    for intent in facts.intents:
        assert f"{intent['side']} {significant(intent['amount'])} {intent['symbol']}" in body
        assert intent["client_order_id"] in body

    # Backtests, by URL
    page.goto(f"{base}/?page=Backtests")
    heading(page, "Backtests")
    page.locator(".js-plotly-plot").first.wait_for(timeout=WAIT_MS)
    settle(page)
    shot(page, "backtests")
    no_exception(page)
    shown = metrics(page)
    assert shown["Final NAV (USDT)"] == facts.summary_nav
    assert shown["Final NAV (USDT)"] == facts.nav  # the journal agrees


def test_corrupted_journal_is_reported_not_raised(run: Run, serve: Callable[[Path, Path], str],
                                                  page: Page, tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    shutil.copyfile(run.journal, broken)
    seq = run.facts.decision.seq + 3  # an entry in the middle of the stream
    with sqlite3.connect(broken) as db:
        (payload,) = db.execute("SELECT payload FROM journal_entries WHERE process_id=? AND "
                                "seq=?", (ACTOR, seq)).fetchone()
        altered = json.dumps({**json.loads(payload), "tampered": True}, sort_keys=True,
                             separators=(",", ":"))
        changed = db.execute("UPDATE journal_entries SET payload=? WHERE process_id=? AND "
                             "seq=?", (altered, ACTOR, seq)).rowcount
    assert changed == 1
    base = serve(broken, run.runs)
    page.goto(f"{base}/?page=Overview")
    heading(page, "Overview")
    alert = page.locator('[data-testid="stAlert"]', has_text="Journal corrupted")
    alert.wait_for(timeout=WAIT_MS)
    settle(page)
    shot(page, "overview-corrupted")
    no_exception(page)
    text = alert.inner_text()
    assert f"entry {seq} does not follow entry {seq - 1}" in text
    assert f"stop at entry {seq - 1:,}" in text
    assert page.get_by_text("Hash chain intact").count() == 0


def test_no_stray_streamlit_page_navigation(base: str, page: Page) -> None:
    page.goto(f"{base}/?page=Overview")
    heading(page, "Overview")
    settle(page)
    stray = page.locator('[data-testid="stSidebarNav"]')
    if stray.count():
        page.goto(f"{base}/overview")  # one of the stray pages: nothing but the navigation
        stray.first.wait_for(timeout=WAIT_MS)
        page.wait_for_timeout(1500)
        shot(page, "stray-page-overview")
    assert stray.count() == 0

# --- what the other browser tests check a page's numbers with -----------------------------

# a number as a reader sees it: 1,234.5678 or 0.00012 (not digits inside ids or hashes)
NUMBER = re.compile(r"(?<![\w.,])[-+−]?\d+(?:,\d{3})*(?:\.\d+)?(?![\w])")


def too_long(text: str) -> list[str]:
    """Numbers with more decimals than a cent's two AND more significant digits than
    DIGITS: what neither a money figure nor a rounded amount or price can be."""
    found = []
    for token in NUMBER.findall(text):
        whole, _, decimals = token.lstrip("-+−").replace(",", "").partition(".")
        significant = (whole + decimals).lstrip("0")
        if len(decimals) > 2 and len(significant) > DIGITS:
            found.append(token)
    return found


def grid_text(page: Page) -> str:
    """The text of every data grid cell on the page (glide-data-grid keeps an accessible
    table of its cells beside the canvas once drawn); fails if a grid has none."""
    grids = page.locator('[data-testid="stDataFrame"]')
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stDataFrame\"]')]"
        ".every(g => g.querySelector('td'))", timeout=WAIT_MS)
    return "\n".join("\n".join(grid.locator("td, th").all_inner_texts())
                     for grid in grids.all())
