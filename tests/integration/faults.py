"""Helpers of the fault-injection suite: a live fund run in-process on the fake exchange,
a disk that fills and frees, and the checks every scenario ends with.

The checks are the promises a live fund makes, computed here from the exchange's own
records (the fake's orders, trades and balances) and the journals, with nothing of the
fund's but the ledger fold and ``fund verify``:

* no client order id reached the exchange twice;
* every order the exchange created belongs to exactly one journal, and that journal
  booked exactly its trades (by trade id), each once; no journal booked anything else;
* the journals' books, summed, equal the account's balances (what moved since the start);
* every journal verifies.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fund.canonical import loads
from fund.config import load_config
from fund.daemon import Daemon
from fund.exchange.ccxt_adapter import CcxtAdapter
from fund.journal import Journal, open_journal
from fund.ledger import Ledger
from fund.messages import is_side_stream
from fund.verify import verify_stream
from tests.integration.fake_exchange import FakeExchange

D = Decimal
KEY, SECRET = "fault-key-9f8e7d6c", "fault-secret-5b4a3928"
START_USDT = D(1_000_000)
CASH = D(10_000)
CONFIG = """
[fund]
name = "faults"
initial_cash = {cash}
quote = "USDT"
fee_rate = 0.001

[exchange]
urls = {{api = "{url}"}}
timeout_ms = {timeout_ms}
order_validity_ms = {validity_ms}

[daemon]
misfire_grace_s = 0.5
wake_budget_s = 5

[actors.rebalancer]
cron = "* * * * * *"
strategy = "rebalance"
[actors.rebalancer.params]
band = 0.001
[actors.rebalancer.params.weights]
"BTC/USDT" = 0.4
"ETH/USDT" = 0.4
"""


def write_config(path: Path, venue: FakeExchange, *, timeout_ms: int = 500,
                 validity_ms: int = 1000) -> Path:
    """A one-actor live rebalancer that trades at every wake on a walking market."""
    path.write_text(CONFIG.format(url=venue.url, cash=CASH, timeout_ms=timeout_ms,
                                  validity_ms=validity_ms), encoding="utf-8")
    return path


def open_market(venue: FakeExchange, seed: int = 3) -> None:
    """Prices that move at every ticker request, and an account with plenty of USDT."""
    venue.reset(prices={"BTCUSDT": D("40000"), "ETHUSDT": D("2000")},
                balances={"USDT": START_USDT})
    venue.random_walk(seed=seed, bps=80)


@dataclass
class LiveFund:
    """One fund's daemon, in this process, trading live on the fake exchange."""

    config: Path
    url: str
    venue: FakeExchange
    daemon: Daemon | None = None
    store: Journal | None = None

    def start(self) -> Daemon:
        """Start (or resume) the daemon: start-up reconciliation and the balance check."""
        cfg = load_config(self.config)
        self.store = open_journal(self.url)
        adapter = CcxtAdapter(exchange_id="binance", api_key=KEY, secret=SECRET,
                              urls={"api": self.venue.url}, enable_rate_limit=False,
                              timeout_ms=cfg.daemon.exchange_timeout_ms,
                              validity_ms=cfg.daemon.order_validity_ms)
        self.daemon = Daemon(cfg, self.store, cfg.daemon, venue=adapter)
        return self.daemon

    def stop(self) -> None:
        """Stop cleanly: leases given back, the journal closed."""
        if self.daemon is not None:
            self.daemon.release()
        if self.store is not None:
            self.store.close()
        self.daemon = self.store = None

    def restart(self) -> Daemon:
        """Stop, then start again on the same journal."""
        self.stop()
        return self.start()


@dataclass
class Audit:
    """What the journals booked, folded independently of the daemon."""

    owners: dict[str, str] = field(default_factory=dict)  # client order id -> journal
    fills: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    moved: Counter[str] = field(default_factory=Counter)  # per currency, since the start
    entries: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)


def audit(urls: list[str]) -> Audit:
    """Verify every stream of every journal and fold what they booked."""
    found = Audit()
    for url in urls:
        with open_journal(url) as store:
            for actor in store.processes():
                if is_side_stream(actor):
                    continue
                report = verify_stream(store, actor)
                assert report.ok, f"{url} {actor}: {report.error}"
                ledger = Ledger(quote="USDT")
                stream = [(e.kind, loads(e.payload)) for e in store.read(actor)]
                found.entries[f"{url}#{actor}"] = stream
                for kind, payload in stream:
                    ledger.apply(kind, payload)
                    if kind == "OrderIntent":
                        coid = payload["client_order_id"]
                        assert coid not in found.owners, f"{coid} in two journals"
                        found.owners[coid] = url
                    elif kind == "Fill":
                        found.fills[payload["client_order_id"]].append(payload["fill_id"])
                found.moved["USDT"] += ledger.cash - ledger.deposits
                for symbol, position in ledger.positions.items():
                    found.moved[symbol.partition("/")[0]] += position.amount
    return found


def assert_books_match_the_account(venue: FakeExchange, urls: list[str]) -> Audit:
    """The promises of a live fund, checked against the exchange's own records."""
    found = audit(urls)
    posts = Counter(r.params.get("newClientOrderId") for r in venue.posts())
    twice = {coid: n for coid, n in posts.items() if n > 1}
    assert not twice, f"client order ids sent more than once: {twice}"
    with venue.lock:
        orders = [(o["clientOrderId"], sorted(str(t["id"]) for t in o["fills"]))
                  for o in venue.book.orders.values()]
        balances = dict(venue.book.balances)
    for coid, trades in orders:
        assert coid in found.owners, f"the exchange holds order {coid} no journal sent"
        assert sorted(found.fills.get(coid, [])) == trades, \
            f"order {coid}: exchange trades {trades}, booked {found.fills.get(coid)}"
    created = {coid for coid, _ in orders}
    invented = {coid: f for coid, f in found.fills.items() if f and coid not in created}
    assert not invented, f"fills booked for orders the exchange never created: {invented}"
    account = {"USDT": balances.get("USDT", D(0)) - START_USDT,
               "BTC": balances.get("BTC", D(0)), "ETH": balances.get("ETH", D(0))}
    books = {c: found.moved.get(c, D(0)) for c in account}
    assert books == account, f"books {books} != account {account}"
    return found


class SmallDisk:
    """A real filesystem of a few megabytes (tmpfs) that a test fills and frees."""

    def __init__(self, path: Path, megabytes: int = 16) -> None:
        self.path = path
        self.filler = path / "filler"
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0777",
                        "tmpfs", str(path)], check=True, capture_output=True)

    def fill(self) -> None:
        """Write zeros until no byte is left."""
        with contextlib.suppress(OSError), open(self.filler, "ab") as out:
            block = b"\0" * 65_536
            while True:
                out.write(block)
                out.flush()
        with contextlib.suppress(OSError), open(self.filler, "ab") as out:
            while True:  # the last few bytes, one at a time
                out.write(b"\0")
                out.flush()

    def free(self) -> None:
        """Give the space back."""
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)


def small_disk_or_skip(path: Path) -> Iterator[SmallDisk]:
    """Mount a small disk for the test (as root, with mount), or skip saying why."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("filling a real disk needs root to mount a small tmpfs")
    try:
        disk = SmallDisk(path)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        disk.unmount()
