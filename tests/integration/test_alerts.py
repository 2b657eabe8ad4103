"""Alerts and metrics of the paper daemon (the real :class:`fund.daemon.Daemon`, its ticks
and heartbeats driven in-process on a clock the fake exchange follows), sent through apprise
to a real webhook on 127.0.0.1 (``json://``) and scraped over real HTTP.

A drawdown halt, a kill, a rejection and the daily summary each arrive once, with their
content; a receiver that hangs or answers 500 delays no wake (lateness read from the
journal) and the fund carries on; a storm of 1,000 rejections is a couple of messages whose
recorded counts add up to 1,000; the token in the target's URL is in no log line and no
entry. ``/metrics`` agrees with the journal; ``/healthz`` turns 503 when heartbeats stop or
a lease is lost.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fund.canonical import loads, parse_ts
from fund.clock import SimulatedClock
from fund.commands.operate import send
from fund.config import load_config
from fund.daemon import Daemon
from fund.journal import Journal, open_journal
from fund.leases import lease
from fund.messages import ALERT, FILL, ORDER_REJECTED, WAKE
from fund.verify import verify_stream
from tests.integration.fake_exchange import FakeExchange

T0 = datetime(2026, 1, 5, tzinfo=UTC)
TOKEN = "hook-t0ken-5ecret-93f1"  # what the target's URL hides: never logged or journaled
FUND = """
[fund]
name = "alerted"
initial_cash = 10000
quote = "USDT"
fee_rate = 0.001

[exchange]
id = "binance"
urls = {{api = "{url}"}}

[daemon]
misfire_grace_s = 5
{daemon}

[notify]
summary_at = "00:10"
{notify}
[notify.targets.hook]
url = "json://127.0.0.1:{port}/{{HOOK_TOKEN}}"
"""
TRADER = """
[actors.trader]
cron = "{cron}"
strategy = "rebalance"
risk = {{max_drawdown = 0.05}}
[actors.trader.params]
band = 0.002
weights = {{"BTC/USDT" = 0.9}}
"""
SMALL = """
[actors.small]
cron = "{cron}"
strategy = "rebalance"
risk = {{max_order_notional = 10}}
[actors.small.params]
weights = {{"BTC/USDT" = 0.5}}
"""
STORM = """
[actors.storm]
cron = "* * * * *"
strategy = "tests.fixtures.storm:Storm"
risk = {max_order_notional = 1}
[actors.storm.params]
orders = 100
"""


class Receiver:
    """A webhook on 127.0.0.1 that keeps what apprise posts: it answers 200, 500, or hangs."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode, self.messages, self.paths = mode, [], []  # type: list[dict[str, Any]]
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.mode == "hang":
                    outer.release.wait(30)
                    return
                outer.paths.append(self.path)
                outer.messages.append(json.loads(body))
                self.send_response(500 if outer.mode == "500" else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def titled(self, text: str) -> list[dict[str, Any]]:
        """The messages whose title holds ``text``."""
        return [m for m in self.messages if text in m["title"]]

    def wait_for(self, *texts: str, timeout: float = 15) -> None:
        """Wait until a message titled with each text has arrived."""
        deadline = time.monotonic() + timeout
        while any(not self.titled(t) for t in texts):
            assert time.monotonic() < deadline, [m["title"] for m in self.messages]
            time.sleep(0.02)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    hook = Receiver(getattr(request, "param", "ok"))
    yield hook
    hook.close()


@pytest.fixture(autouse=True)
def hook_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)


