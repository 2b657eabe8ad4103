"""The daemon: actors woken on their cron schedules by APScheduler, on the wall clock.

Every actor runs in its own journal stream and resumes from it after a restart. Missed
wakes follow one explicit policy, recorded in the journal: when an actor's job fires, the
wakes due since its last recorded wake are worked out from the journal and its cron; the
latest runs if it is no later than ``misfire_grace`` (APScheduler's coalescing), and every
other due wake is recorded in a ``MissedWake`` entry — never silently skipped, never run
twice. SIGINT and SIGTERM let the current wake finish, flush, and exit 0.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from agentfund.oracles.base import Oracle
from fund import secrets
from fund.accounting.spec import REDEMPTION, SUBSCRIPTION
from fund.canonical import dumps, format_ts, loads, parse_ts
from fund.clock import Clock, WallClock
from fund.config import DaemonSettings, FundConfig
from fund.errors import RunFailed
from fund.exchange.base import Adapter
from fund.exchange.paper import PaperAdapter
from fund.journal import EntryFilter, Journal, JournalError, JournalWriter, Lease
from fund.messages import CONTROL, DEPOSIT, OBSERVATION, WAKE
from fund.reconcile import Venue, reconcile
from fund.runtime import ActorRuntime
from fund.schedule import cron_trigger, fire_times
from fund.strategy import strategy_class
from fund.verify import COMMANDS_SUFFIX

MISSED_WAKE = "MissedWake"
UNSETTLED = "orders of unknown fate are not settled yet"  # a hold that still records wakes
LEASE_TTL = timedelta(seconds=15)  # a lease not renewed for this long may be taken over
HEARTBEAT_EVERY_S = 5


def owner_id() -> str:
    """This daemon's identity in leases: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(owner: str) -> bool:
    """Whether a lease owner is a process on this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class DaemonError(Exception):
    """The daemon cannot start as configured; the message says why."""


def json_log(event: str, **fields: Any) -> None:
    """Write one structured log line (JSON) to stderr, with every known secret blanked."""
    line = json.dumps({"event": event, **fields}, default=str)
    print(secrets.redact(line), file=sys.stderr, flush=True)


def _say(exc: BaseException) -> str:
    """One line about an error, for a log line or a hold reason."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return secrets.redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300]


_VENUE_ERRORS: tuple[type[Exception], ...] = ()


def _venue_errors() -> tuple[type[Exception], ...]:
    """The errors of an exchange that cannot be asked (ccxt is imported only when trading)."""
    global _VENUE_ERRORS
    if not _VENUE_ERRORS:
        from fund.exchange.ccxt_adapter import VenueRefused, VenueUnreachable

        _VENUE_ERRORS = (VenueUnreachable, VenueRefused)
    return _VENUE_ERRORS


