"""Operator commands: queue pause/resume/kill/deposit/withdraw, and ``fund status``.

A command is appended to the actor's own command stream (``ACTOR.commands``, hash-chained
like every stream); the daemon that owns the actor applies it at its next heartbeat or
wake and records what it did in the actor's stream. Nothing here writes the actor's
stream itself, so a command never collides with the daemon's writes.
"""

from __future__ import annotations

import getpass
import json
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from fund import display
from fund.books import OrderBook
from fund.canonical import format_ts, loads, parse_ts
from fund.errors import UsageError
from fund.journal import (
    GENESIS_HASH,
    ConflictError,
    Entry,
    EntryFilter,
    Journal,
    JournalError,
    JournalWriter,
    open_journal,
)
from fund.ledger import Ledger, LedgerError, Position
from fund.messages import COMMAND, START, WAKE, commands_stream, is_side_stream
from fund.money import standard
from fund.projections import Controls, Orders, OrderState


def actors(journal: Journal) -> list[str]:
    """The actor streams of a journal (command streams left out)."""
    return [p for p in journal.processes() if not is_side_stream(p)]


def send(target: str, actor: str, command: str, *, amount: str | None, reason: str,
         investor: str | None = None, units: str | None = None) -> int:
    """Queue one command for an actor; print where it went."""
    payload: dict[str, Any] = {"command": command, "reason": reason,
                               "by": f"{getpass.getuser()}@{socket.gethostname()}"}
    for key, text in (("amount", amount), ("units", units)):
        if text is not None:
            payload[key] = _positive(command, key, text)
    if investor is not None:
        if not investor.strip() or len(investor) > 64:
            raise UsageError(f"{command}: {investor!r} is not an investor id (1-64 characters)")
        payload["investor"] = investor.strip()
    with open_journal(target, must_exist=True) as journal:
        if actor not in actors(journal):
            raise UsageError(f"{journal.url}: no actor {actor} "
                             f"(actors: {', '.join(actors(journal)) or 'none'})")
        for attempt in (1, 2):  # two operators at once: the loser retries on the new head
            writer = JournalWriter(journal, commands_stream(actor))
            entry = writer.append(COMMAND, format_ts(datetime.now(UTC)), payload)
            try:
                writer.flush()
                break
            except ConflictError:
                if attempt == 2:
                    raise
    print(f"{actor}: {command} queued as command {entry.seq}; the daemon applies it within "
          "seconds (at its next heartbeat or wake)")
    return 0


