"""Decisions, one page at a time, and everything that drove one of them.

Every query here is bounded: a page of decisions is one indexed, limited query (newest
first, continuing below a sequence number), and explaining a decision reads only its own
wake (from the Wake before it to the Wake after it) plus the later exchange events that
name its orders. Nothing loads a whole stream.
"""

from __future__ import annotations

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
    """One decision as the table lists it."""

    seq: int
    ts: str
    rule: str
    intents: int
    reasons: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionQuery:
    """Which decisions to list: text in the payload, a rule, a time range, orders or not."""

    text: str = ""
    rule: str = ""
    since: str | None = None
    until: str | None = None
    with_orders: bool = False


def decision_page(journal: Journal, actor: str, query: DecisionQuery, *,
                  below: int | None = None, size: int = 50,
                  scan_limit: int = 20_000) -> tuple[list[DecisionRow], int | None]:
    """Up to ``size`` matching decisions, newest first, with seq below ``below``.

    Returns the rows and the ``below`` to pass for the next page (None at the end).
    Filters the database can apply (text, time) are applied there; the rest (rule,
    orders) on at most ``scan_limit`` decisions per call, so a page never reads the stream.
    """
    needle = query.text.strip() or None
    if query.rule:
        needle = needle or f'"rule":"{query.rule}"'
    rows: list[DecisionRow] = []
    cursor = below
    scanned = 0
    while len(rows) < size and scanned < scan_limit:
        where = EntryFilter(kinds=(DECISION,), descending=True, limit=size * 4,
                            last_seq=None if cursor is None else cursor - 1,
                            since=query.since, until=query.until, contains=needle)
        batch = list(journal.read(actor, where))
        if not batch:
            return rows, None
        scanned += len(batch)
        for entry in batch:
            cursor = entry.seq
            row = _row(entry)
            if (query.rule and row.rule != query.rule) or (query.with_orders and not row.intents):
                continue
            rows.append(row)
            if len(rows) == size:
                break
        if len(batch) < size * 4 and len(rows) < size:
            return rows, None
    return rows, cursor


def _row(entry: Entry) -> DecisionRow:
    payload = loads(entry.payload)
    intents = payload.get("intents", 0)
    return DecisionRow(seq=entry.seq, ts=entry.ts, rule=str(payload.get("rule", "")),
                       intents=intents if isinstance(intents, int) else len(intents),
                       reasons=payload.get("reasons") or {})


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