class Daemon:
    """Owns one ActorRuntime per actor and wakes each on its cron schedule."""

    def __init__(self, config: FundConfig, journal: Journal, settings: DaemonSettings,
                 oracle_factory: Callable[[Any, Any], dict[str, Oracle]],
                 clock: Clock | None = None, venue: Adapter | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 instance_id: Callable[[], str] = lambda: uuid.uuid4().hex[:16]) -> None:
        """Open (or resume) every actor's stream; with a ``venue``, trade live on it.

        ``instance_id`` names a new live stream (its client order ids are salted with it).
        """
        self.config = config
        self.journal = journal
        self.settings = settings
        self.clock = clock or WallClock()
        self.venue = venue
        self.sleep = sleep
        self.instance_id = instance_id
        self.owner = owner_id()
        self.locks: dict[str, threading.Lock] = {}  # per actor: wakes of different actors
        self.since: dict[str, datetime] = {}  # run side by side; a clean stop finishes each
        self.runtimes: dict[str, ActorRuntime] = {}
        self.applied: dict[str, int] = {}  # last operator command applied, per actor
        self.held: dict[str, str] = {}  # actors that may not wake now, and why
        self.claimed: dict[str, datetime] = {}  # when this daemon took each actor over
        try:
            self._open_all(oracle_factory)
        except BaseException:
            for spec in config.actors:
                self.journal.release(spec.actor_id, self.owner)
            raise

    def _open_all(self, oracle_factory: Callable[[Any, Any], dict[str, Oracle]]) -> None:
        venue = self.venue
        for spec in self.config.actors:
            self._claim(spec.actor_id)
            self.claimed[spec.actor_id] = self.clock.now()
            spec = replace(spec, mode="live" if venue is not None else "paper")
            writer = JournalWriter(self.journal, spec.actor_id)
            if venue is not None and writer.last_seq == 0:
                spec = replace(spec, instance=self.instance_id())
            adapter = venue or PaperAdapter(fee_rate=spec.terms.fee_rate,
                                            slippage_bps=spec.terms.slippage_bps,
                                            durable_intents=True)
            runtime = ActorRuntime(spec=spec, writer=writer, adapter=adapter, clock=self.clock,
                                   oracles=oracle_factory(spec, self.settings),
                                   wake_budget=self.settings.wake_budget)
            runtime.open(self.config.initial_cash[spec.actor_id])
            writer.flush()
            self._check_same_actor(runtime)
            self.runtimes[spec.actor_id] = runtime
            self.locks[spec.actor_id] = threading.Lock()
            actor = spec.actor_id
            self.since[actor] = self.last_wake(actor) or self._started(actor)
            self.applied[spec.actor_id] = self._last_applied(spec.actor_id)
            self.journal.claim(self._lease(spec.actor_id), self.owner)  # now with next_wake
            self.reconcile(spec.actor_id, restarted_at=self.claimed[spec.actor_id])
        self.check_balances()

    def _lease(self, actor_id: str) -> Lease:
        runtime = self.runtimes.get(actor_id)
        info: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname()}
        if runtime is not None:
            nxt = cron_trigger(runtime.spec.cron).get_next_fire_time(None, self.clock.now())
            info["next_wake"] = format_ts(nxt) if nxt else None
            info["last_seq"] = runtime.writer.last_seq
        return Lease(process_id=actor_id, owner=self.owner, heartbeat=format_ts(self.clock.now()),
                     info=dumps(info))

    def _claim(self, actor_id: str) -> None:
        """Become the one writer of the actor's stream, or refuse clearly."""
        current = self.journal.lease(actor_id)
        if current is not None and current.owner != self.owner:
            age = self.clock.now() - parse_ts(current.heartbeat)
            if age < LEASE_TTL and not _dead_here(current.owner):
                raise DaemonError(
                    f"actor {actor_id} is being run by daemon {current.owner} (heartbeat "
                    f"{age.total_seconds():.0f} s ago); stop it first, or wait "
                    f"{LEASE_TTL.total_seconds():.0f} s after it died")
        if not self.journal.claim(self._lease(actor_id), current.owner if current else None):
            raise DaemonError(f"actor {actor_id}: another daemon claimed it at the same moment")

    def heartbeat(self) -> None:
        """Renew every lease, try to recover held actors, and obey queued commands; an
        actor whose lease was taken over is stopped here."""
        for actor_id in list(self.runtimes):
            with self.locks[actor_id]:
                try:
                    if not self.journal.claim(self._lease(actor_id), self.owner):
                        json_log("lease-lost", actor=actor_id)
                        del self.runtimes[actor_id]
                        continue
                    if actor_id in self.held and not self._recover(actor_id):
                        continue
                    self.apply_commands(actor_id)
                    self.runtimes[actor_id].writer.flush()
                except Exception as exc:  # noqa: BLE001 - held and retried, never fatal
                    self._hold(actor_id, exc)

    def release(self) -> None:
        """Give the leases back (a clean stop)."""
        for actor_id in list(self.runtimes):  # the heartbeat may drop an actor meanwhile
            self.journal.release(actor_id, self.owner)

    def reconcile(self, actor_id: str, restarted_at: datetime | None = None) -> bool:
        """Settle the actor's orders of unknown fate with the exchange (live only).

        An exchange that cannot be asked holds the actor (it does not wake until this
        succeeds; the heartbeat tries again): it returns False then. ``restarted_at``: when
        this process took the actor over (orders with no answer were sent before it).
        """
        runtime = self.runtimes[actor_id]
        if self.venue is None or not isinstance(self.venue, Venue):
            return True
        try:
            counts = reconcile(self.journal.read(actor_id), self.venue, runtime.record,
                               self.clock, restarted_at=restarted_at, sleep=self.sleep)
        except _venue_errors() as exc:
            runtime.writer.flush()  # what was settled before the exchange stopped answering
            self.held[actor_id] = f"{UNSETTLED}: {_say(exc)}"
            json_log("reconcile-failed", actor=actor_id, error=_say(exc))
            return False
        runtime.writer.flush()
        runtime.ambiguous = counts["open"] > 0
        json_log("reconciled", actor=actor_id, **counts)
        return True

    def _hold(self, actor_id: str, exc: BaseException) -> None:
        """An actor's wake or write failed: stop waking it until it recovers (its state is
        rebuilt from the journal then, and its orders settled with the exchange)."""
        from fund.actor import HandlerPurityError

        reason = _say(exc)
        if isinstance(exc, HandlerPurityError):
            reason = f"strategy broke purity (fix it, then restart): {reason}"
        elif isinstance(exc, JournalError):
            reason = f"journal unwritable: {reason}"
        self.held[actor_id] = reason
        json_log("held", actor=actor_id, reason=reason)

    def _recover(self, actor_id: str) -> bool:
        """Bring a held actor back: the journal's state, its orders settled; False if it
        cannot be yet (the reason is kept)."""
        if self.held[actor_id].startswith("strategy broke purity"):
            return False
        runtime = self.runtimes[actor_id]
        try:
            runtime.reload()
            self.since[actor_id] = self.last_wake(actor_id) or self._started(actor_id)
            self.applied[actor_id] = self._last_applied(actor_id)
            if not self.reconcile(actor_id, restarted_at=self.clock.now()):
                return False
            if self.venue is None:
                runtime.writer.flush()
        except Exception as exc:  # noqa: BLE001 - still failing: stay held, try again later
            self._hold(actor_id, exc)
            return False
        reason = self.held.pop(actor_id)
        json_log("recovered", actor=actor_id, after=reason)
        return True

    def check_balances(self) -> None:
        """Live: compare the exchange account with the books of every actor it holds, and
        journal what was found (an ``exchange_balances`` observation in each actor's stream,
        differences included), so a position the journal does not explain is on record."""
        fetch = getattr(self.venue, "balances", None)
        if fetch is None or not self.runtimes:
            return
        try:
            held: dict[str, Decimal] = fetch()
        except Exception as exc:  # noqa: BLE001 - a failed check is logged, not fatal
            json_log("balances-unavailable", error=_say(exc))
            return
        books: dict[str, Decimal] = {}
        for runtime in self.runtimes.values():
            ledger, quote = runtime.core.ledger, runtime.spec.terms.quote
            books[quote] = books.get(quote, Decimal(0)) + ledger.cash
            for symbol in runtime.spec.markets:  # a market's asset held but not booked shows
                books.setdefault(symbol.partition("/")[0], Decimal(0))
            for symbol, position in ledger.positions.items():
                base = symbol.partition("/")[0]
                books[base] = books.get(base, Decimal(0)) + position.amount
        zero = Decimal(0)
        differences = {c: held.get(c, zero) - books[c] for c in sorted(books)
                       if held.get(c, zero) != books[c]}
        now = format_ts(self.clock.now())
        payload = {"oracle": "exchange_balances", "as_of": now, "data": {
            "account": {c: held.get(c, zero) for c in sorted(books)},
            "booked": {c: books[c] for c in sorted(books)}, "differences": differences,
            "actors": sorted(self.runtimes)}}
        for actor_id, runtime in self.runtimes.items():
            if actor_id not in self.held:
                runtime.record(OBSERVATION, payload)
                runtime.writer.flush()
        if differences:
            json_log("balances-differ", **{c: str(d) for c, d in differences.items()})

    def _check_same_actor(self, runtime: ActorRuntime) -> None:
        """Refuse to resume a stream that was started with a different configuration."""
        recorded, configured = runtime.core.spec, runtime.spec
        if (recorded.strategy, recorded.cron, recorded.mode) != \
                (configured.strategy, configured.cron, configured.mode) or \
                recorded.params != configured.params:
            raise DaemonError(f"actor {configured.actor_id}: the journal {self.journal.url} was "
                              "started with another strategy, schedule, parameters or mode; "
                              "use a new journal or a new actor name")

    def _started(self, actor_id: str) -> datetime:
        """When the actor's stream began (wakes are due from then on)."""
        first = next(iter(self.journal.read(actor_id, EntryFilter(limit=1))))
        return parse_ts(first.ts)

    def last_wake(self, actor_id: str) -> datetime | None:
        """The scheduled time of the actor's last recorded wake (or missed wake)."""
        last = list(self.journal.read(actor_id, EntryFilter(kinds=(WAKE, MISSED_WAKE),
                                                           limit=1, descending=True)))
        if not last:
            return None
        payload = loads(last[0].payload)
        return parse_ts(payload.get("scheduled") or payload["last"])

    def due(self, actor_id: str, now: datetime) -> tuple[datetime | None, list[datetime]]:
        """The wake to run now (or None) and the wakes that were missed before it."""
        runtime = self.runtimes[actor_id]
        grace = self.settings.misfire_grace
        due = list(fire_times(cron_trigger(runtime.spec.cron),
                              self.since[actor_id] + timedelta(microseconds=1), now))
        if not due:
            return None, []
        if now - due[-1] <= grace:
            return due[-1], due[:-1]
        return None, due

    def _last_applied(self, actor_id: str) -> int:
        """The sequence number of the last operator command the actor's stream records."""
        applied = 0
        for entry in self.journal.read(actor_id, EntryFilter(kinds=(CONTROL, DEPOSIT))):
            applied = max(applied, loads(entry.payload).get("command_seq", 0))
        return applied

    def apply_commands(self, actor_id: str) -> None:
        """Obey the operator commands queued since the last wake, recording each one."""
        runtime = self.runtimes[actor_id]
        inbox = EntryFilter(first_seq=self.applied[actor_id] + 1)
        for entry in self.journal.read(actor_id + COMMANDS_SUFFIX, inbox):
            command = loads(entry.payload)
            name, seq = command["command"], entry.seq
            note = {"command_seq": seq, "by": command.get("by", "")}
            if name in ("pause", "resume", "kill"):
                runtime.control(name, command.get("reason", ""), **note)
            elif name in ("deposit", "withdraw"):
                self._move_cash(runtime, name, Decimal(command["amount"]),
                                command.get("reason", ""), note)
            elif name in ("subscribe", "redeem") and runtime.core.register is not None:
                size = {k: Decimal(command[k]) for k in ("amount", "units") if k in command}
                runtime.request(SUBSCRIPTION if name == "subscribe" else REDEMPTION,
                                command["investor"], reason=command.get("reason", ""),
                                **size, **note)
            elif name in ("subscribe", "redeem"):
                runtime.record(CONTROL, {"command": name, **note, "rejected":
                                         "this actor keeps no investor accounts"})
            else:
                runtime.record(CONTROL, {"command": name, "rejected": "unknown command", **note})
            self.applied[actor_id] = seq
            json_log("command", actor=actor_id, command=name, seq=seq)

    @staticmethod
    def _move_cash(runtime: ActorRuntime, name: str, amount: Decimal, reason: str,
                   note: dict[str, Any]) -> None:
        cash = runtime.core.ledger.cash
        if name == "withdraw" and amount > cash:
            runtime.record(CONTROL, {"command": name, "amount": amount, **note,
                                     "rejected": f"only {cash} {runtime.spec.terms.quote} in cash"})
            return
        runtime.record(DEPOSIT, {"amount": amount if name == "deposit" else -amount,
                                 "currency": runtime.spec.terms.quote,
                                 "reason": reason or name, **note})

    def tick(self, actor_id: str) -> None:
        """Run an actor's due wake now (APScheduler's job); record what it missed."""
        with self.locks[actor_id]:
            if self.runtimes.get(actor_id) is None:
                return  # its lease was lost
            try:
                self._tick(actor_id)
            except Exception as exc:  # noqa: BLE001 - a failed wake holds the actor, no more
                self._hold(actor_id, exc)

    def _tick(self, actor_id: str) -> None:
        runtime = self.runtimes[actor_id]
        held = actor_id in self.held and not self._recover(actor_id)
        if held and not self.held[actor_id].startswith(UNSETTLED):
            return  # nothing can be recorded now: these wakes are recorded as missed later
        now = self.clock.now()
        run, missed = self.due(actor_id, now)
        reason = "the daemon was not running, or the wake came later than the grace"
        if held:
            missed, run, reason = missed + ([run] if run else []), None, self.held[actor_id]
        elif runtime.core.paused:
            missed, run, reason = missed + ([run] if run else []), None, "paused"
        if missed:
            runtime.writer.append(MISSED_WAKE, format_ts(now), {
                "first": format_ts(missed[0]), "last": format_ts(missed[-1]),
                "count": len(missed), "reason": reason,
                "policy": f"run the latest due wake within {self.settings.misfire_grace}, "
                          "record the others as missed"})
            runtime.writer.flush()
            self.since[actor_id] = missed[-1]
            json_log("missed", actor=actor_id, count=len(missed), first=missed[0])
        if run is not None:
            runtime.wake(run)
            runtime.writer.flush()
            self.since[actor_id] = run
            json_log("wake", actor=actor_id, scheduled=run,
                     nav=str(runtime.core.ledger.nav()), seq=runtime.writer.last_seq)
        if runtime.ambiguous:
            self.reconcile(actor_id)

    def valuation(self, actor_id: str) -> None:
        """Run a valuation point for the actor now (its valuation cron's job)."""
        with self.locks[actor_id]:
            runtime = self.runtimes.get(actor_id)
            if runtime is None or runtime.core.register is None:
                return
            try:
                if actor_id in self.held and not self._recover(actor_id):
                    json_log("valuation-skipped", actor=actor_id, reason=self.held[actor_id])
                    return
                self.apply_commands(actor_id)
                entry = runtime.value(self.clock.now())
            except Exception as exc:  # noqa: BLE001 - held and retried, never fatal
                self._hold(actor_id, exc)
                return
            json_log("valuation", actor=actor_id, seq=entry.seq,
                     price=loads(entry.payload)["price"])

    def run_once(self) -> None:
        """Wake every actor once, now (``fund run --once``), whatever its schedule; a fund
        with investor accounts runs a valuation point first. Raises RunFailed naming the
        actors that could not wake (the others did)."""
        try:
            self.wake_all()
        finally:
            self.release()
        if self.held:
            raise RunFailed("; ".join(f"actor {actor}: {why}"
                                      for actor, why in sorted(self.held.items())))

    def wake_all(self) -> None:
        """Wake every actor once, now (held actors that cannot recover are skipped)."""
        for actor_id, runtime in self.runtimes.items():
            with self.locks[actor_id]:
                try:
                    self._wake_now(actor_id, runtime)
                except Exception as exc:  # noqa: BLE001 - held; the others still wake
                    self._hold(actor_id, exc)

    def _wake_now(self, actor_id: str, runtime: ActorRuntime) -> None:
        if actor_id in self.held and not self._recover(actor_id):
            json_log("held", actor=actor_id, reason=self.held[actor_id])
            return
        self.apply_commands(actor_id)
        if runtime.core.paused:
            runtime.writer.flush()
            json_log("paused", actor=actor_id)
            return
        if runtime.core.register is not None:  # deal what was asked, then wake
            runtime.value(self.clock.now())
        now = self.clock.now()
        runtime.wake(now)
        runtime.writer.flush()
        self.since[actor_id] = now
        if runtime.ambiguous:
            self.reconcile(actor_id)
        json_log("wake", actor=actor_id, scheduled=now, once=True,
                 nav=str(runtime.core.ledger.nav()), seq=runtime.writer.last_seq)

    def serve(self) -> None:
        """Run the APScheduler loop until SIGINT or SIGTERM; finish the current wake first."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        workers = min(32, len(self.runtimes) + 2)  # wakes wait on the network, side by side
        scheduler = BlockingScheduler(timezone="UTC",
                                      executors={"default": ThreadPoolExecutor(workers)})
        for actor_id, runtime in self.runtimes.items():
            with self.locks[actor_id]:
                self.apply_commands(actor_id)
            scheduler.add_job(self.tick, cron_trigger(runtime.spec.cron), args=[actor_id],
                              id=actor_id, coalesce=True, max_instances=1,
                              misfire_grace_time=None)  # lateness is judged in tick()
            self.tick(actor_id)  # record wakes missed while the daemon was down
            accounting = runtime.core.spec.accounting
            if accounting is not None:  # valuation points: fees and dealing, on their cron
                scheduler.add_job(self.valuation, cron_trigger(accounting.valuation_cron),
                                  args=[actor_id], id=f"{actor_id}.valuation", coalesce=True,
                                  max_instances=1, misfire_grace_time=None)
        scheduler.add_job(self.heartbeat, "interval", seconds=HEARTBEAT_EVERY_S, id="heartbeat",
                          coalesce=True, max_instances=1)

        def stop(signum: int, _frame: Any) -> None:
            json_log("stopping", signal=signal.Signals(signum).name)
            scheduler.shutdown(wait=True)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        json_log("started", actors=list(self.runtimes), journal=self.journal.url)
        scheduler.start()
        for actor_id, runtime in list(self.runtimes.items()):
            with self.locks[actor_id]:
                runtime.writer.flush()
        self.release()
        json_log("stopped")


def live_oracles(spec: Any, settings: DaemonSettings) -> dict[str, Oracle]:
    """Live oracles for the kinds a strategy declares: prices (the exchange's tickers),
    order_book and ohlcv (its public endpoints), news (the [daemon.news] sources) and
    sentiment (scored over the news)."""
    from agentfund.oracles.exchange_prices import ExchangePrices

    strategy = strategy_class(spec.strategy)(spec.params)
    oracles: dict[str, Oracle] = {}
    for oracle in strategy.oracles():
        if oracle.kind in ("news", "sentiment"):
            oracles[oracle.name] = news_oracle(spec.actor_id, oracle, settings)
            continue
        if oracle.kind in ("order_book", "ohlcv"):
            oracles[oracle.name] = market_data_oracle(spec, oracle, settings)
            continue
        if oracle.kind != "prices":
            raise DaemonError(f"actors.{spec.actor_id}: oracle kind {oracle.kind!r} has no live "
                              "source in the daemon (prices, order_book, ohlcv, news, "
                              "sentiment)")
        symbols = oracle.options.get("symbols", tuple(spec.markets))
        oracles[oracle.name] = ExchangePrices(oracle.name, list(symbols), shared_tickers(
            settings.exchange_id, tuple(sorted((settings.exchange_urls or {}).items()))))
    return oracles


@functools.cache
def shared_tickers(exchange_id: str, urls: tuple[tuple[str, str], ...]) -> Any:
    """One ticker snapshot per exchange for all actors: one request serves every actor
    that asks within half a second (each still records its own observation)."""
    from agentfund.oracles.exchange_prices import SharedTickers, public_client

    return SharedTickers(public_client(exchange_id, urls=dict(urls) or None), max_age=0.5)


_MARKET_DATA_OPTIONS = {"order_book": {"symbols", "depth"},
                        "ohlcv": {"symbols", "timeframe", "candles"}}


def market_data_oracle(spec: Any, oracle: Any, settings: DaemonSettings) -> Oracle:
    """The live oracle of an ``order_book`` or ``ohlcv`` spec, on the exchange's public API."""
    from agentfund.oracles.exchange_books import ExchangeOrderBook
    from agentfund.oracles.exchange_candles import ExchangeOHLCV

    where = f"actors.{spec.actor_id}: oracle {oracle.name!r}"
    unknown = set(oracle.options) - _MARKET_DATA_OPTIONS[oracle.kind]
    if unknown:
        raise DaemonError(f"{where}: unknown option(s) {', '.join(sorted(unknown))}")
    symbols = list(oracle.options.get("symbols", tuple(spec.markets)))
    client = shared_market_data(settings.exchange_id,
                                tuple(sorted((settings.exchange_urls or {}).items())))
    try:
        if oracle.kind == "order_book":
            return ExchangeOrderBook(oracle.name, symbols, client,
                                     depth=int(oracle.options.get("depth", 20)))
        return ExchangeOHLCV(oracle.name, symbols, client,
                             timeframe=str(oracle.options.get("timeframe", "1h")),
                             count=int(oracle.options.get("candles", 24)))
    except ValueError as exc:
        raise DaemonError(f"{where}: {exc}") from None


@functools.cache
def shared_market_data(exchange_id: str, urls: tuple[tuple[str, str], ...]) -> Any:
    """One public client per exchange for order books and candles, one request at a time."""
    from agentfund.oracles.exchange_books import SerialClient
    from agentfund.oracles.exchange_prices import public_client

    return SerialClient(public_client(exchange_id, urls=dict(urls) or None))


def news_oracle(actor_id: str, oracle: Any, settings: DaemonSettings) -> Oracle:
    """The live oracle of a ``news`` spec (every [daemon.news] source, combined, with its
    own fetchers: wakes of different actors run in parallel) or a ``sentiment`` spec."""
    from agentfund.oracles.base import OracleError
    from agentfund.oracles.news import live_news
    from agentfund.oracles.scorers import sentiment_oracle

    where = f"actors.{actor_id}: oracle {oracle.name!r}"
    if oracle.kind == "sentiment":
        try:
            return sentiment_oracle(oracle)
        except OracleError as exc:
            raise DaemonError(f"{where}: {exc}") from None
    if not settings.news:
        raise DaemonError(f"{where} reads news: list feeds or pages under [daemon.news]")
    return live_news(oracle.name, settings.news)
