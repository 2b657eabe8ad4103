"""Decisions, one page at a time, and everything that drove one of them.

Every query here is bounded: a page of decisions reads limited batches (newest first,
continuing below a sequence number), each with one query for the orders those decisions
placed, and at most ``scan_limit`` decisions; a search looks in what a decision acted on
(``acted_on``), on the decoded payloads. Explaining a decision reads only its own
wake (from the Wake before it to the Wake after it) plus the later exchange events that
name its orders. Nothing loads a whole stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fund.canonical import loads
from fund.journal import Entry, EntryFilter, Journal
from fund.messages import (
    DECISION,
    FILL,
    HALT,
    OBSERVATION,
    ORDER_ACK,
    ORDER_INTENT,
    ORDER_REJECTED,
    WAKE,
)

EVENT_KINDS = (ORDER_ACK, FILL, ORDER_REJECTED)


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One decision as the table lists it, with the orders it placed ("buy BTC/USDT")."""

    seq: int
    ts: str
    rule: str
    intents: int
    reasons: dict[str, Any]
    traded: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionQuery:
    """Which decisions to list: text in what a decision acted on, a rule, a time range,
    orders or not."""

    text: str = ""
    rule: str = ""
    since: str | None = None
    until: str | None = None
    with_orders: bool = False

    @property
    def filtered(self) -> bool:
        """Whether the query leaves any decision out."""
        return bool(self.text.strip() or self.rule or self.since or self.until
                    or self.with_orders)


SYMBOL = re.compile(r"^[A-Z0-9._-]+/[A-Z0-9._-]+(:[A-Z0-9._-]+)?$", re.IGNORECASE)


def acted_on(payload: dict[str, Any], intents: list[dict[str, Any]], needle: str) -> bool:
    """Whether ``needle`` (casefolded) is in what the decision acted on: its rule, an order
    it placed (side, symbol, client order id) or a word of its reasons (a headline it
    scored, a keyword, an action, a message).

    Not the names its reasons are keyed by, nor symbols or numbers it merely lists: a
    rebalance decision names every market in its drift table, but acted on those it traded.
    """
    if needle in str(payload.get("rule", "")).casefold():
        return True
    for intent in intents:
        text = f"{intent.get('side', '')} {intent.get('symbol', '')} " \
               f"{intent.get('client_order_id', '')}"
        if needle in text.casefold():
            return True

    def said(value: Any) -> bool:
        if isinstance(value, str):
            return needle in value.casefold() and not SYMBOL.match(value) \
                and not _number(value)
        if isinstance(value, dict):
            return any(said(inner) for inner in value.values())
        if isinstance(value, list):
            return any(said(inner) for inner in value)
        return False

    return said(payload.get("reasons") or {})


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _matches(query: DecisionQuery, row: DecisionRow, payload: dict[str, Any],
             intents: list[dict[str, Any]], raw: str) -> bool:
    if query.rule and row.rule != query.rule:
        return False
    if query.with_orders and not row.intents:
        return False
    needle = query.text.strip().casefold()
    if not needle:
        return True
    if not intents and needle not in raw.casefold():
        return False  # nowhere in the decision at all
    return acted_on(payload, intents, needle)


def _scan(journal: Journal, actor: str, query: DecisionQuery, below: int | None,
          batch: int) -> Iterator[tuple[Entry, DecisionRow, bool]]:
    """Every decision below ``below``, newest first, with its row and whether it matches.

    Reads decisions ``batch`` at a time (time bounds and the rule applied by the database),
    and, per batch, the orders those decisions placed (one query over the same entries).
    """
    needle = f'"rule":"{query.rule}"' if query.rule else None
    cursor = below
    while True:
        where = EntryFilter(kinds=(DECISION,), descending=True, limit=batch,
                            last_seq=None if cursor is None else cursor - 1,
                            since=query.since, until=query.until, contains=needle)
        found = list(journal.read(actor, where))
        if not found:
            return
        placed: dict[int, list[dict[str, Any]]] = {}
        if any('"intents":0' not in e.payload for e in found):
            # a decision's orders follow it, before the next decision (the batch above)
            for entry in journal.read(actor, EntryFilter(
                    kinds=(ORDER_INTENT,), first_seq=found[-1].seq,
                    last_seq=None if cursor is None else cursor - 1)):
                intent = loads(entry.payload)
                placed.setdefault(int(intent.get("decision", 0)), []).append(intent)
        for entry in found:
            payload = loads(entry.payload)
            intents = placed.get(entry.seq, [])
            row = _row(entry, payload, intents)
            yield entry, row, _matches(query, row, payload, intents, entry.payload)
        if len(found) < batch:
            return
        cursor = found[-1].seq


def decision_page(journal: Journal, actor: str, query: DecisionQuery, *,
                  below: int | None = None, size: int = 50,
                  scan_limit: int = 20_000) -> tuple[list[DecisionRow], int | None]:
    """Up to ``size`` matching decisions, newest first, with seq below ``below``.

    Returns the rows and the ``below`` to pass for the next page (None at the end).
    Filters the database can apply (time, rule) are applied there; the rest (text in what
    a decision acted on, orders) on at most ``scan_limit`` decisions per call, so a page
    never reads the stream.
    """
    rows: list[DecisionRow] = []
    for scanned, (entry, row, match) in enumerate(
            _scan(journal, actor, query, below, size * 4), start=1):
        if match:
            rows.append(row)
            if len(rows) == size:
                return rows, entry.seq
        if scanned >= scan_limit:
            return rows, entry.seq
    return rows, None


