"""A live fund on OKX: ``fund run --live --once`` against the fake OKX, with the real ccxt
okx client, and the start-up refusals of what OKX cannot do.

The fund is the fault suite's one-actor rebalancer with ``[exchange] id = "okx"``: its
orders reach the exchange once each, under OKX's client order ids, the journal books
exactly the exchange's trades and verifies, and the raw answers (placement, then the
lookup OKX needs for the fills) are kept with the entries.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from fund.canonical import loads
from fund.exchange.venues import venue as venue_of
from fund.journal import open_journal
from tests.conftest import ROOT
from tests.integration.fake_okx import FakeOkx
from tests.integration.faults import audit

D = Decimal
KEY, SECRET, PASSPHRASE = "okx-key-6d1e0a77", "okx-secret-c0ffee1234", "okx-pass-9Hq2"
CONFIG = """
[fund]
name = "okx-live"
initial_cash = 10000
quote = "USDT"
fee_rate = 0.001

[exchange]
id = "{exchange}"
urls = {{api = "{url}"}}
timeout_ms = 2000

[daemon]
misfire_grace_s = 0.5
wake_budget_s = 5

[actors.rebalancer]
cron = "* * * * * *"
strategy = "{strategy}"
[actors.rebalancer.params]
band = 0.001
[actors.rebalancer.params.weights]
"BTC/USDT" = 0.4
"ETH/USDT" = 0.4
"""
STOPS = '''
from strategies.rebalance import Rebalance


class WithStops(Rebalance):
    """The rebalancer, declaring stop orders as well."""

    def order_types(self) -> tuple[str, ...]:
        return ("market", "limit:IOC", "stop_market")
'''


@pytest.fixture()
def okx() -> Iterator[FakeOkx]:
    with FakeOkx({KEY: (SECRET, PASSPHRASE)}) as venue:
        venue.reset(balances={"USDT": D("1000000")})
        yield venue


def config(tmp_path: Path, venue: FakeOkx, *, exchange: str = "okx",
           strategy: str = "rebalance") -> Path:
    path = tmp_path / "fund.toml"
    path.write_text(CONFIG.format(exchange=exchange, url=venue.url, strategy=strategy),
                    encoding="utf-8")
    return path


def run_live(cfg: Path, journal: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFUND_")}
    return subprocess.run([sys.executable, "-m", "fund", "run", str(cfg), "--live", "--once",
                           "--journal", journal], cwd=ROOT, capture_output=True, text=True,
                          env={**base, **env}, timeout=120, check=False)


CREDENTIALS = {"AGENTFUND_API_KEY": KEY, "AGENTFUND_SECRET": SECRET,
               "AGENTFUND_PASSWORD": PASSPHRASE}


def test_a_live_wake_on_okx_books_exactly_the_exchanges_trades_and_verifies(
        tmp_path: Path, okx: FakeOkx) -> None:
    journal = f"sqlite:///{tmp_path / 'okx.db'}"

    result = run_live(config(tmp_path, okx), journal, **CREDENTIALS)

    assert result.returncode == 0, result.stderr
    found = audit([journal])  # every stream verifies, and what it booked
    intents = {coid for coid in found.owners}
    okx_ids = {venue_of("okx").client_id(coid): coid for coid in intents}
    assert len(okx.posts()) == len(okx.placed) == 2  # BTC and ETH, each sent once
    assert set(okx.placed) <= set(okx_ids)
    for okx_id in okx.placed:
        trades = sorted(t["tradeId"] for t in okx.fills(okx_id))
        assert sorted(found.fills[okx_ids[okx_id]]) == trades
    moved = {c: found.moved.get(c, D(0)) for c in ("USDT", "BTC", "ETH")}
    with okx.lock:
        balances = dict(okx.book.balances)
    assert moved == {"USDT": balances["USDT"] - D("1000000"), "BTC": balances["BTC"],
                     "ETH": balances["ETH"]}
    with open_journal(journal) as store:
        fills = [loads(e.payload) for e in store.read("rebalancer") if e.kind == "Fill"]
        blobs = {d: store.get_blob(d) for f in fills for d in f["raw"]}
    assert fills and all(len(f["raw"]) == 3 for f in fills)  # placement, order, its trades
    assert all(b"clOrdId" in blob for blob in blobs.values())
    text = result.stderr + repr(blobs)
    assert SECRET not in text and PASSPHRASE not in text and KEY not in text


@pytest.mark.parametrize(("exchange", "strategy", "env", "named"), [
    ("okx", "rebalance", {"AGENTFUND_API_KEY": KEY, "AGENTFUND_SECRET": SECRET},
     "exchange.password_env: --live on okx needs the API passphrase: set AGENTFUND_PASSWORD"),
    ("okxx", "rebalance", CREDENTIALS, "exchange.id: 'okxx' is not one of ccxt's"),
    ("kraken", "rebalance", CREDENTIALS, "exchange.id: live trading on 'kraken' is not "
                                         "supported"),
    ("okx", "stops:WithStops", CREDENTIALS, "actors.rebalancer.strategy: stops:WithStops may "
                                            "send stop_market orders, but okx cannot take "
                                            "stop_market orders"),
], ids=["missing passphrase", "unknown exchange", "not supported live", "order kind"])
def test_what_okx_cannot_do_is_refused_at_start_in_one_line(
        tmp_path: Path, okx: FakeOkx, exchange: str, strategy: str, env: dict[str, str],
        named: str) -> None:
    (tmp_path / "stops.py").write_text(STOPS, encoding="utf-8")

    result = run_live(config(tmp_path, okx, exchange=exchange, strategy=strategy),
                      f"sqlite:///{tmp_path / 'j.db'}", **env)

    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert okx.requests == []  # refused before anything was asked
    assert not (tmp_path / "j.db").exists()
