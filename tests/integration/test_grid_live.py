"""The grid live, on each exchange, through its real ccxt client and the fake: resting
limits placed, filled while the daemon runs and while it is dead, cancelled when the grid
moves, and a SIGKILL while orders rest — after which no order is lost, doubled or left
unknown, and the journal books exactly the exchange's trades.

The daemon (``fund run --live``) wakes every second; the fakes run on the wall clock, and
the test moves the market (``FakeVenue.move``): working orders it trades through fill at
their price, as on the venue. OKX takes no stop orders through agentfund (algo orders), so
the grid runs there without its stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from fund.canonical import loads
from fund.exchange.venues import venue as venue_of
from fund.journal import open_journal
from fund.ledger import Ledger
from fund.projections import Orders, fold
from fund.verify import verify_stream
from tests.conftest import ROOT
from tests.fixtures.journals import journal_exists
from tests.integration.fake_venues import (
    API_KEY,
    EXCHANGES,
    PASSPHRASE,
    SECRET,
    FakeVenue,
    fake_venue,
)

# real clocks and a SIGKILL: run alone, not beside other tests under pytest-xdist
pytestmark = pytest.mark.serial

D = Decimal
CONFIG = """
[fund]
name = "grid-live"
initial_cash = 10000
quote = "USDT"
fee_rate = 0.001

[fund.markets."BTC/USDT"]
price_step = 0.01
amount_step = 0.00001
min_notional = 5

[exchange]
id = "{exchange}"
urls = {{api = "{url}"}}
timeout_ms = 2000

[daemon]
misfire_grace_s = 0.5
wake_budget_s = 5

[actors.grid]
cron = "* * * * * *"
strategy = "grid"