def decision_matches(journal: Journal, actor: str, query: DecisionQuery, seq: int) -> bool:
    """Whether decision ``seq`` of the actor is one the query lists."""
    needle = f'"rule":"{query.rule}"' if query.rule else None
    found = list(journal.read(actor, EntryFilter(
        kinds=(DECISION,), first_seq=seq, last_seq=seq, since=query.since, until=query.until,
        contains=needle)))
    if not found:
        return False
    payload = loads(found[0].payload)
    count = payload.get("intents", 0)
    count = count if isinstance(count, int) else len(count)
    intents = [intent for intent in (loads(e.payload) for e in journal.read(
        actor, EntryFilter(kinds=(ORDER_INTENT,), first_seq=seq, limit=count)))
        if intent.get("decision") == seq] if count else []
    return _matches(query, _row(found[0], payload, intents), payload, intents,
                    found[0].payload)


def count_decisions(journal: Journal, actor: str, query: DecisionQuery, *,
                    scan_limit: int = 50_000) -> tuple[int, bool]:
    """How many decisions the query lists, and whether that is all of them (False when
    more than ``scan_limit`` decisions would have to be read to know)."""
    if not query.filtered:
        return journal.count(actor, (DECISION,)), True
    total = 0
    for scanned, (_, _, match) in enumerate(_scan(journal, actor, query, None, 2_000), start=1):
        total += match
        if scanned >= scan_limit:
            return total, False
    return total, True


def _row(entry: Entry, payload: dict[str, Any],
         intents: list[dict[str, Any]] | None = None) -> DecisionRow:
    count = payload.get("intents", 0)
    return DecisionRow(seq=entry.seq, ts=entry.ts, rule=str(payload.get("rule", "")),
                       intents=count if isinstance(count, int) else len(count),
                       reasons=payload.get("reasons") or {},
                       traded=tuple(f"{i.get('side', '')} {i.get('symbol', '')}"
                                    for i in intents or ()))


@dataclass(slots=True)
class OrderStory:
    """One order of a decision: the intent and what the exchange (or risk) did with it."""

    seq: int
    intent: dict[str, Any]
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def client_order_id(self) -> str:
        """The order's client id."""
        return str(self.intent["client_order_id"])


@dataclass(slots=True)
class Explanation:
    """A decision with its wake's inputs and its orders' outcomes."""

    decision: Entry
    payload: dict[str, Any]
    wake: Entry | None
    observations: list[tuple[Entry, dict[str, Any]]]
    halts: list[dict[str, Any]]
    orders: list[OrderStory]
    other: list[Entry]


def explain(journal: Journal, actor: str, seq: int) -> Explanation:
    """Everything that drove decision ``seq`` and what came of it.

    Raises KeyError when ``seq`` is not a decision of the actor.
    """
    found = list(journal.read(actor, EntryFilter(first_seq=seq, last_seq=seq)))
    if not found or found[0].kind != DECISION:
        raise KeyError(f"{actor}: entry {seq} is not a decision")
    decision = found[0]
    wake = next(iter(journal.read(actor, EntryFilter(kinds=(WAKE,), last_seq=seq,
                                                     descending=True, limit=1))), None)
    after = next(iter(journal.read(actor, EntryFilter(kinds=(WAKE,), first_seq=seq,
                                                      limit=1))), None)
    first = wake.seq if wake else 1
    last = after.seq - 1 if after else None
    observations: list[tuple[Entry, dict[str, Any]]] = []
    halts: list[dict[str, Any]] = []
    orders: dict[str, OrderStory] = {}
    other: list[Entry] = []
    for entry in journal.read(actor, EntryFilter(first_seq=first, last_seq=last)):
        if entry.kind == OBSERVATION and entry.seq < seq:
            observations.append((entry, loads(entry.payload)))
        elif entry.kind == HALT and entry.seq < seq:
            halts.append(loads(entry.payload))
        elif entry.kind == ORDER_INTENT and loads(entry.payload).get("decision") == seq:
            story = OrderStory(seq=entry.seq, intent=loads(entry.payload))
            orders[story.client_order_id] = story
        elif entry.kind in EVENT_KINDS:
            _attach(orders, entry)
        elif entry.seq not in (seq, first):
            other.append(entry)
    if after is not None:  # events reported later (live orders, reconciliation)
        for coid, story in orders.items():
            if not _settled(story):
                for entry in journal.read(actor, EntryFilter(first_seq=after.seq,
                                                             kinds=EVENT_KINDS,
                                                             contains=coid, limit=50)):
                    _attach(orders, entry)
    return Explanation(decision=decision, payload=loads(decision.payload), wake=wake,
                       observations=observations, halts=halts,
                       orders=list(orders.values()), other=other)


def _attach(orders: dict[str, OrderStory], entry: Entry) -> None:
    payload = loads(entry.payload)
    story = orders.get(payload.get("client_order_id", ""))
    if story is not None:
        story.events.append((entry.seq, entry.kind, payload))


def _settled(story: OrderStory) -> bool:
    for _, kind, payload in story.events:
        if kind == ORDER_REJECTED and not payload.get("ambiguous"):
            return True
        if kind == ORDER_ACK and payload.get("status") in ("filled", "closed", "canceled"):
            return True
    return False


def blob_digests(data: Any) -> list[str]:
    """Every stored-body digest an observation's data names, in order of appearance."""
    found: list[str] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                walk(inner, name)
        elif isinstance(value, list):
            for inner in value:
                walk(inner, key)
        elif isinstance(value, str) and key in ("blob", "blobs", "body", "body_blob") \
                and len(value) == 64 and value not in found:
            found.append(value)

    walk(data)
    return found
