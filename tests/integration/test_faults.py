"""Fault injection: a live fund against the fake exchange when the exchange, the process or
the disk fails — on SQLite and PostgreSQL.

Each scenario ends with the same checks (tests/integration/faults.py): no client order id
sent twice, every order the exchange created booked exactly once by the journal that sent
it and no other, the books equal to the account, and every journal verifies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fund.journal import open_journal
from tests.conftest import ROOT
from tests.fixtures.journals import JournalUrls, sqlite_url
from tests.integration.fake_exchange import FakeExchange, Fault, Request
from tests.integration.faults import (
    KEY,
    SECRET,
    LiveFund,
    SmallDisk,
    assert_books_match_the_account,
    open_market,
    small_disk_or_skip,
    write_config,
)

ACTOR = "rebalancer"
SCENARIOS = [
    Fault("status", "before", 500),  # binance -1006: execution status unknown
    Fault("status", "after", 500),
    Fault("status", "before", 429),
    Fault("status", "after", 429),  # a proxy's 429 for an order that went through
    Fault("hang", "before", seconds=30),  # stuck on the way, past its window: never booked
    Fault("hang", "after", seconds=30),  # booked, the answer never comes
    Fault("hang", "before", seconds=0.7),  # lands late, inside its window
    Fault("drop", "before"),
    Fault("drop", "after"),
]


@pytest.fixture
def venue() -> Iterator[FakeExchange]:
    with FakeExchange() as exchange:
        open_market(exchange)
        yield exchange


@pytest.mark.parametrize("fault", SCENARIOS, ids=str)
def test_an_exchange_fault_loses_no_fill_and_invents_none(
        tmp_path: Path, venue: FakeExchange, store_url: str, fault: Fault) -> None:
    fund = LiveFund(write_config(tmp_path / "fund.toml", venue), store_url, venue)
    daemon = fund.start()
    venue.inject(fault)  # the first order of the first wake meets the fault

    daemon.wake_all()  # ambiguous: the wake sends no more, reconciliation settles it
    daemon.wake_all()  # trading goes on
    fund.restart().wake_all()  # a restart reconciles again
    fund.stop()

    found = assert_books_match_the_account(venue, [store_url])
    stream = next(iter(found.entries.values()))
    first = next(p["client_order_id"] for k, p in stream if k == "OrderIntent")
    unsure = [p for k, p in stream if k == "OrderRejected" and p.get("ambiguous")]
    assert unsure and unsure[0]["client_order_id"] == first  # the fault was met
    booked = fault.when == "after" or fault.seconds < 1
    events = [k for k, p in stream if p.get("client_order_id") == first]
    assert (("Fill" in events) == booked), events


def test_a_second_journal_of_the_same_actors_never_adopts_the_firsts_orders(
        tmp_path: Path, venue: FakeExchange, store_urls: JournalUrls) -> None:
    config = write_config(tmp_path / "fund.toml", venue)
    first = LiveFund(config, store_urls("first"), venue)
    first.start().wake_all()
    first.daemon.wake_all()  # type: ignore[union-attr]
    first.stop()
    second = LiveFund(config, store_urls("second"), venue)
    daemon = second.start()
    venue.inject(Fault("drop", "before"))  # its first order request is lost on the way

    daemon.wake_all()
    second.stop()

    found = assert_books_match_the_account(venue, [first.url, second.url])
    streams = list(found.entries.values())
    ids = [{p["client_order_id"] for k, p in s if k == "OrderIntent"} for s in streams]
    assert ids[0] and ids[1] and not ids[0] & ids[1]  # ids are unique per fund instance
    assert not [p for k, p in streams[1] if k == "Fill"]  # nothing of the first's is its own
    starts = [p for s in streams for k, p in s if k == "Start"]
    assert len({s["instance"] for s in starts}) == 2


# --- an order still on its way when the daemon is killed ----------------------------------

def start_daemon(cfg: Path, url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AGENTFUND_API_KEY": KEY, "AGENTFUND_SECRET": SECRET}
    return subprocess.Popen([sys.executable, "-m", "fund", "run", str(cfg), "--live",
                             "--journal", url], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def wakes(url: str) -> int:
    with open_journal(url) as store:
        return store.count(ACTOR, ("Wake",)) if ACTOR in store.processes() else 0


@pytest.mark.serial
@pytest.mark.slow
def test_an_order_landing_after_a_sigkill_and_restart_is_still_booked(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    cfg = write_config(tmp_path / "fund.toml", venue, timeout_ms=3000, validity_ms=4000)
    venue.inject(Fault("hang", "before", seconds=2.5))  # it reaches the exchange 2.5 s late

    daemon = start_daemon(cfg, store_url)
    try:
        assert wait_for(lambda: venue.posts(), 60), "the daemon never placed an order"
    finally:
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
    coid = venue.posts()[0].params["newClientOrderId"]
    restarted = start_daemon(cfg, store_url)  # at once: the order has not landed yet
    try:
        assert wait_for(lambda: venue.placed, 10), "the held-up order never landed"
        target = wakes(store_url) + 2
        assert wait_for(lambda: wakes(store_url) >= target, 60)
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=60) == 0
    stderr = restarted.stderr.read().decode() if restarted.stderr else ""
    assert "Traceback" not in stderr

    found = assert_books_match_the_account(venue, [store_url])
    stream = next(iter(found.entries.values()))
    events = [(k, p) for k, p in stream if p.get("client_order_id") == coid]
    assert [k for k, _ in events if k == "Fill"], events  # booked, though it came late
    assert not [p for k, p in events if p.get("source") == "reconcile"]  # never "dropped"


# --- the disk fills under the daemon, then frees ----------------------------------------

@pytest.fixture
def disk() -> Iterator[SmallDisk]:
    # outside pytest's own temporary folder (mode 0700): PostgreSQL's server, running as
    # its own user, must reach a tablespace on it
    place = Path(tempfile.mkdtemp(prefix="agentfund-disk-"))
    place.chmod(0o755)
    try:
        yield from small_disk_or_skip(place)
    finally:
        place.rmdir()


def on_postgres_disk(disk: SmallDisk, store_urls: JournalUrls) -> tuple[str, Any]:
    """A journal URL whose tables live in a tablespace on the small disk."""
    url = store_urls("full")
    name = f"ts_{uuid.uuid4().hex[:12]}"
    place = disk.path / "pg"
    place.mkdir()
    subprocess.run(["chown", "postgres:", str(place)], check=True)
    server = create_engine(store_urls.server, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f"CREATE TABLESPACE {name} LOCATION '{place}'"))
    parsed = make_url(url)
    options = parsed.query["options"] + f" -cdefault_tablespace={name}"
    schema = str(parsed.query["options"]).rpartition("=")[2]

    def drop() -> None:
        with server.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            conn.execute(text(f"DROP TABLESPACE IF EXISTS {name}"))
        server.dispose()

    return parsed.update_query_dict({"options": options}).render_as_string(
        hide_password=False), drop


@pytest.mark.serial
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_full_disk_loses_no_fill_and_every_missed_wake_is_recorded(
        tmp_path: Path, venue: FakeExchange, disk: SmallDisk, backend: str) -> None:
    urls = JournalUrls(backend, tmp_path)
    drop = None
    try:
        if backend == "sqlite":
            url = sqlite_url(disk.path / "journal.db")
        else:
            url, drop = on_postgres_disk(disk, urls)
        fund = LiveFund(write_config(tmp_path / "fund.toml", venue), url, venue)
        daemon = fund.start()
        filled: list[Request] = []

        def fill_once(request: Request) -> None:
            if not filled:  # the disk fills as the first order goes out
                filled.append(request)
                disk.fill()

        venue.on_order = fill_once
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:  # wakes due while the disk is full
            daemon.tick(ACTOR)
            time.sleep(0.2)
        held = dict(daemon.held)
        disk.free()
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            daemon.tick(ACTOR)
            time.sleep(0.2)
        fund.stop()

        assert filled and "journal unwritable" in held.get(ACTOR, ""), held
        assert ACTOR not in daemon.held  # it recovered once the disk had room
        found = assert_books_match_the_account(venue, [url])
        stream = next(iter(found.entries.values()))
        coid = filled[0].params["newClientOrderId"]
        assert [k for k, p in stream if k == "Fill" and p["client_order_id"] == coid]
        missed = [p for k, p in stream if k == "MissedWake"]
        assert missed and sum(p["count"] for p in missed) >= 2  # the outage is on record
        scheduled = sorted([p["scheduled"] for k, p in stream if k == "Wake"]
                           + [p["first"] for p in missed])
        assert scheduled == sorted(set(scheduled))  # no wake both run and missed
    finally:
        disk.free()
        if drop is not None:
            drop()
        urls.close()


def test_an_exchange_down_while_settling_holds_the_actor_and_a_restart_says_so_in_one_line(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    fund = LiveFund(write_config(tmp_path / "fund.toml", venue), store_url, venue)
    daemon = fund.start()
    venue.inject(Fault("drop", "after"))  # the order is booked, its answer lost...
    venue.on_order = lambda _: venue.fail_next(500, times=100_000)  # ...and the exchange dies
    daemon.wake_all()
    held = daemon.held.get(ACTOR, "")
    time.sleep(1.1)
    daemon.tick(ACTOR)  # a due wake while held: recorded as missed, with the reason
    fund.stop()
    env = {**os.environ, "AGENTFUND_API_KEY": KEY, "AGENTFUND_SECRET": SECRET}

    down = subprocess.run([sys.executable, "-m", "fund", "run", str(fund.config), "--live",
                           "--once", "--journal", store_url], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    venue.on_order = None
    venue.faults.clear()
    fund.start().wake_all()  # back up: the order is settled and the actor trades again
    fund.stop()

    assert "not settled" in held, held
    assert down.returncode == 1, down.stderr
    assert "Traceback" not in down.stderr
    last = down.stderr.strip().splitlines()[-1]
    assert last.startswith("fund: actor rebalancer: orders of unknown fate") and \
        "VenueUnreachable" in last, last
    assert KEY not in down.stderr and SECRET not in down.stderr
    found = assert_books_match_the_account(venue, [store_url])
    stream = next(iter(found.entries.values()))
    assert any(k == "MissedWake" and "not settled" in p["reason"] for k, p in stream)
    assert [k for k, _ in stream].count("Fill") >= 2  # the lost answer's fill, and later ones


def test_settling_waits_no_longer_than_the_window(tmp_path: Path, venue: FakeExchange,
                                                 store_url: str) -> None:
    fund = LiveFund(write_config(tmp_path / "fund.toml", venue), store_url, venue)
    daemon = fund.start()
    venue.inject(Fault("drop", "before"))

    started = time.monotonic()
    daemon.wake_all()
    took = time.monotonic() - started
    fund.stop()

    # the window (1 s), the margin (1 s) and the wake itself; a bound, not a benchmark
    assert took < 1 + 1 + 5, took
    assert timedelta(seconds=took) >= timedelta(seconds=1)


def test_a_key_the_exchange_echoes_back_is_blanked_in_logs_and_journal(
        tmp_path: Path, venue: FakeExchange, store_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    venue.refuse_key(KEY)  # binance's 401 names the API key it refused
    fund = LiveFund(write_config(tmp_path / "fund.toml", venue), store_url, venue)

    fund.start().wake_all()
    fund.stop()

    logged = capsys.readouterr().err
    with open_journal(store_url) as store:
        journaled = " ".join(e.payload for e in store.read(ACTOR))
    assert '"event": "balances-unavailable"' in logged and "Invalid API-key ***" in logged
    assert "Invalid API-key ***" in journaled  # the order's refusal, as the exchange said it
    for said in (logged, journaled):
        assert KEY not in said and SECRET not in said
