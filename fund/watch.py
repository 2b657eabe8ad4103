"""What watches a running daemon: its alerts (``[notify]``, fund/alerts/) and its metrics
(``[daemon] metrics``, fund/metrics.py).

The daemon hands each watcher the entries an actor's stream gained after every tick,
heartbeat and ``--once`` wake (read back from the journal: what is stored is what is told),
calls :meth:`Watcher.beat` at each heartbeat and :meth:`Watcher.close` when it stops. A
watcher must return at once (alerts are queued, metrics are counters) and what it raises
is logged, never the daemon's problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from fund.journal import Entry, EntryFilter
from fund.logs import json_log, say
from fund.messages import (
    CONTROL,
    DECISION,
    FILL,
    HALT,
    MISSED_WAKE,
    ORDER_ACK,
    ORDER_INTENT,
    ORDER_REJECTED,
    RECONCILE,
    WAKE,
)

if TYPE_CHECKING:
    from fund.daemon import Daemon
    from fund.runtime import ActorRuntime

WATCHED = (WAKE, MISSED_WAKE, HALT, DECISION, ORDER_INTENT, ORDER_ACK, FILL, ORDER_REJECTED,
           CONTROL, RECONCILE)
"""The kinds watchers are handed (observations, the bulk of a stream, are not)."""


class Watcher(Protocol):
    """Something told what a daemon does."""

    def entries(self, actor_id: str, runtime: ActorRuntime, entries: Sequence[Entry]) -> None:
        """The entries (of the WATCHED kinds) the actor's stream gained, in order."""

    def beat(self, daemon: Daemon) -> None:
        """A heartbeat ended."""

    def close(self) -> None:
        """The daemon stops."""


def build(daemon: Daemon) -> list[Watcher]:
    """The watchers the daemon's config asks for (a NotifyError names a missing secret;
    an OSError says the metrics address cannot be bound)."""
    found: list[Watcher] = []
    if daemon.config.notify is not None and daemon.config.notify.targets:
        from fund.alerts.watcher import AlertWatcher

        found.append(AlertWatcher(daemon, daemon.config.notify))
    if daemon.settings.metrics is not None:
        from fund.metrics import MetricsWatcher

        try:
            found.append(MetricsWatcher(daemon, daemon.settings.metrics))
        except BaseException:
            close(found)
            raise
    return found


def hand_over(daemon: Daemon, actor_id: str) -> None:
    """Hand the watchers what the actor's stream gained since they were last told (call it
    holding the actor's lock)."""
    node = daemon.nodes.get(actor_id)
    if not daemon.watchers or node is None:
        return
    seen, last = daemon.seen.get(actor_id, 0), node.runtime.writer.last_seq
    if last <= seen:
        return
    try:
        new = list(daemon.journal.read(actor_id, EntryFilter(first_seq=seen + 1,
                                                             last_seq=last, kinds=WATCHED)))
    except Exception as exc:  # noqa: BLE001 - told at the next chance
        json_log("watch-failed", actor=actor_id, error=say(exc))
        return
    daemon.seen[actor_id] = last
    for watcher in daemon.watchers:
        try:
            watcher.entries(actor_id, node.runtime, new)
        except Exception as exc:  # noqa: BLE001 - a watcher never stops a wake
            json_log("watch-failed", actor=actor_id, error=say(exc))


def beat(daemon: Daemon) -> None:
    """Tell the watchers a heartbeat ended."""
    for watcher in daemon.watchers:
        try:
            watcher.beat(daemon)
        except Exception as exc:  # noqa: BLE001 - a watcher never stops the heartbeat
            json_log("watch-failed", error=say(exc))


def close(watchers: list[Watcher]) -> None:
    """Close every watcher (each at most once), whatever the others do."""
    while watchers:
        watcher = watchers.pop()
        try:
            watcher.close()
        except Exception as exc:  # noqa: BLE001 - the stop goes on
            json_log("watch-failed", error=say(exc))