[actors.grid.params]
symbol = "BTC/USDT"
levels = 2
spacing = 0.01
order_notional = 500
stop = {stop}
timeframe = "1m"
candles = 3
"""


def start(cfg: Path, db: str) -> subprocess.Popen[bytes]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFUND_")}
    env = {**base, "AGENTFUND_API_KEY": API_KEY, "AGENTFUND_SECRET": SECRET,
           "AGENTFUND_PASSWORD": PASSPHRASE}
    return subprocess.Popen([sys.executable, "-m", "fund", "run", str(cfg), "--live",
                             "--journal", db], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stream(db: str) -> list[tuple[str, dict[str, object]]]:
    if not journal_exists(db):
        return []
    with open_journal(db) as store:
        return [(e.kind, loads(e.payload)) for e in store.read("grid")] \
            if "grid" in store.processes() else []


def statuses(db: str) -> Counter[str]:
    return Counter(str(p["status"]) for kind, p in stream(db) if kind == "OrderAck")


def until(what: Callable[[], bool], daemon: subprocess.Popen[bytes], why: str) -> None:
    deadline = time.monotonic() + 40
    while not what():
        if daemon.poll() is not None:
            raise AssertionError(f"the daemon stopped ({daemon.returncode}) waiting for "
                                 f"{why}: {daemon.stderr.read().decode()[-2000:]}"
                                 if daemon.stderr else why)
        assert time.monotonic() < deadline, f"timed out waiting for {why}"
        time.sleep(0.1)


def unsettled(db: str) -> list[str]:
    """Orders journaled but not acknowledged yet (no event at all)."""
    orders = Orders()
    with open_journal(db) as store:
        fold(store.read("grid"), orders)
    return [coid for coid, o in orders.by_id.items() if o.status in ("sent", "unknown")]


def trades(venue: FakeVenue) -> int:
    return sum(len(o.trades) for o in venue.orders())


def fills(db: str) -> int:
    return sum(kind == "Fill" for kind, _ in stream(db))


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_the_grid_live_survives_a_sigkill_while_orders_rest(tmp_path: Path,
                                                           exchange: str) -> None:
    db = f"sqlite:///{tmp_path / 'grid.db'}"
    with fake_venue(exchange) as venue:
        venue.reset(prices={"BTC/USDT": D("40000")}, balances={"USDT": D("10000")})
        cfg = tmp_path / "grid.toml"
        cfg.write_text(CONFIG.format(exchange=exchange, url=venue.fake.url,
                                     stop=str(exchange == "binance").lower()),
                       encoding="utf-8")

        daemon = start(cfg, db)
        until(lambda: statuses(db)["open"] >= 2, daemon, "the grid's two buys resting")
        venue.move("BTC/USDT", "39500")  # through the first buy (39600): the grid re-centres
        until(lambda: fills(db) >= 1 and statuses(db)["canceled"] >= 1, daemon,
              "the first buy's fill, and the grid moved")
        until(lambda: not unsettled(db), daemon, "the new grid acknowledged")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
        resting = venue.open_orders()
        assert [o for o in resting if o.side == "buy"], "killed while orders rest"

        lowest = min(o.limit_price for o in resting if o.limit_price is not None)
        venue.move("BTC/USDT", lowest - 100)  # through every buy while the daemon is dead
        traded = trades(venue)
        assert traded > fills(db)
        daemon = start(cfg, db)
        try:
            until(lambda: fills(db) == traded, daemon, "the fills made while it was dead")
            until(lambda: len(venue.open_orders()) >= 4 and not unsettled(db), daemon,
                  "a new grid below, with sells of what was bought")
            highest = max(o.limit_price for o in venue.open_orders()
                          if o.limit_price is not None)
            cancelled = statuses(db)["canceled"]
            venue.move("BTC/USDT", highest + 100)  # through every sell: the grid moves up
            traded = trades(venue)
            until(lambda: fills(db) == traded and statuses(db)["canceled"] > cancelled
                  and not unsettled(db), daemon, "the sells booked, the buys cancelled")
        finally:
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=30) == 0
        check_books_equal_the_exchange(db, venue)


def check_books_equal_the_exchange(db: str, venue: FakeVenue) -> None:
    """No order lost, doubled or left unknown; every trade booked once; the books add up."""
    with open_journal(db) as store:
        report = verify_stream(store, "grid")
        entries = list(store.read("grid"))
    assert report.ok, report.error
    booked = [(kind, p) for kind, p in ((e.kind, loads(e.payload)) for e in entries)]
    sent = Counter(venue.sent())
    assert sent and max(sent.values()) == 1, "a client order id was sent twice"
    orders = Orders()
    fold(entries, orders)
    on_venue = {o.client_id: o for o in venue.orders()}
    journal_ids = {venue_of(venue.exchange_id).client_id(coid): coid for coid in orders.by_id}
    assert set(on_venue) <= set(journal_ids), "the exchange holds an order no intent sent"
    for venue_id, held in on_venue.items():
        state = orders.by_id[journal_ids[venue_id]]
        assert state.status == held.status, f"{venue_id}: journal {state.status}, " \
                                            f"exchange {held.status}"
        assert sorted(state.fills) == sorted(t.trade_id for t in held.trades)
    assert not [c for c, o in orders.by_id.items() if o.status in ("sent", "unknown")]
    assert [p for kind, p in booked if kind == "OrderRejected"] == []
    stops = {p["client_order_id"] for kind, p in booked
             if kind == "OrderIntent" and p["type"] == "stop_market"}
    assert bool(stops) == (venue.exchange_id == "binance")  # okx: the grid runs stopless
    assert all(orders.by_id[c].status in ("open", "canceled") for c in stops)
    fill_ids = [p["fill_id"] for kind, p in booked if kind == "Fill"]
    assert len(fill_ids) == len(set(fill_ids)) >= 4  # bought twice, sold at least twice
    ledger = Ledger(quote="USDT")
    for kind, payload in booked:
        ledger.apply(kind, payload)
    free, locked = venue.balance("BTC")
    assert ledger.positions["BTC/USDT"].amount == free + locked
    free, locked = venue.balance("USDT")
    assert ledger.cash == free + locked