class RealTime:
    """The wall clock's pace from T0: lateness is real, the dates are the test's."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def now(self) -> datetime:
        return T0 + timedelta(seconds=time.monotonic() - self.start)


def fund_config(tmp: Path, venue: FakeExchange, hook: Receiver, actors: str, *,
                notify: str = "", daemon: str = "") -> Any:
    path = tmp / "fund.toml"
    path.write_text(FUND.format(url=venue.url, port=hook.port, notify=notify, daemon=daemon)
                    + actors, encoding="utf-8")
    return load_config(path)


def exchange(clock: Any) -> FakeExchange:
    return FakeExchange(clock=lambda: int(clock.now().timestamp() * 1000))


def stream(store: Journal, process: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [loads(e.payload) for e in store.read(process) if kind is None or e.kind == kind]


def everything(store: Journal) -> str:
    return "\n".join(e.payload for p in store.processes() for e in store.read(p))


def test_a_halt_a_kill_a_rejection_and_the_summary_each_arrive_once(
        tmp_path: Path, receiver: Receiver, capfd: pytest.CaptureFixture[str]) -> None:
    clock = SimulatedClock(T0)
    journal = str(tmp_path / "journal.db")
    with exchange(clock) as venue, open_journal(journal) as store:
        venue.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        actors = TRADER.format(cron="* * * * *") + SMALL.format(cron="* * * * *")
        config = fund_config(tmp_path, venue, receiver, actors)
        daemon = Daemon(config, store, config.daemon, clock=clock)

        def minute(n: int) -> None:
            clock.set_time(T0 + timedelta(minutes=n, seconds=1))
            daemon.tick("trader")
            daemon.tick("small")
            daemon.heartbeat()

        minute(1)  # the trader buys; small's order is over its notional limit
        venue.reset(prices={"BTCUSDT": Decimal("30000"), "ETHUSDT": Decimal("2000")})
        time.sleep(0.6)  # past the daemon's shared ticker snapshot (max_age 0.5 s, real time)
        minute(2)  # BTC falls 25%: the trader halts; small is refused again (counted)
        assert send(journal, "trader", "kill", amount=None, reason="enough for today") == 0
        minute(3)  # the heartbeat applies the kill
        receiver.wait_for("halted", "kill", "small: order rejected")
        minute(11)  # past 00:10: the daily summary
        minute(12)  # ... once
        receiver.wait_for("daily summary")
        before_stop = list(receiver.messages)
        daemon.stop()
        receiver.wait_for("daemon stopped")

        halts, kills = receiver.titled("halted"), receiver.titled("trader: kill")
        rejected = [m for m in before_stop if "small: order rejected" in m["title"]]
        summaries = receiver.titled("daily summary")
        alerts = stream(store, "alerted.alerts", ALERT)
        assert len(halts) == len(kills) == len(rejected) == len(summaries) == 1
        assert halts[0]["title"] == "alerted/trader: halted (max_drawdown)"
        assert "Drawdown 2" in halts[0]["message"] and "limit 5.00%" in halts[0]["message"]
        assert kills[0]["title"].startswith("alerted/trader: kill by ")
        assert "enough for today" in kills[0]["message"]
        assert rejected[0]["title"] == \
            "alerted/small: order rejected by risk (max_order_notional)"
        assert summaries[0]["title"] == "alerted: daily summary 2026-01-05"
        lines = summaries[0]["message"].splitlines()
        assert [line.split(":")[0] for line in lines] == ["trader", "small"]
        assert "USDT, return -" in lines[0] and "1 fills" in lines[0]
        assert "return +0.00%, 0 fills, fees 0.00 USDT" in lines[1]
        assert receiver.titled("daemon started")
        # small's refusals after the first (minutes 2, 3, 11, 12): one message with the count
        assert [m["title"].split(" in ")[0] for m in receiver.titled("small: order rejected")
                if m not in before_stop] == [
            "alerted/small: order rejected by risk (max_order_notional) — and 4 more like it"]
        assert {a["target"] for a in alerts} == {"hook"}
        assert {a["outcome"] for a in alerts} == {"sent"}
        assert len(alerts) == len(receiver.messages)
        assert all(verify_stream(store, p).ok for p in store.processes())
        assert all(path == f"/{TOKEN}" for path in receiver.paths)  # it was used...
        assert TOKEN not in capfd.readouterr().err and TOKEN not in everything(store)


@pytest.mark.parametrize("receiver", ["hang", "500"], indirect=True)
def test_a_receiver_that_hangs_or_fails_delays_no_wake(
        tmp_path: Path, receiver: Receiver, capfd: pytest.CaptureFixture[str]) -> None:
    clock = RealTime()
    with exchange(clock) as venue, open_journal(str(tmp_path / "journal.db")) as store:
        venue.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        config = fund_config(tmp_path, venue, receiver, SMALL.format(cron="* * * * * *"),
                             notify="rate_limit_s = 0\ntimeout_s = 0.5\nretries = 1\n"
                                    "backoff_s = 0.2")
        daemon = Daemon(config, store, config.daemon, clock=clock)
        for second in range(1, 9):  # every wake is refused: an alert each, none delivered
            while clock.now() < T0 + timedelta(seconds=second):
                time.sleep(0.002)
            daemon.tick("small")
        daemon.stop()

        wakes = [e for e in store.read("small") if e.kind == WAKE]
        late = [(parse_ts(e.ts) - parse_ts(loads(e.payload)["scheduled"])).total_seconds()
                for e in wakes]
        alerts = stream(store, "alerted.alerts", ALERT)
        assert len(wakes) == 8 and max(late) < 0.25, late
        assert len(stream(store, "small", ORDER_REJECTED)) == 8
        assert alerts and {a["outcome"] for a in alerts} == {"failed"}
        assert all(a["target"] == "hook" and a["error"] for a in alerts)
        assert all(verify_stream(store, p).ok for p in store.processes())
        assert TOKEN not in capfd.readouterr().err and TOKEN not in everything(store)


def test_a_storm_of_a_thousand_rejections_is_a_handful_of_messages(
        tmp_path: Path, receiver: Receiver) -> None:
    clock = SimulatedClock(T0)
    with exchange(clock) as venue, open_journal(str(tmp_path / "journal.db")) as store:
        venue.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        config = fund_config(tmp_path, venue, receiver, STORM, notify="rate_limit_s = 3600")
        daemon = Daemon(config, store, config.daemon, clock=clock)
        for minute in range(1, 11):
            clock.set_time(T0 + timedelta(minutes=minute, seconds=1))
            daemon.tick("storm")
        daemon.stop()

        refused = stream(store, "storm", ORDER_REJECTED)
        told = [a for a in stream(store, "alerted.alerts", ALERT) if a["event"] == "rejected"]
        assert len(refused) == 1000
        assert 1 <= len(receiver.titled("order rejected")) <= 3
        assert sum(a["count"] for a in told) == 1000  # every one is accounted for


def scrape(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, str], float]:
    """(sample name, actor) → value, from the Prometheus text."""
    return {(s.name, s.labels.get("actor", "")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_match_the_journal_and_health_follows_leases_and_heartbeats(
        tmp_path: Path, receiver: Receiver) -> None:
    clock = SimulatedClock(T0)
    with exchange(clock) as venue, open_journal(str(tmp_path / "journal.db")) as store:
        venue.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        venue.random_walk(seed=5, bps=80)
        actors = TRADER.format(cron="* * * * *").replace("max_drawdown = 0.05",
                                                         "max_drawdown = 0.5")
        config = fund_config(tmp_path, venue, receiver, actors + SMALL.format(cron="* * * * *"),
                             daemon='metrics = "127.0.0.1:0"')
        daemon = Daemon(config, store, config.daemon, clock=clock)
        metrics = next(w for w in daemon.watchers if hasattr(w, "address"))
        base = f"http://127.0.0.1:{metrics.address[1]}"  # type: ignore[attr-defined]

        def health() -> tuple[int, str]:
            return scrape(base + "/healthz")

        for minute in range(1, 13):
            clock.set_time(T0 + timedelta(minutes=minute, seconds=1))
            daemon.tick("trader")
            daemon.tick("small")
            daemon.heartbeat()

        status, text = scrape(base + "/metrics")
        seen = samples(text)
        healthy = health()
        clock.advance_time(timedelta(seconds=20))  # no heartbeat for 20 s
        stalled = health()
        daemon.heartbeat()
        again = health()
        store.release("trader", daemon.owner)  # another daemon takes the trader over
        assert store.claim(lease("trader", "thief", clock.now()), None)
        daemon.heartbeat()
        lost = health()
        after = samples(scrape(base + "/metrics")[1])
        daemon.stop()

        assert status == 200
        for actor in ("trader", "small"):
            entries = list(store.read(actor))
            kinds = [e.kind for e in entries]
            assert seen[("agentfund_wakes_total", actor)] == kinds.count(WAKE) == 12
            assert seen.get(("agentfund_fills_total", actor), 0) == kinds.count(FILL)
            assert seen[("agentfund_wake_lateness_seconds_count", actor)] == 12
            assert seen[("agentfund_nav", actor)] > 0
            assert seen[("agentfund_lease_held", actor)] == 1
        assert seen[("agentfund_fills_total", "trader")] > 0
        assert seen[("agentfund_rejections_total", "small")] == 12
        assert seen[("agentfund_alert_queue_depth", "")] >= 0
        assert healthy[0] == 200 and json.loads(healthy[1])["ok"] is True
        assert stalled[0] == 503 and "no heartbeat for 20 s" in stalled[1]
        assert again[0] == 200
        assert lost[0] == 503 and "lease lost: trader" in lost[1]
        assert after[("agentfund_lease_held", "trader")] == 0
        receiver.wait_for("lease lost")


def test_metrics_are_served_on_loopback_unless_a_host_is_named() -> None:
    from fund.config import metrics_address

    assert metrics_address("9464") == ("127.0.0.1", 9464)
    assert metrics_address("0.0.0.0:9464") == ("0.0.0.0", 9464)
    assert metrics_address("[::1]:9464") == ("::1", 9464)
    with pytest.raises(ValueError, match="not HOST:PORT"):
        metrics_address("localhost:http")
