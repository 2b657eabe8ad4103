"""The daemon's alerts: a notifier fed by the entries each wake appends, by the daemon's log
lines, at its start and stop, and once a day by the summary; each alert sent is recorded in
the fund's alerts stream (``FUND.alerts``), outside every actor's replayed record."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fund import logs
from fund.alerts.events import ActorDay, Notice, from_entries, from_log, summary
from fund.alerts.sender import Notifier, Send
from fund.alerts.settings import NotifySettings
from fund.canonical import format_ts, loads
from fund.journal import Entry, EntryFilter, JournalWriter
from fund.messages import ALERT, FILL, Alert, alerts_stream

if TYPE_CHECKING:
    from fund.daemon import Daemon
    from fund.runtime import ActorRuntime


def stream_name(fund: str) -> str:
    """The fund's alerts stream: its name made safe for a stream id, then ``.alerts``."""
    return alerts_stream(re.sub(r"[^A-Za-z0-9_.:-]+", "-", fund).strip("-.:")[:64] or "fund")


class AlertWatcher:
    """Tells the operator what a daemon's actors do (a watcher of fund.daemon.Daemon)."""

    def __init__(self, daemon: Daemon, settings: NotifySettings, *, send: Send | None = None,
                 urls: dict[str, str] | None = None) -> None:
        """Resolve the targets (a NotifyError names a missing variable), start the sender,
        listen to the daemon's log, and say the daemon started."""
        self.fund = daemon.config.name
        self.settings = settings
        self.clock = daemon.clock
        self.actors = {spec.actor_id: spec.terms.quote for spec in daemon.config.actors}
        self.writer = JournalWriter(daemon.journal, stream_name(self.fund))
        self._lock = threading.Lock()
        self.notifier = Notifier(settings, record=self._record, send=send, urls=urls)
        now = self.clock.now()
        self.summarised: date | None = now.date() if self._summary_time(now) <= now else None
        self.since = format_ts(now)
        self.navs: dict[str, Decimal] = {a: n.runtime.core.ledger.nav()
                                         for a, n in daemon.nodes.items()}
        logs.listen(self.heard)
        self.notifier.publish(Notice(event="started", title=f"{self.fund}: daemon started",
                                     body=f"Actors: {', '.join(daemon.nodes)}."))

    def entries(self, actor_id: str, runtime: ActorRuntime, entries: Sequence[Entry]) -> None:
        """Alert on what the actor's stream gained (a halt, a kill, a rejection…)."""
        for notice in from_entries(self.fund, actor_id, entries, self.actors.get(actor_id, "")):
            self.notifier.publish(notice)

    def heard(self, event: str, fields: Mapping[str, Any]) -> None:
        """Alert on one of the daemon's log lines (held, recovered, balances differ…)."""
        if logs.FUND.get() not in (None, self.fund):
            return  # another fund's daemon in this process
        if fields.get("actor") is not None and fields["actor"] not in self.actors:
            return
        notice = from_log(self.fund, event, fields)
        if notice is not None:
            self.notifier.publish(notice)

    def beat(self, daemon: Daemon) -> None:
        """At each heartbeat: the daily summary, once it is due."""
        now = self.clock.now()
        if self.summarised == now.date() or now < self._summary_time(now):
            return
        self.summarised = now.date()
        days = [self._day(daemon, actor) for actor in list(daemon.nodes)]
        self.since = format_ts(now)
        self.notifier.publish(summary(self.fund, now.date().isoformat(), days))

    def close(self) -> None:
        """Say the daemon stopped, send what is queued, stop listening."""
        logs.unlisten(self.heard)
        self.notifier.publish(Notice(event="stopped", title=f"{self.fund}: daemon stopped",
                                     body="Every actor's entries flushed, leases released."))
        self.notifier.close()

    def _day(self, daemon: Daemon, actor: str) -> ActorDay:
        quote = self.actors[actor]
        fills, fees = 0, Decimal(0)
        for entry in daemon.journal.read(actor, EntryFilter(kinds=(FILL,), since=self.since)):
            fill = loads(entry.payload)
            fills += 1
            fees += Decimal(fill["fee"]) if fill["fee_currency"] == quote else 0
        with daemon.locks[actor]:
            nav = daemon.nodes[actor].runtime.core.ledger.nav()
        previous, self.navs[actor] = self.navs.get(actor), nav
        return ActorDay(actor=actor, nav=nav, previous=previous, fills=fills, fees=fees,
                        quote=quote)

    def _summary_time(self, now: datetime) -> datetime:
        return datetime.combine(now.date(), self.settings.summary_at, tzinfo=UTC)

    def _record(self, alert: Alert) -> None:
        """Journal an alert's outcome in the fund's alerts stream (the sender's thread)."""
        with self._lock:
            self.writer.append(ALERT, format_ts(self.clock.now()), alert.to_payload())
            self.writer.flush()
