"""An investor's audit of a fund: what ``fund audit`` finds, as plain data (the page is
fund/audit_report.py).

Everything comes from the journal, the manager's public key and the published heads feed,
and each fact from the one place the project keeps it:

* the verdict — ``fund verify``'s strict replay of every stream (fund/verify.py) with the
  key, and the journal against the feed (fund/checkpoints.py);
* the signature timeline — every checkpoint in the journal or the feed, its signature
  checked against the key (fund/attest.py), found in the feed or not, matching the
  journal's entry at its position or not;
* the code that ran — each Start entry's ``code``, compared with the code installed here
  (the actor spec's own identity, as ``fund verify`` compares it);
* NAV over time — the monitor's fold of the books (fund/monitor/snapshot.py, the real
  :class:`~fund.ledger.Ledger`); NAV per share and the investors' holdings — the share
  register folded from the Valuation entries (fund/accounting/statement.py), every one of
  which the replay recomputed and found equal;
* fees — the management and performance fees of each valuation point, checked against
  what the register credits to investors and what was paid and is owed;
* every risk halt and operator command, with its time.

Only the verified part of a stream is folded: a stream that fails verification is
read up to the entry before its first problem, and said to be so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fund import __version__
from fund.accounting.statement import Books, books, statement
from fund.attest import Fork, fingerprint, valid
from fund.canonical import loads, parse_ts
from fund.checkpoints import against_heads, journal_checkpoints
from fund.journal import EntryFilter, Journal
from fund.messages import (
    COMMAND,
    CONTROL,
    DEPOSIT,
    HALT,
    REDEMPTION,
    START,
    SUBSCRIPTION,
    VALUATION,
    Checkpoint,
    is_commands_stream,
    is_side_stream,
)
from fund.monitor.snapshot import ActorSnapshot, advance
from fund.verify import StreamReport

ZERO = Decimal(0)
_EVENT_KINDS = (START, VALUATION, HALT, CONTROL, DEPOSIT, SUBSCRIPTION, REDEMPTION)


class AuditError(Exception):
    """The audit cannot be made as asked (an unknown investor, an empty journal)."""


@dataclass(frozen=True, slots=True)
class SignedHead:
    """A checkpoint, where it was found and what checking it found."""

    checkpoint: Checkpoint
    signed: bool  # signed by the key given
    in_journal: bool
    in_feed: bool
    matches: bool | None  # the journal's entry at its position has its hash (None: no entry)


@dataclass(frozen=True, slots=True)
class CodeUse:
    """The code one Start entry records, the period it ran, and whether it is installed."""

    actor: str
    strategy: str
    started: str
    until: str
    recorded: Mapping[str, Any]
    installed: str  # "the same" | "differs: …" | "cannot load: …"


@dataclass(frozen=True, slots=True)
class Event:
    """A risk halt or an operator's command, with its time and what it said."""

    stream: str
    seq: int
    ts: str
    kind: str
    what: str  # for display: money to the cent
    payload: Mapping[str, Any]  # exact


@dataclass(frozen=True, slots=True)
class Fees:
    """One valuation point's fees (exact, as the Valuation entry records them)."""

    at: str
    management: Decimal
    performance: Decimal
    paid: Decimal
    owed: Decimal


@dataclass(slots=True)
class ActorAudit:
    """One actor's figures, folded from the verified part of its stream."""

    actor: str
    quote: str = ""
    folded: int = 0  # entries folded (the verified prefix)
    nav_times: list[float] = field(default_factory=list)  # end of each wake, epoch s
    nav: list[float] = field(default_factory=list)  # for charts only
    final_nav: Decimal | None = None  # the books' NAV, exact
    end_nav: Decimal | None = None  # the End entry's, if any
    trading_fees: Decimal = ZERO
    books: Books = field(default_factory=Books)
    fees: list[Fees] = field(default_factory=list)
    fee_problems: list[str] = field(default_factory=list)

    @property
    def prices(self) -> list[tuple[datetime, Decimal]]:
        """NAV per share at each valuation point."""
        return self.books.prices

    def fee_totals(self) -> dict[str, Decimal]:
        """Fees charged, paid and still owed over the whole stream."""
        return {"management": sum((f.management for f in self.fees), ZERO),
                "performance": sum((f.performance for f in self.fees), ZERO),
                "paid": sum((f.paid for f in self.fees), ZERO),
                "owed": self.fees[-1].owed if self.fees else ZERO}


