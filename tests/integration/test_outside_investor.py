"""An outside investor holds a fund to its record with the bundle, the key and the feed.

The manager: a paper daemon (the real :class:`fund.daemon.Daemon`, its ticks and
heartbeats driven on a simulated clock that the fake exchange's clock follows) trades on
PostgreSQL for an hour of one-minute wakes, signing a checkpoint every quarter hour and at
its stop, re-publishing the heads feed each time; the feed's folder is served over HTTP on
127.0.0.1. The investor: another process, in a folder holding only the bundle the manager
handed over and the manager's public key, given the feed's URL — ``fund verify`` and
``fund audit`` with nothing else. Then the manager rewrites an entry after publication,
re-chains and re-exports, and the investor's check says so.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import text

from fund.canonical import loads
from fund.clock import SimulatedClock
from fund.config import load_config
from fund.daemon import Daemon
from fund.journal import open_journal
from tests.conftest import run_fund
from tests.fixtures.tamper import rehash_from, tampering
from tests.integration.fake_exchange import FakeExchange

ACTOR = "rebalancer"
T0 = datetime(2026, 1, 5, tzinfo=UTC)
WAKES = 55
CONFIG = """
[fund]
name = "open-book"
initial_cash = 10000
quote = "USDT"
fee_rate = 0.001

[exchange]
id = "binance"
urls = {{api = "{url}"}}

[daemon]
misfire_grace_s = 5

[attest]
key_file = "{key}"
every_s = 900
publish = "{public}"

[actors.rebalancer]
cron = "* * * * *"
strategy = "rebalance"
[actors.rebalancer.params]
band = 0.002
[actors.rebalancer.params.weights]
"BTC/USDT" = 0.5
"ETH/USDT" = 0.25
"""


@pytest.fixture
def feed_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The manager's public folder, served over HTTP on 127.0.0.1 (a static site)."""
    public = tmp_path / "manager" / "public"
    public.mkdir(parents=True)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(public))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield public, f"http://127.0.0.1:{server.server_address[1]}/heads.json"
    finally:
        server.shutdown()
        server.server_close()


def run_manager(folder: Path, public: Path, journal: str) -> Path:
    """An hour of the paper daemon on the fake exchange, signed and published; return the
    public key's file."""
    keys = run_fund("keys", "generate", "--dir", str(folder / "keys"))
    assert keys.returncode == 0, keys.stderr
    clock = SimulatedClock(T0)
    with FakeExchange(clock=lambda: int(clock.now().timestamp() * 1000)) as venue:
        venue.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        venue.random_walk(seed=11, bps=60)
        path = folder / "fund.toml"
        path.write_text(CONFIG.format(url=venue.url, key=folder / "keys" / "manager.key",
                                      public=public), encoding="utf-8")
        config = load_config(path)
        with open_journal(journal) as store:
            daemon = Daemon(config, store, config.daemon, clock=clock)
            for minute in range(1, WAKES + 1):
                clock.set_time(T0 + timedelta(minutes=minute, seconds=1))
                daemon.tick(ACTOR)
                daemon.heartbeat()
            daemon.stop()
    return folder / "keys" / "manager.pub"


def investor(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The investor's own process, in their folder (the bundle and the key, nothing else)."""
    return subprocess.run([sys.executable, "-m", "fund", *args], cwd=folder,
                          capture_output=True, text=True, timeout=300, check=False)


def test_an_outside_investor_verifies_and_audits_with_only_the_bundle_key_and_feed(
        tmp_path: Path, postgres_url: str, feed_server: tuple[Path, str]) -> None:
    public, feed_url = feed_server
    manager = tmp_path / "manager"
    public_key = run_manager(manager, public, postgres_url)
    bundle = manager / "open-book.bundle"
    exported = run_fund("journal", "export", postgres_url, "--bundle", str(bundle))
    assert exported.returncode == 0, exported.stderr
    with open_journal(postgres_url) as store:
        stream = list(store.read(ACTOR))
    kinds = [entry.kind for entry in stream]
    checkpoints = [loads(e.payload) for e in stream if e.kind == "Checkpoint"]
    own = tmp_path / "investor"
    own.mkdir()
    shutil.copy(bundle, own / "fund.bundle")
    shutil.copy(public_key, own / "manager.pub")

    verified = investor(own, "verify", "fund.bundle", "--key", "manager.pub",
                        "--heads", feed_url)
    audited = investor(own, "audit", "fund.bundle", "--key", "manager.pub",
                       "--heads", feed_url, "--out", "audit.html")

    assert kinds.count("Wake") >= 50 and kinds.count("Fill") > 0
    # a checkpoint each quarter hour of the clock (the first due at once) and one at the stop
    assert [c["at"][11:19] for c in checkpoints] == [
        "00:01:01", "00:16:01", "00:31:01", "00:46:01", "00:55:01"]
    assert [c["seq"] for c in checkpoints] == [
        e.seq - 1 for e in stream if e.kind == "Checkpoint"]
    assert stream[-1].kind == "Checkpoint"  # the stop signed the last head
    assert verified.returncode == 0, verified.stderr
    assert f"{ACTOR}: verified {len(stream)} entries, head {stream[-1].hash}" in verified.stdout
    assert f"the journal matches the heads at {feed_url}" in verified.stdout
    assert audited.returncode == 0, audited.stderr
    html = (own / "audit.html").read_text(encoding="utf-8")
    assert stream[-1].hash in html and "open-book" in html
    assert sorted(p.name for p in own.iterdir()) == ["audit.html", "fund.bundle",
                                                     "manager.pub"]

    # the manager rewrites a decision covered by a published head, and hands over that
    with tampering(postgres_url) as conn:
        seq = next(e.seq for e in stream if e.kind == "Decision"
                   and checkpoints[0]["seq"] < e.seq < checkpoints[1]["seq"])
        conn.execute(text("UPDATE journal_entries SET payload = REPLACE(payload, '\"rule\":\"',"
                          " '\"rule\":\"x') WHERE process_id = :pid AND seq = :seq"),
                     {"pid": ACTOR, "seq": seq})
        rehash_from(conn, ACTOR, seq)
    again = run_fund("journal", "export", postgres_url, "--bundle", str(own / "fund.bundle"))
    assert again.returncode == 0, again.stderr

    caught = investor(own, "verify", "fund.bundle", "--key", "manager.pub",
                      "--heads", feed_url)

    assert caught.returncode == 1
    assert "Traceback" not in caught.stderr and caught.stderr.count("\n") == 1
    assert f"{ACTOR}: FAILED at entry {seq}: " in caught.stderr
    assert (f"history rewritten after publication: entry {checkpoints[1]['seq']} of "
            f"{ACTOR}") in caught.stderr
