"""The daemon: each actor a node (fund/node.py) whose timeline APScheduler looks at.

Every actor runs in its own journal stream and resumes from it after a restart. APScheduler
only says *when* to look — at the fire times of an actor's wake and valuation crons — and
the actor's timeline (fund/timeline.py) says what is due, in the order a backtest does it:
the operator's queued commands first, then the valuation point, then the wake; the latest
due wake runs if it is no later than ``misfire_grace``, every other due wake is recorded
as missed. An actor whose wake, write or reconciliation fails is *held* (it does not wake)
until the daemon can rebuild it from the journal and settle its orders. SIGINT and SIGTERM
let the current wake finish, flush, and exit 0.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agentfund.oracles.base import Oracle
from agentfund.oracles.kinds import History, Live
from fund import account, inbox, watch
from fund.actor import ActorSpec, HandlerPurityError
from fund.canonical import format_ts, loads, parse_ts
from fund.clock import Clock, WallClock
from fund.config import DaemonSettings, FundConfig
from fund.errors import RunFailed
from fund.exchange.base import Adapter
from fund.exchange.paper import PaperAdapter
from fund.journal import EntryFilter, Journal, JournalError
from fund.leases import HEARTBEAT_EVERY_S, LeaseHeld, claim, lease, owner_id
from fund.logs import json_log, say
from fund.messages import MISSED_WAKE, VALUATION, WAKE
from fund.monitor.keeper import DAEMON_SAVE_EVERY, SnapshotKeeper
from fund.node import Node, build_runtime, timeline
from fund.reconcile import reconcile
from fund.runtime import ActorRuntime
from fund.schedule import cron_trigger
from fund.timeline import cron_times

if TYPE_CHECKING:
    from fund.checkpoints import Attestor

UNSETTLED = "orders of unknown fate are not settled yet"  # a hold that still records wakes
__all__ = ["Daemon", "DaemonError", "json_log"]


class DaemonError(Exception):
    """The daemon cannot start as configured; the message says why."""


def _venue_errors() -> tuple[type[Exception], ...]:
    """The errors of an exchange that cannot be asked (ccxt is imported only when trading)."""
    from fund.exchange.ccxt_adapter import VenueRefused, VenueUnreachable

    return VenueUnreachable, VenueRefused


class Daemon:
    """Owns one node per actor and carries out what each one's timeline says is due."""

    def __init__(self, config: FundConfig, journal: Journal, settings: DaemonSettings, *,
                 sources: History | Live | None = None,
                 oracles: Mapping[str, dict[str, Oracle]] | None = None,
                 clock: Clock | None = None, venue: Adapter | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 instance_id: Callable[[], str] = lambda: uuid.uuid4().hex[:16]) -> None:
        """Open (or resume) every actor's stream; with a ``venue``, trade live on it.

        ``sources``: where oracles come from (default: live); ``oracles``: already built, by
        actor; ``instance_id``: names a new live stream (its client order ids' salt).
        """
        self.config, self.journal, self.settings = config, journal, settings
        self.clock = clock or WallClock()
        self.venue, self.sleep, self.instance_id = venue, sleep, instance_id
        self.sources = sources or Live(settings=settings)
        self.owner = owner_id()
        self.locks: dict[str, threading.Lock] = {}  # per actor: wakes of different actors
        self.nodes: dict[str, Node] = {}  # run side by side; a clean stop finishes each
        self.applied: dict[str, int] = {}  # the last operator command applied, per actor
        self.held: dict[str, str] = {}  # actors that may not wake now, and why
        self.claimed: dict[str, datetime] = {}  # when this daemon took each actor over
        self.watchers: list[watch.Watcher] = []  # alerts and metrics (fund/watch.py)
        self.seen: dict[str, int] = {}  # the last entry the watchers were handed, per actor
        self.keepers: dict[str, SnapshotKeeper] = {}  # each actor's projection (its checkpoint)
        self.last_heartbeat = self.clock.now()
        self.attestor = attestor(config)
        try:
            for spec in config.actors:
                self._open(spec, (oracles or {}).get(spec.actor_id))
            self.watchers = watch.build(self)
            for actor_id in self.nodes:  # what reconciling at start-up found
                watch.hand_over(self, actor_id)
            self.check_balances()
        except BaseException:
            watch.close(self.watchers)
            for spec in config.actors:
                self.journal.release(spec.actor_id, self.owner)
            raise

    @property
    def runtimes(self) -> dict[str, ActorRuntime]:
        """Each running actor's runtime."""
        return {actor: node.runtime for actor, node in self.nodes.items()}

    def _open(self, spec: ActorSpec, oracles: dict[str, Oracle] | None) -> None:
        actor = spec.actor_id
        try:
            claim(self.journal, actor, self.owner, self.clock.now())
        except LeaseHeld as exc:
            raise DaemonError(str(exc)) from None
        self.claimed[actor] = self.clock.now()
        spec = replace(spec, mode="live" if self.venue is not None else "paper")
        if self.venue is not None and self.journal.head(actor) is None:
            spec = replace(spec, instance=self.instance_id())
        adapter = self.venue or PaperAdapter(fee_rate=spec.terms.fee_rate,
                                             slippage_bps=spec.terms.slippage_bps,
                                             durable_intents=True)
        # the monitor's fold, kept as the stream is written: `fund ui` opens it at its head
        keeper = SnapshotKeeper.resume(self.journal, actor, save_every=DAEMON_SAVE_EVERY)
        runtime = build_runtime(spec, self.journal, clock=self.clock, sources=self.sources,
                                adapter=adapter, wake_budget=self.settings.wake_budget,
                                oracles=oracles, on_stored=keeper.stored)
        self.keepers[actor] = keeper
        runtime.open(self.config.initial_cash[actor])
        runtime.writer.flush()
        self._check_same_actor(runtime)
        self.nodes[actor] = Node(runtime, self._timeline(runtime))
        self.locks[actor] = threading.Lock()
        self.applied[actor] = inbox.last_applied(self.journal, actor)
        self.journal.claim(self._lease(actor), self.owner)  # now with the next wake
        self.seen[actor] = runtime.writer.last_seq  # watchers are told from here on
        self.reconcile(actor, restarted_at=self.claimed[actor])

    def _timeline(self, runtime: ActorRuntime) -> Any:
        """The actor's timeline from where its journal stands: wakes after the last one
        recorded (run or missed), valuation points after the last one."""
        actor, spec = runtime.spec.actor_id, runtime.core.spec
        since = self._last(actor, WAKE, MISSED_WAKE) or self._started(actor)
        valued = self._last(actor, VALUATION) or since
        accounting = spec.accounting
        return timeline(spec, cron_times(spec.cron, since), grace=self.settings.misfire_grace,
                        valuations=cron_times(accounting.valuation_cron, valued)
                        if accounting else ())

    def _last(self, actor_id: str, *kinds: str) -> datetime | None:
        """When the last entry of these kinds was due (a wake's or valuation's own time)."""
        found = list(self.journal.read(actor_id, EntryFilter(kinds=kinds, limit=1,
                                                             descending=True)))
        if not found:
            return None
        payload = loads(found[0].payload)
        return parse_ts(payload.get("scheduled") or payload.get("last") or payload["at"])

    def _started(self, actor_id: str) -> datetime:
        first = next(iter(self.journal.read(actor_id, EntryFilter(limit=1))))
        return parse_ts(first.ts)

    def _lease(self, actor_id: str) -> Any:
        node = self.nodes.get(actor_id)
        info: dict[str, Any] = {}
        if node is not None:
            nxt = cron_trigger(node.runtime.spec.cron).get_next_fire_time(None, self.clock.now())
            info = {"next_wake": format_ts(nxt) if nxt else None,
                    "last_seq": node.runtime.writer.last_seq}
        return lease(actor_id, self.owner, self.clock.now(), **info)

    def _check_same_actor(self, runtime: ActorRuntime) -> None:
        """Refuse to resume a stream that was started with a different configuration."""
        recorded, configured = runtime.core.spec, runtime.spec
        if (recorded.strategy, recorded.cron, recorded.mode) != \
                (configured.strategy, configured.cron, configured.mode) or \
                recorded.params != configured.params:
            raise DaemonError(f"actor {configured.actor_id}: the journal {self.journal.url} was "
                              "started with another strategy, schedule, parameters or mode; "
                              "use a new journal or a new actor name")

    # --- what is due ------------------------------------------------------------------------

    def tick(self, actor_id: str) -> None:
        """Carry out what the actor's timeline says is due now (APScheduler's job)."""
        with self.locks[actor_id]:
            if actor_id not in self.nodes:
                return  # its lease was lost
            try:
                self._tick(actor_id)
            except Exception as exc:  # noqa: BLE001 - a failed wake holds the actor, no more
                self._hold(actor_id, exc)
            watch.hand_over(self, actor_id)

    def _tick(self, actor_id: str) -> None:
        node = self.nodes[actor_id]
        held = actor_id in self.held and not self._recover(actor_id)
        if held and not self.held[actor_id].startswith(UNSETTLED):
            return  # nothing can be recorded now: these wakes are recorded as missed later
        if not held:
            self.apply_commands(actor_id)
        hold = self.held[actor_id] if held else "paused" if node.runtime.core.paused else None
        for step in node.timeline.due(self.clock.now()):
            node.run(step, hold=hold)
            node.runtime.writer.flush()
            json_log(step.kind, actor=actor_id, at=step.at, seq=node.runtime.writer.last_seq,
                     **({"count": len(step.missed)} if step.missed else {}))
        if node.runtime.ambiguous:
            self.reconcile(actor_id)

    def heartbeat(self) -> None:
        """Renew every lease, try to recover held actors, and obey queued commands; an
        actor whose lease was taken over is stopped here."""
        for actor_id in list(self.nodes):
            with self.locks[actor_id]:
                try:
                    if not self.journal.claim(self._lease(actor_id), self.owner):
                        json_log("lease-lost", actor=actor_id)
                        del self.nodes[actor_id]
                        continue
                    if actor_id in self.held and not self._recover(actor_id):
                        continue
                    self.apply_commands(actor_id)
                    self._attest(actor_id, due=True)
                except Exception as exc:  # noqa: BLE001 - held and retried, never fatal
                    self._hold(actor_id, exc)
                watch.hand_over(self, actor_id)
        self.last_heartbeat = self.clock.now()
        watch.beat(self)

    def _attest(self, actor_id: str, *, due: bool = False) -> None:
        """Sign a checkpoint of the actor's stream (when one is due) and publish the feed."""
        attest = self.config.attest
        if self.attestor is None or attest is None or actor_id in self.held:
            return
        runtime = self.nodes[actor_id].runtime
        if due and not self.attestor.due(runtime, attest.every):
            return
        signed = self.attestor.checkpoint(runtime)
        if signed is None:
            return
        json_log("checkpoint", actor=actor_id, seq=signed.seq, head=signed.head,
                 key=signed.key)
        if attest.publish is not None:
            from fund.checkpoints import publish

            publish(self.journal, attest.publish)

    def attest_all(self) -> None:
        """At a stop: a checkpoint of every actor whose head moved since its last one."""
        for actor_id in list(self.nodes):
            with self.locks[actor_id]:
                try:
                    self._attest(actor_id)
                except Exception as exc:  # noqa: BLE001 - logged; the stop goes on
                    json_log("checkpoint-failed", actor=actor_id, error=say(exc))

    def apply_commands(self, actor_id: str) -> None:
        """Obey the operator commands queued since the last one applied, recording each."""
        runtime = self.nodes[actor_id].runtime
        for seq, command in inbox.queued(self.journal, actor_id, self.applied[actor_id]):
            inbox.apply(runtime, seq, command)
            self.applied[actor_id] = seq
            json_log("command", actor=actor_id, command=command["command"], seq=seq)

    def run_once(self) -> None:
        """Wake every actor once, now (``fund run --once``), whatever its schedule; a fund
        with investor accounts runs a valuation point first. Raises RunFailed naming the
        actors that could not wake (the others did)."""
        try:
            self.wake_all()
            self.attest_all()
        finally:
            self.release()
        if self.held:
            raise RunFailed("; ".join(f"actor {actor}: {why}"
                                      for actor, why in sorted(self.held.items())))

    def wake_all(self) -> None:
        """Wake every actor once, now (held actors that cannot recover are skipped)."""
        for actor_id, node in self.nodes.items():
            with self.locks[actor_id]:
                try:
                    self._wake_now(actor_id, node.runtime)
                except Exception as exc:  # noqa: BLE001 - held; the others still wake
                    self._hold(actor_id, exc)
                watch.hand_over(self, actor_id)

    def _wake_now(self, actor_id: str, runtime: ActorRuntime) -> None:
        if actor_id in self.held and not self._recover(actor_id):
            json_log("held", actor=actor_id, reason=self.held[actor_id])
            return
        self.apply_commands(actor_id)
        if runtime.core.paused:
            json_log("paused", actor=actor_id)
            return
        if runtime.core.register is not None:  # deal what was asked, then wake
            runtime.value(self.clock.now())
        now = self.clock.now()
        runtime.wake(now)
        runtime.writer.flush()
        if runtime.ambiguous:
            self.reconcile(actor_id)
        json_log("wake", actor=actor_id, at=now, once=True, seq=runtime.writer.last_seq,
                 nav=str(runtime.core.ledger.nav()))

    # --- holding, recovering, settling ---------------------------------------------------------

    def reconcile(self, actor_id: str, restarted_at: datetime | None = None) -> bool:
        """Settle the actor's orders of unknown fate with the exchange (live only).

        An exchange that cannot be asked holds the actor (it does not wake until this
        succeeds; the heartbeat tries again): it returns False then. ``restarted_at``: when
        this process took the actor over (orders with no answer were sent before it).
        """
        runtime = self.nodes[actor_id].runtime
        if self.venue is None or not self.venue.capabilities.lookup:
            return True
        try:
            counts = reconcile(self.journal.read(actor_id), self.venue,  # type: ignore[arg-type]
                               runtime.record, self.clock, restarted_at=restarted_at,
                               sleep=self.sleep)
        except _venue_errors() as exc:
            runtime.writer.flush()  # what was settled before the exchange stopped answering
            self.held[actor_id] = f"{UNSETTLED}: {say(exc)}"
            json_log("reconcile-failed", actor=actor_id, error=say(exc))
            return False
        runtime.writer.flush()
        runtime.ambiguous = counts["open"] > 0
        json_log("reconciled", actor=actor_id, **counts)
        return True

    def _hold(self, actor_id: str, exc: BaseException) -> None:
        """An actor's wake or write failed: stop waking it until it recovers (its state is
        rebuilt from the journal then, and its orders settled with the exchange)."""
        reason = say(exc)
        if isinstance(exc, HandlerPurityError):
            reason = f"strategy broke purity (fix it, then restart): {reason}"
        elif isinstance(exc, JournalError):
            reason = f"journal unwritable: {reason}"
        self.held[actor_id] = reason
        json_log("held", actor=actor_id, reason=reason)

    def _recover(self, actor_id: str) -> bool:
        """Bring a held actor back: the journal's state, its timeline from there, its
        orders settled; False if it cannot be yet (the reason is kept)."""
        if self.held[actor_id].startswith("strategy broke purity"):
            return False
        node = self.nodes[actor_id]
        try:
            node.runtime.reload()
            node.timeline = self._timeline(node.runtime)
            self.applied[actor_id] = inbox.last_applied(self.journal, actor_id)
            if not self.reconcile(actor_id, restarted_at=self.clock.now()):
                return False
            node.runtime.writer.flush()
        except Exception as exc:  # noqa: BLE001 - still failing: stay held, try again later
            self._hold(actor_id, exc)
            return False
        reason = self.held.pop(actor_id)
        json_log("recovered", actor=actor_id, after=reason)
        return True

    def check_balances(self) -> None:
        """Live: journal the exchange account against the books of every actor it holds."""
        if self.venue is None or not self.venue.capabilities.balances or not self.nodes:
            return
        try:
            held: dict[str, Decimal] = self.venue.balances()  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - a failed check is logged, not fatal
            json_log("balances-unavailable", error=say(exc))
            return
        runtimes = self.runtimes
        observed, differences = account.comparison(
            held, account.booked(runtimes.values()), list(runtimes), self.clock)
        for actor_id, runtime in runtimes.items():
            if actor_id not in self.held:
                runtime.record(observed.KIND, observed.to_payload())
                runtime.writer.flush()
        if differences:
            json_log("balances-differ", **{c: str(d) for c, d in differences.items()})

    def release(self) -> None:
        """Keep each actor's projection checkpoint, give the leases back (a clean stop), and
        stop the alerts and metrics."""
        for actor_id in list(self.nodes):  # the heartbeat may drop an actor meanwhile
            self.keepers[actor_id].save()
            self.journal.release(actor_id, self.owner)
        watch.close(self.watchers)

    def serve(self) -> None:
        """Run the APScheduler loop until SIGINT or SIGTERM; finish the current wake first
        (one fund: ``fund.supervisor.serve_all`` runs several on one scheduler)."""
        from fund.supervisor import serve_all

        serve_all([self])

    def schedule(self, scheduler: Any, prefix: str = "",
                 wrap: Callable[[Callable[..., None]], Callable[..., None]] = lambda f: f
                 ) -> None:
        """Add this daemon's jobs to ``scheduler`` (ids ``PREFIX + actor``, ``PREFIX +
        heartbeat``), each called through ``wrap``, and for each actor a job that runs at
        once (``PREFIX + actor + "/catch-up"``): it records the wakes missed while the
        daemon was down, and runs the one due now.

        The catch-up is a job of the pool, not a call made here, so nothing waits for it:
        a fund whose first wake is slow (a cold start, an exchange that hangs) delays
        neither the scheduler's start nor another fund's wakes."""
        from apscheduler.triggers.combining import OrTrigger

        for actor_id, node in self.nodes.items():
            spec = node.runtime.core.spec
            crons = [spec.cron] + ([spec.accounting.valuation_cron] if spec.accounting else [])
            trigger = OrTrigger([cron_trigger(c) for c in crons]) if len(crons) > 1 \
                else cron_trigger(spec.cron)
            scheduler.add_job(wrap(self.tick), trigger, args=[actor_id], id=prefix + actor_id,
                              coalesce=True, max_instances=1,
                              misfire_grace_time=None)  # the timeline judges
            scheduler.add_job(wrap(self.tick), args=[actor_id],  # no trigger: run it now
                              id=prefix + actor_id + "/catch-up", misfire_grace_time=None)
        scheduler.add_job(wrap(self.heartbeat), "interval", seconds=HEARTBEAT_EVERY_S,
                          id=prefix + "heartbeat", coalesce=True, max_instances=1)

    def stop(self) -> None:
        """A clean stop: every actor's entries flushed, a last checkpoint of each head that
        moved, the leases given back."""
        for actor_id, node in list(self.nodes.items()):
            with self.locks[actor_id]:
                node.runtime.writer.flush()
        self.attest_all()
        self.release()


def attestor(config: FundConfig) -> Attestor | None:
    """The fund's signer, when ``[attest]`` names a key (a DaemonError saying why the key
    cannot be used)."""
    if config.attest is None:  # (cryptography is imported only when it is needed)
        return None
    from fund.attest import AttestError
    from fund.checkpoints import signer

    try:
        return signer(config)
    except AttestError as exc:
        raise DaemonError(str(exc)) from None