@dataclass(slots=True)
class Statement:
    """An investor's statement in one actor (fund/accounting/statement.py's figures) and
    their holding's value at each valuation point."""

    actor: str
    figures: dict[str, Any]
    values: list[tuple[datetime, Decimal]]


@dataclass(slots=True)
class Audit:
    """Everything ``fund audit`` reports."""

    journal: str
    heads: str
    key: str
    fund: str | None = None
    verdicts: list[StreamReport] = field(default_factory=list)
    heads_problems: list[str] = field(default_factory=list)
    forks: list[Fork] = field(default_factory=list)
    published: int = 0
    timeline: list[SignedHead] = field(default_factory=list)
    code: list[CodeUse] = field(default_factory=list)
    actors: list[ActorAudit] = field(default_factory=list)
    halts: list[Event] = field(default_factory=list)
    commands: list[Event] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)
    investor: str | None = None
    version: str = __version__

    @property
    def ok(self) -> bool:
        """Whether every stream verified and the journal matches what was published."""
        return all(v.ok for v in self.verdicts) and not self.heads_problems and not self.forks

    def problems(self) -> list[str]:
        """Every problem found, one line each (empty when the audit found none)."""
        failed = [v.line() for v in self.verdicts if not v.ok]
        if self.forks or self.heads_problems:
            failed += [f"checkpoints: {line}" for line in self.checkpoint_lines()]
        return failed

    def checkpoint_lines(self) -> list[str]:
        """The checkpoints' verdict: all signed and matching the feed, or each problem (an
        equivocation first)."""
        found = [f"equivocation: key {f.first.key} signed two histories of {f.first.actor} "
                 f"at entry {f.first.seq}" for f in self.forks] + list(self.heads_problems)
        if found:
            return found
        signed = sum(1 for s in self.timeline if s.signed)
        return [f"{signed} checkpoint(s), all signed by {self.key}; the {self.published} "
                f"published in the feed all found in the journal"]

    def lines(self) -> list[str]:
        """The verdict: one line per stream, then the checkpoints'."""
        return [v.line() for v in self.verdicts] + \
            [f"checkpoints: {line}" for line in self.checkpoint_lines()]


def shown_location(where: str) -> str:
    """A feed's location as shown: a URL without any user name or password in it."""
    if "://" not in where:
        return where
    parts = urlsplit(where)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


def audit(journal: Journal, public: Ed25519PublicKey, published: list[Checkpoint], *,
          heads: str, investor: str | None = None, allow_code_change: bool = False) -> Audit:
    """Audit the journal with the manager's key against the published checkpoints."""
    from fund.verify import verify_stream
    from fund.verify_split import default_jobs

    streams = journal.processes()
    if not streams:
        raise AuditError(f"{journal.url}: the journal is empty")
    if investor is not None:  # bad input is told before the replay, however long
        statements([ActorAudit(s, books=books(journal.read(s, EntryFilter(
            kinds=(START, VALUATION))))) for s in streams if not is_side_stream(s)],
            investor)
    result = Audit(journal=journal.url, heads=shown_location(heads), key=fingerprint(public),
                   published=len(published), investor=investor)
    for stream in streams:
        report = verify_stream(journal, stream, key=public, allow_code_change=allow_code_change,
                               jobs=default_jobs())
        result.verdicts.append(report)
    journal.check_intact()  # a bundle damaged in transit is bad input, as for fund verify
    found = against_heads(journal, published, public)
    result.heads_problems, result.forks = list(found.problems), list(found.forks)
    result.timeline = signature_timeline(journal, published, public)
    result.fund = next((s.checkpoint.fund for s in result.timeline if s.checkpoint.fund), None)
    for verdict in result.verdicts:
        last = None if verdict.ok else (verdict.seq or 1) - 1
        if is_commands_stream(verdict.process_id):
            result.commands += commands(journal, verdict.process_id, last)
        elif is_side_stream(verdict.process_id):
            continue  # the fund's alerts: facts outside the record, chain-checked only
        else:
            result.actors.append(_actor(journal, verdict.process_id, last, result))
    result.commands.sort(key=lambda e: (e.ts, e.stream, e.seq))
    if investor is not None:
        result.statements = statements(result.actors, investor)
    return result


