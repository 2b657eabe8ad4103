"""``fund run a.toml b.toml``: two funds in one daemon process, on one scheduler.

One fund is steady; the other runs a strategy that raises every third wake and trades on an
exchange that answers its markets late at start and later goes down for a while. The steady
fund's wakes must all be on time, from its first (no wake missed, p99 lateness under
250 ms, measured from its journal: a Wake entry's time against its scheduled cron time),
and both journals must verify. The short run is in the normal suite
(marked serial: real clocks); the two-minute soak runs with ``make soak``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fund.canonical import loads, parse_ts
from fund.journal import open_journal
from tests.conftest import run_fund
from tests.integration.fake_exchange import FakeExchange, Reply, Request

pytestmark = pytest.mark.serial  # real clocks: run alone (make test runs these after the rest)

FLAKY = '''
from fund.messages import Decision
from agentfund.strategies.template import BuyAndHold, BuyAndHoldParams


class Flaky(BuyAndHold):
    """Buy and hold, but raise at every third second (so every third 1-second wake)."""

    name = "flaky"
    Params = BuyAndHoldParams

    def on_wake(self, state, ctx):
        if ctx.time.second % 3 == 0:
            raise RuntimeError("flaky strategy: every third wake")
        return super().on_wake(state, ctx)
'''
CONFIG = """
[fund]
name = "{name}"
initial_cash = 10000
quote = "USDT"
fee_rate = 0.001

[exchange]
id = "binance"
urls = {{api = "{url}"}}
timeout_ms = 5000

[daemon]
journal = "{journal}"
misfire_grace_s = {grace}
metrics = "127.0.0.1:{port}"

[actors.{actor}]
cron = "* * * * * *"
strategy = "{strategy}"
[actors.{actor}.params]
{params}
"""
STEADY = 'band = 0.002\nweights = {"BTC/USDT" = 0.5, "ETH/USDT" = 0.25}'
HOLD = 'weights = {"BTC/USDT" = 0.4}'
P99_MS = 250.0
ACTORS = (("steady", "rebalancer"), ("flaky", "holder"))  # each fund's one actor
SLOW_FIRST_S = 2.5  # longer than a wake's period and its grace: a fund started after it
# would miss wakes if start-up waited for the flaky fund's catch-up


@pytest.fixture
def venues() -> Iterator[tuple[FakeExchange, FakeExchange]]:
    with FakeExchange() as steady, FakeExchange() as flaky:
        for venue in (steady, flaky):
            venue.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        steady.random_walk(seed=7, bps=30)  # so the rebalancer trades now and then
        yield steady, flaky


def outage(venue: FakeExchange, seconds: float) -> None:
    """The venue is down for ``seconds``: every request answers 503, the books untouched."""
    until, answer = time.monotonic() + seconds, venue.answer

    def down(request: Request) -> Reply:
        return Reply(503) if time.monotonic() < until else answer(request)

    venue.answer = down  # type: ignore[method-assign]


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


PORTS: dict[str, int] = {}  # each fund's metrics port, by fund name


def write(folder: Path, name: str, url: str, actor: str, strategy: str, params: str,
          grace: float = 0.5) -> Path:
    path = folder / f"{name}.toml"
    PORTS[name] = free_port()
    path.write_text(CONFIG.format(name=name, url=url, journal=folder / f"{name}.db",
                                  actor=actor, strategy=strategy, params=params, grace=grace,
                                  port=PORTS[name]), encoding="utf-8")
    return path


def scraped_wakes(name: str, actor: str) -> float:
    """The fund's ``agentfund_wakes`` counter for the actor, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{PORTS[name]}/metrics", timeout=5) as got:
        text = got.read().decode()
    return next(s.value for family in text_string_to_metric_families(text)
                for s in family.samples
                if s.name == "agentfund_wakes_total" and s.labels.get("actor") == actor)


def funds(tmp_path: Path, venues: tuple[FakeExchange, FakeExchange]) -> Path:
    """A directory of two configs (and the flaky strategy's module beside them)."""
    folder = tmp_path / "funds"
    folder.mkdir()
    (tmp_path / "flakymod.py").write_text(FLAKY, encoding="utf-8")
    write(folder, "steady", venues[0].url, "rebalancer", "rebalance", STEADY)
    write(folder, "flaky", venues[1].url, "holder", "flakymod:Flaky", HOLD,
          grace=1.0)  # whenever it starts, the wake due then is within its grace: it runs
    return folder


def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "AGENTFUND_PATH": str(tmp_path), "PYTHONUNBUFFERED": "1"}


def stream(db: Path, actor: str) -> list[tuple[str, str, dict[str, Any]]]:
    with open_journal(str(db)) as store:
        return [(e.kind, e.ts, loads(e.payload)) for e in store.read(actor)]


def wakes(db: Path, actor: str) -> int:
    """The Wake entries in the actor's stream (none before the journal exists)."""
    return sum(k == "Wake" for k, _, _ in stream(db, actor)) if db.exists() else 0