def _positive(command: str, key: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"{command}: {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise UsageError(f"{command}: the {key} must be positive, not {text}")
    return value


@dataclass(slots=True)
class StatusFold:
    """What ``fund status`` folds from an actor's stream (the projections every reader
    shares: the books, the controls, the orders), up to entry ``seq``."""

    ledger: Ledger | None = None
    controls: Controls = field(default_factory=Controls)
    orders: Orders = field(default_factory=Orders)
    last_wake: str | None = None
    problem: str | None = None  # where the books stopped adding up
    seq: int = 0
    head_hash: str = GENESIS_HASH
    intact: bool = True  # every entry folded is on the hash chain

    def apply(self, entry: Entry) -> None:
        """Fold one entry (the next of the stream)."""
        if self.intact and (entry.seq != self.seq + 1 or entry.prev_hash != self.head_hash
                            or entry.hash != entry.expected_hash()):
            self.intact = False  # still folded, as before; only never checkpointed
        payload = loads(entry.payload)
        if entry.kind == START:
            self.ledger = Ledger(quote=payload["quote"])
        elif entry.kind == WAKE:
            self.last_wake = payload["scheduled"]
        self.controls.apply(entry.seq, entry.kind, entry.ts, payload)
        self.orders.apply(entry.seq, entry.kind, entry.ts, payload)
        if self.ledger is not None and self.problem is None:
            try:
                self.ledger.apply(entry.kind, payload)
            except LedgerError as exc:  # books that do not add up: say where, fold no more
                self.problem = f"entry {entry.seq}: {exc}"
        self.seq, self.head_hash = entry.seq, entry.hash


_STATUS = "status"
_CLASSES: dict[str, type] = {cls.__name__: cls for cls in (
    StatusFold, Ledger, Position, OrderBook, Controls, Orders, OrderState)}


@cache
def _status_key() -> str:
    import fund.books
    import fund.ledger
    import fund.projections
    from fund import projection_store

    return projection_store.identity(_STATUS, 1, _CLASSES.values(), (
        sys.modules[__name__], fund.projections, fund.ledger, fund.books))


@standard
def status_fold(journal: Journal, actor: str, *, save_after: int | None = None) -> StatusFold:
    """The actor's stream folded: from its projection checkpoint when one matches the
    journal (then only the entries after it are read), else from the first entry — or from
    the UI's checkpoint (the same projections) where that is further on and more than
    projection_store.SAVE_AFTER entries would be folded otherwise; the result is
    checkpointed when at least ``save_after`` entries were folded (default:
    projection_store.SAVE_AFTER), or when it began from the UI's checkpoint (so that the
    next start reads its own, smaller one)."""
    from fund import projection_store

    if save_after is None:
        save_after = projection_store.SAVE_AFTER

    key = _status_key()
    found = projection_store.load(journal, actor, _STATUS, key, _CLASSES)
    own = found.state if found is not None and isinstance(found.state, StatusFold) \
        and found.state.intact and found.state.seq == found.seq else None
    fold = own if own is not None else StatusFold()
    head = journal.head(actor)
    if head is not None and head.seq - fold.seq > projection_store.SAVE_AFTER:
        # more to fold than a checkpoint is kept for: the UI's, if it is further on
        ui = _from_monitor(journal, actor)
        fold = ui if ui.seq > fold.seq else fold
    borrowed = fold is not own and fold.seq > 0
    folded = 0
    for entry in journal.read(actor, EntryFilter(first_seq=fold.seq + 1)):
        fold.apply(entry)
        folded += 1
        if not fold.intact and found is not None:  # the chain breaks after the checkpoint
            projection_store.LOG.warning(
                f"{journal.url}: {actor}: projection checkpoint at entry {found.seq} "
                f"discarded, entry {entry.seq} is off the hash chain; folding every entry again")
            projection_store.discard(journal, actor, _STATUS)
            fold, found = StatusFold(), None
            for again in journal.read(actor):
                fold.apply(again)
            return fold
    if fold.intact and (folded >= save_after or borrowed):
        projection_store.save(journal, actor, _STATUS, key, _CLASSES, fold.seq,
                              fold.head_hash, fold)
    return fold


def _from_monitor(journal: Journal, actor: str) -> StatusFold:
    """The same projections (books, controls, orders, last wake) as the UI's checkpoint
    holds them, at its entry, when it has a valid one — a backtest or a daemon leaves it at
    the head — else nothing folded.
    The UI's fold stops at the first entry whose books do not add up (untrusted, never
    kept), so a kept one has no ``problem``."""
    from fund.monitor import store

    snapshot = store.kept(journal, actor)
    if snapshot is None or snapshot.ledger is None:
        return StatusFold()
    return StatusFold(ledger=snapshot.ledger, controls=snapshot.controls,
                      orders=snapshot.orders, last_wake=snapshot.last_wake, seq=snapshot.seq,
                      head_hash=snapshot.head_hash)


@standard
def actor_status(journal: Journal, actor: str, now: datetime) -> dict[str, Any]:
    """Fold an actor's stream into what an operator needs to see (the projections every
    reader shares: the books, the controls, the orders)."""
    fold = status_fold(journal, actor)
    ledger, controls, orders = fold.ledger, fold.controls, fold.orders
    last_wake, problem = fold.last_wake, fold.problem
    lease = journal.lease(actor)
    info = loads(lease.info) if lease else {}
    return {
        "actor": actor, "last_wake": last_wake, "next_wake": info.get("next_wake"),
        "nav": str(ledger.nav()) if ledger else None,
        "cash": str(ledger.cash) if ledger else None,
        "positions": {s: str(p.amount) for s, p in (ledger.positions if ledger else {}).items()
                      if p.amount},
        "open_orders": [coid for coid, _ in orders.open()], "halted": controls.halted,
        "killed": controls.killed, "paused": controls.paused, "state": controls.state,
        "daemon": lease.owner if lease else None,
        "heartbeat_age_s": round((now - parse_ts(lease.heartbeat)).total_seconds(), 1)
        if lease else None,
        "commands_queued_total": journal.count(commands_stream(actor)),
        "problem": problem,
    }


def status(targets: str | Sequence[str], *, as_json: bool) -> int:
    """Print every actor's state: wakes, NAV, positions, open orders, halts, its daemon —
    for each journal named (a journal URL or file, a fund config's journal, or those of a
    directory of configs). A journal that cannot be read is one line on stderr, and the
    exit code 2, but the others are still shown."""
    now = datetime.now(UTC)
    journals = status_journals([targets] if isinstance(targets, str) else targets)
    shown: list[tuple[str, list[dict[str, Any]]]] = []
    failed = False
    for target in journals:
        try:
            with open_journal(target, must_exist=True) as journal:
                rows = [{**actor_status(journal, actor, now), "journal": journal.url}
                        for actor in actors(journal)]  # never the password a URL may carry
                shown.append((journal.url, rows))
        except (UsageError, JournalError) as exc:
            if len(journals) == 1:
                raise
            print(f"fund: error: {exc}", file=sys.stderr)
            failed = True
    if as_json:
        print(json.dumps([row for _, rows in shown for row in rows]))
    else:
        for url, rows in shown:
            _table(url, rows)
    return 2 if failed else 0


def status_journals(targets: Sequence[str]) -> list[str]:
    """The journals to show: each target as given, but a fund config (``.toml``) or a
    directory of them stands for its journals (as ``fund run`` would open them)."""
    journals: list[str] = []
    for target in targets:
        path = Path(target)
        if not (path.is_dir() or (path.suffix == ".toml" and path.is_file())):
            journals.append(target)
            continue
        from fund.commands.run import config_files, journal_target
        from fund.config import load_config

        journals.extend(journal_target(load_config(file), None)[0]
                        for file in config_files([path]))
    return journals


def _table(shown: str, rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=shown, title_justify="left")
    for column in ("actor", "last wake", "next wake", "NAV", "positions", "open", "state",
                   "daemon"):
        table.add_column(column, overflow="fold")
    for row in rows:
        state = row["state"]
        if row["problem"]:
            state = f"books inconsistent at {row['problem']} (run fund verify)"
        daemon = (f"{row['daemon']} ({row['heartbeat_age_s']} s ago)" if row["daemon"]
                  else "none")
        table.add_row(row["actor"], row["last_wake"] or "", row["next_wake"] or "",
                      display.money(row["nav"]),
                      ", ".join(f"{s} {display.amount(a)}" for s, a in row["positions"].items()),
                      str(len(row["open_orders"])), state, daemon)
    Console(width=160).print(table)