def signature_timeline(journal: Journal, published: Iterable[Checkpoint],
                       public: Ed25519PublicKey) -> list[SignedHead]:
    """Every checkpoint of the journal and of the feed, once, in time order."""
    recorded = list(journal_checkpoints(journal))
    feed = list(published)

    def key(c: Checkpoint) -> tuple[str, int, str, str]:
        return c.actor, c.seq, c.head, c.signature

    in_journal, in_feed = {key(c) for c in recorded}, {key(c) for c in feed}
    seen: dict[tuple[str, int, str, str], Checkpoint] = {}
    for checkpoint in [*recorded, *feed]:
        seen.setdefault(key(checkpoint), checkpoint)
    rows = []
    for k, checkpoint in seen.items():
        entry = next(iter(journal.read(checkpoint.actor, EntryFilter(
            first_seq=checkpoint.seq, limit=1))), None)
        matches = None if entry is None or entry.seq != checkpoint.seq else \
            entry.hash == checkpoint.head
        rows.append(SignedHead(checkpoint, valid(checkpoint, public), k in in_journal,
                               k in in_feed, matches))
    rows.sort(key=lambda s: (s.checkpoint.at, s.checkpoint.actor, s.checkpoint.seq))
    return rows


def commands(journal: Journal, stream: str, last: int | None) -> list[Event]:
    """The operator's commands queued in a command stream (up to entry ``last``)."""
    out = []
    for entry in journal.read(stream, EntryFilter(last_seq=last)):
        payload = loads(entry.payload)
        out.append(Event(stream, entry.seq, entry.ts, COMMAND, _said(payload, (
            "command", "investor", "amount", "units", "reason", "by")), payload))
    return out


