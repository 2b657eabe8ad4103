"""``[daemon] metrics``: Prometheus metrics and a health check, served over HTTP.

``GET /metrics`` (prometheus_client's text format): wakes, missed wakes, how late each
wake started (a histogram), order events by outcome, fills, rejections by limit, NAV and
drawdown per actor — counted from the entries the daemon hands its watchers, so they match
the journal — and, read from the daemon when scraped, whether each lease is held, the last
heartbeat and the alerts waiting to be sent. ``GET /healthz`` answers 200 while every
actor's lease is held and heartbeats keep coming, and 503 (with the problems, JSON) when a
lease was lost or no heartbeat ended for :data:`STALL` (a lease not renewed that long may
be taken over by another daemon). The address is 127.0.0.1 unless the config names another.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Sequence
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from fund.canonical import loads, parse_ts
from fund.journal import Entry
from fund.leases import LEASE_TTL
from fund.logs import json_log
from fund.messages import FILL, MISSED_WAKE, ORDER_ACK, ORDER_INTENT, ORDER_REJECTED, WAKE

if TYPE_CHECKING:
    from fund.daemon import Daemon
    from fund.runtime import ActorRuntime

STALL = LEASE_TTL
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class MetricsWatcher:
    """Counts what the daemon's actors do and serves it (a watcher of fund.daemon.Daemon)."""

    def __init__(self, daemon: Daemon, address: tuple[str, int]) -> None:
        """Bind ``address`` (port 0: any free port, see :attr:`address`) and serve."""
        self.daemon = daemon
        self.fund = daemon.config.name
        self.registry = CollectorRegistry()
        labels, r = ["fund", "actor"], self.registry
        self.wakes = Counter("agentfund_wakes", "Wakes run", labels, registry=r)
        self.missed = Counter("agentfund_missed_wakes", "Wakes due that did not run",
                              labels, registry=r)
        self.lateness = Histogram("agentfund_wake_lateness_seconds",
                                  "How late each wake started after its scheduled time",
                                  labels, buckets=LATENESS_BUCKETS, registry=r)
        self.orders = Counter("agentfund_orders", "Order events by outcome: placed (the "
                              "intent), rejected, ambiguous, or the exchange's status",
                              [*labels, "outcome"], registry=r)
        self.fills = Counter("agentfund_fills", "Fills", labels, registry=r)
        self.rejections = Counter("agentfund_rejections", "Orders rejected, by the limit or "
                                  "the source that refused them", [*labels, "limit"],
                                  registry=r)
        self.nav = Gauge("agentfund_nav", "Net asset value, in the quote currency", labels,
                         registry=r)
        self.drawdown = Gauge("agentfund_drawdown", "Fall of the NAV from its peak (0 to 1)",
                              labels, registry=r)
        r.register(_DaemonState(self))
        self.server = _server(address, self)
        self.address: tuple[str, int] = self.server.server_address[:2]  # type: ignore[assignment]
        self._thread = threading.Thread(target=self.server.serve_forever, name="metrics",
                                        daemon=True)
        self._thread.start()
        for actor_id, node in daemon.nodes.items():
            self._books(actor_id, node.runtime)
        json_log("metrics", url=f"http://{_host(self.address[0])}:{self.address[1]}/metrics")

    def entries(self, actor_id: str, runtime: ActorRuntime, entries: Sequence[Entry]) -> None:
        """Count what the actor's stream gained, and read its NAV and drawdown."""
        who = (self.fund, actor_id)
        for entry in entries:
            kind = entry.kind
            if kind == WAKE:
                self.wakes.labels(*who).inc()
                late = parse_ts(entry.ts) - parse_ts(loads(entry.payload)["scheduled"])
                self.lateness.labels(*who).observe(max(0.0, late.total_seconds()))
            elif kind == MISSED_WAKE:
                self.missed.labels(*who).inc(loads(entry.payload)["count"])
            elif kind == FILL:
                self.fills.labels(*who).inc()
            elif kind == ORDER_INTENT:
                self.orders.labels(*who, "placed").inc()
            elif kind == ORDER_ACK:
                self.orders.labels(*who, loads(entry.payload)["status"]).inc()
            elif kind == ORDER_REJECTED:
                p = loads(entry.payload)
                self.orders.labels(*who, "ambiguous" if p.get("ambiguous") else "rejected").inc()
                self.rejections.labels(*who, p.get("limit") or p["source"]).inc()
        self._books(actor_id, runtime)

    def _books(self, actor_id: str, runtime: ActorRuntime) -> None:
        core = runtime.core
        nav, peak = core.ledger.nav(), core.peak
        self.nav.labels(self.fund, actor_id).set(float(nav))
        self.drawdown.labels(self.fund, actor_id).set(
            float(1 - nav / peak) if peak > 0 and nav < peak else 0.0)

    def beat(self, daemon: Daemon) -> None:
        """Nothing to do: the heartbeat's time is read from the daemon when scraped."""

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether the daemon is healthy, and what the check saw."""
        daemon = self.daemon
        now = daemon.clock.now()
        lost = [s.actor_id for s in daemon.config.actors if s.actor_id not in daemon.nodes]
        since = (now - daemon.last_heartbeat).total_seconds()
        problems = [f"lease lost: {actor}" for actor in lost]
        if since > STALL.total_seconds():
            problems.append(f"no heartbeat for {since:.0f} s")
        return not problems, {"ok": not problems, "problems": problems,
                              "last_heartbeat_s_ago": round(since, 3),
                              "held": dict(daemon.held), "actors": list(daemon.nodes)}

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class _DaemonState:
    """What is read from the daemon at each scrape: leases, heartbeat, alerts."""

    def __init__(self, watcher: MetricsWatcher) -> None:
        self.watcher = watcher

    def collect(self) -> Iterator[Metric]:
        daemon, fund = self.watcher.daemon, self.watcher.fund
        lease = GaugeMetricFamily("agentfund_lease_held", "1 while this daemon holds the "
                                  "actor's lease", labels=["fund", "actor"])
        held = GaugeMetricFamily("agentfund_held", "1 while the actor is held (not waking)",
                                 labels=["fund", "actor"])
        for spec in daemon.config.actors:
            lease.add_metric([fund, spec.actor_id], int(spec.actor_id in daemon.nodes))
            held.add_metric([fund, spec.actor_id], int(spec.actor_id in daemon.held))
        yield lease
        yield held
        beat = GaugeMetricFamily("agentfund_last_heartbeat_timestamp_seconds",
                                 "When the daemon's last heartbeat ended (its clock)",
                                 labels=["fund"])
        beat.add_metric([fund], daemon.last_heartbeat.timestamp())
        yield beat
        yield from _alerts(daemon, fund)


def _alerts(daemon: Daemon, fund: str) -> Iterator[Metric]:
    from fund.alerts.watcher import AlertWatcher

    notifiers = [w.notifier for w in daemon.watchers if isinstance(w, AlertWatcher)]
    depth = GaugeMetricFamily("agentfund_alert_queue_depth", "Alerts waiting to be sent",
                              labels=["fund"])
    depth.add_metric([fund], sum(n.queue.qsize() for n in notifiers))
    yield depth
    sent = CounterMetricFamily("agentfund_alerts", "Alerts by outcome (sent, failed, or "
                               "dropped because the queue was full)", labels=["fund", "outcome"])
    for outcome in ("sent", "failed", "dropped"):
        sent.add_metric([fund, outcome], sum(getattr(n, outcome) for n in notifiers))
    yield sent


def _server(address: tuple[str, int], watcher: MetricsWatcher) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/metrics":
                self._answer(200, CONTENT_TYPE_LATEST, generate_latest(watcher.registry))
            elif path == "/healthz":
                ok, seen = watcher.health()
                self._answer(200 if ok else 503, "application/json",
                             json.dumps(seen, default=_plain).encode())
            else:
                self._answer(404, "text/plain", b"/metrics or /healthz\n")

        def _answer(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            """No access log."""

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        daemon_threads = True

    return Server(address, Handler)


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else repr(value)