def woken(db: Path, actor: str, timeout: float = 60) -> None:
    """Wait until the actor's stream holds a Wake."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists() and any(k == "Wake" for k, _, _ in stream(db, actor)):
            return
        time.sleep(0.2)
    raise AssertionError(f"{actor}: no wake after {timeout} s")


def lateness_ms(entries: list[tuple[str, str, dict[str, Any]]]) -> list[float]:
    return sorted((parse_ts(ts) - parse_ts(p["scheduled"])).total_seconds() * 1000
                  for kind, ts, p in entries if kind == "Wake")


def p99(values: list[float]) -> float:
    return values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]


def soak(tmp_path: Path, venues: tuple[FakeExchange, FakeExchange], seconds: float,
         down: float) -> None:
    folder = funds(tmp_path, venues)
    # The flaky fund ran before, so at the daemon's start it has wakes to catch up, and its
    # grace takes the one due then; that first wake loads the markets, answered late.
    once = run_fund("run", str(folder / "flaky.toml"), "--once", cwd=tmp_path)
    assert once.returncode == 0, once.stderr
    earlier = {name: wakes(folder / f"{name}.db", actor) for name, actor in ACTORS}
    time.sleep(1)
    venues[1].hold_next("/api/v3/exchangeInfo", SLOW_FIRST_S)
    daemon = subprocess.Popen([sys.executable, "-m", "fund", "run", str(folder)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env(tmp_path))
    try:
        woken(folder / "steady.db", "rebalancer")
        woken(folder / "flaky.db", "holder")  # both funds run: the measured window starts
        time.sleep(seconds / 4)
        outage(venues[1], down)  # the flaky fund's exchange goes down, then comes back
        time.sleep(seconds - seconds / 4)
        counted = {}  # /metrics during the run, between two counts of the journal
        for name, actor in ACTORS:
            before = wakes(folder / f"{name}.db", actor)
            metric = scraped_wakes(name, actor)
            after = wakes(folder / f"{name}.db", actor)
            counted[name] = (before - earlier[name], metric, after - earlier[name])
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            _, stderr = daemon.communicate(timeout=30)
        finally:
            daemon.kill()

    assert daemon.returncode == 0, stderr[-3000:]
    for name, (before, metric, after) in counted.items():  # the counter is the journal's
        assert before <= metric <= after, (name, before, metric, after)
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "stopped"
    assert {e.get("fund") for e in events if e["event"] == "started"} == {"steady", "flaky"}
    steady, flaky = stream(folder / "steady.db", "rebalancer"), stream(folder / "flaky.db",
                                                                       "holder")
    kinds = [k for k, _, _ in steady]
    assert "MissedWake" not in kinds  # not even at start, while the flaky fund's first wake hung
    late = lateness_ms(steady)
    assert len(late) >= seconds - 2, f"only {len(late)} wakes in {seconds} s"
    assert p99(late) < P99_MS, f"steady fund's p99 lateness {p99(late):.0f} ms"
    decisions = [p["rule"] for k, _, p in flaky if k == "Decision"]
    assert decisions.count("error") >= len(decisions) // 3 - 2  # the strategy raised...
    assert [r for r in decisions if r != "error"]  # ...and decided between
    failed = [p for k, _, p in flaky if k == "Observation" and p.get("error")]
    assert failed, "the flaky fund's exchange outage left no failed observation"
    assert flaky[-1][0] != "Observation" or not flaky[-1][2].get("error")
    for db in (folder / "steady.db", folder / "flaky.db"):
        verified = run_fund("verify", str(db), cwd=tmp_path)  # flakymod is found there
        assert verified.returncode == 0, verified.stdout + verified.stderr
    shown = run_fund("status", str(folder), "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert {(r["actor"], Path(r["journal"].split("///")[-1]).name) for r in rows} == \
        {("rebalancer", "steady.db"), ("holder", "flaky.db")}


def test_two_funds_in_one_daemon_the_steady_one_on_time(
        tmp_path: Path, venues: tuple[FakeExchange, FakeExchange]) -> None:
    soak(tmp_path, venues, seconds=15, down=5)


@pytest.mark.soak
@pytest.mark.skipif(not os.environ.get("AGENTFUND_SOAK"),
                    reason="the 2-minute real-time soak: run it with make soak "
                           "(AGENTFUND_SOAK=1)")
def test_two_funds_soak_two_minutes(tmp_path: Path,
                                    venues: tuple[FakeExchange, FakeExchange]) -> None:
    soak(tmp_path, venues, seconds=120, down=20)


def test_a_fund_whose_journal_is_unreachable_does_not_stop_the_other(
        tmp_path: Path, venues: tuple[FakeExchange, FakeExchange]) -> None:
    folder = funds(tmp_path, venues)
    broken = folder / "flaky.toml"
    broken.write_text(broken.read_text().replace(
        str(folder / "flaky.db"), "postgresql+psycopg://fund@127.0.0.1:9/nowhere"))

    once = run_fund("run", str(folder / "steady.toml"), str(broken), "--once", cwd=tmp_path)

    assert once.returncode == 1
    assert once.stderr.strip().splitlines()[-1].startswith("fund: fund flaky: ")
    assert [k for k, _, _ in stream(folder / "steady.db", "rebalancer")].count("Wake") == 1


def test_several_configs_refuse_one_journal_and_a_name_twice(
        tmp_path: Path, venues: tuple[FakeExchange, FakeExchange]) -> None:
    folder = funds(tmp_path, venues)
    configs = [str(folder / "steady.toml"), str(folder / "flaky.toml")]

    one_journal = run_fund("run", *configs, "--journal", str(tmp_path / "j.db"), "--once")
    twice = run_fund("run", configs[0], configs[0], "--once")

    assert one_journal.returncode == 2 and "--journal names one journal" in one_journal.stderr
    assert twice.returncode == 2 and "two configs name the fund steady" in twice.stderr