def _said(payload: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    """The named fields of a payload that are set, as ``key=value`` words (amounts to the
    cent)."""
    return " ".join(f"{k}={cents(payload[k]) if k in _MONEY else payload[k]}" for k in keys
                    if payload.get(k) not in (None, ""))


_MONEY = frozenset({"amount", "nav", "peak"})


def cents(value: Any) -> str:
    """A money figure for display: to the cent, with thousands separators (the exact
    figure stays in the data)."""
    try:
        return f"{Decimal(str(value)).quantize(Decimal('0.01')):,}"
    except ArithmeticError:
        return str(value)


def percent(value: Any) -> str:
    """A fraction for display, as a percentage to two decimals."""
    try:
        return f"{Decimal(str(value)) * 100:.2f} %"
    except ArithmeticError:
        return str(value)


def _actor(journal: Journal, actor: str, last: int | None, result: Audit) -> ActorAudit:
    """Fold one actor's verified entries: books, register, fees, halts, commands, code."""
    found = ActorAudit(actor)
    snapshot = ActorSnapshot(actor=actor)
    if last is None or last > 0:
        advance(journal, snapshot, limit=last)
    found.folded, found.quote = snapshot.seq, snapshot.quote
    points = snapshot.points()
    found.nav_times, found.nav = list(points.times), list(points.nav)
    if snapshot.ledger is not None:
        found.final_nav, found.trading_fees = snapshot.nav(), snapshot.ledger.fees_paid
    if snapshot.end is not None:
        found.end_nav = Decimal(snapshot.end["nav"])
    if last == 0:
        return found
    for entry in journal.read(actor, EntryFilter(kinds=_EVENT_KINDS, last_seq=last)):
        payload = loads(entry.payload)
        if entry.kind == START:
            result.code.append(_code(actor, entry.ts, snapshot.head_ts, payload))
        elif entry.kind == VALUATION:
            found.fees.append(_fees(payload))
        elif entry.kind == HALT:
            result.halts.append(Event(actor, entry.seq, entry.ts, HALT, (
                f"{payload.get('limit')}: drawdown {percent(payload.get('drawdown'))} "
                f"(limit {percent(payload.get('threshold'))}), NAV "
                f"{cents(payload.get('nav'))} from a peak of {cents(payload.get('peak'))}"),
                payload))
        elif entry.kind == CONTROL or payload.get("command_seq") is not None:
            result.commands.append(Event(actor, entry.seq, entry.ts, entry.kind, _said(
                payload, ("command", "investor", "amount", "units", "rejected", "reason",
                          "by", "command_seq")), payload))
        found.books.fold(entry)
    found.fee_problems = fee_problems(found)
    return found


def _fees(payload: Mapping[str, Any]) -> Fees:
    return Fees(at=str(payload["at"]), management=Decimal(payload["management_fee"]),
                performance=Decimal(payload["performance_fee"]),
                paid=Decimal(payload["fees_paid"]), owed=Decimal(payload["fees_owed"]))


def fee_problems(found: ActorAudit) -> list[str]:
    """Where the fees do not add up: charged against paid and owed, and against what the
    register credits to the investors (each investor's share of the management fee is
    pro rata, so the shares must add up to the fee to the cent)."""
    register = found.books.register
    if register is None or not found.fees:
        return []
    totals, problems = found.fee_totals(), []
    if totals["management"] + totals["performance"] != totals["paid"] + totals["owed"]:
        problems.append(f"fees charged ({totals['management'] + totals['performance']}) are "
                        f"not fees paid ({totals['paid']}) plus owed ({totals['owed']})")
    step = register.terms.currency_step
    shares = {"management": sum((h.management_fees for h in register.holdings.values()), ZERO),
              "performance": sum((h.performance_fees for h in register.holdings.values()),
                                 ZERO)}
    for name, credited in shares.items():
        if credited.quantize(step) != totals[name].quantize(step):
            problems.append(f"{name} fees charged ({totals[name]}) differ from the "
                            f"investors' shares ({credited.quantize(step)})")
    return problems


def _code(actor: str, started: str, until: str, payload: Mapping[str, Any]) -> CodeUse:
    """A Start entry's code identity, and whether the code installed here is the same."""
    from fund.actor import ActorSpec

    recorded = dict(payload.get("code") or {})
    try:
        installed = ActorSpec.from_start(payload).code()
    except Exception as exc:  # noqa: BLE001 - a strategy that is not installed, or broken
        state = f"cannot load: {type(exc).__name__}: {exc}"
    else:
        differs = [name for name in ("agentfund", "strategy_source", "scorers")
                   if recorded.get(name) is not None and recorded.get(name) != installed.get(
                       name)]
        state = "the same" if not differs else "differs: " + ", ".join(differs)
    return CodeUse(actor, str(payload.get("strategy", "")), started, until or started,
                   recorded, state)


def statements(actors: Iterable[ActorAudit], investor: str) -> list[Statement]:
    """The investor's statement in each actor that keeps their account."""
    out: list[Statement] = []
    known: set[str] = set()
    for found in actors:
        register = found.books.register
        if register is None:
            continue
        known.update(register.holdings)
        if investor in register.holdings:
            out.append(Statement(found.actor, statement(found.books, investor),
                                 investor_values(found.books, investor)))
    if not out:
        raise AuditError(f"no investor {investor!r} in this fund (investors: "
                         f"{', '.join(sorted(known)) or 'none'})")
    return out


def investor_values(book: Books, investor: str) -> list[tuple[datetime, Decimal]]:
    """The investor's holding at each valuation point: their units then × NAV per share."""
    rows = book.investors[investor].rows if investor in book.investors else []
    changes = [(parse_ts(r["at"]), Decimal(r["units"])) for r in rows]
    values, units, index = [], ZERO, 0
    for at, price in book.prices:
        while index < len(changes) and changes[index][0] <= at:
            units, index = changes[index][1], index + 1
        values.append((at, units * price))
    return values


__all__ = ["ActorAudit", "Audit", "AuditError", "CodeUse", "Event", "Fees", "SignedHead",
           "Statement", "audit", "cents", "fee_problems", "investor_values",
           "percent", "shown_location", "signature_timeline", "statements"]
