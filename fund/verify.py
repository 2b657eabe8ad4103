"""Verify a journal: its hash chain, and a replay of every decision through a fresh actor.

For each stream: every entry must carry the next sequence number, link to its
predecessor's hash and hash to its own content. The actor is rebuilt from the Start entry
and fed the recorded inputs; each Decision and OrderIntent it produces must equal the
recorded one byte for byte. Where the adapter is replayable (paper), its acks, fills and
rejections are re-derived and compared too. Observations must not be from the future,
blobs must match their hashes, and an End entry must agree with the books.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

from agentfund.oracles.base import Recorded
from fund.accounting.spec import REDEMPTION, SUBSCRIPTION, VALUATION
from fund.actor import ActorCore, ActorSpec
from fund.canonical import dumps, format_ts, loads, parse_ts
from fund.exchange.base import Event, PlacedOrder
from fund.exchange.paper import PaperAdapter
from fund.journal import GENESIS_HASH, BlobMissingError, Entry, Journal
from fund.journal.base import blob_digest
from fund.messages import (
    DECISION,
    END,
    FILL,
    HALT,
    OBSERVATION,
    ORDER_ACK,
    ORDER_INTENT,
    ORDER_REJECTED,
    START,
    WAKE,
    OrderIntent,
)
from fund.money import standard
from fund.strategy import OracleSpec


class _NoBlobs:
    """A blob sink for re-scoring: scorers store nothing."""

    def put_blob(self, data: bytes) -> str:
        raise RuntimeError("a derived oracle tried to store a blob during verification")


_NO_BLOBS = _NoBlobs()
COMMANDS_SUFFIX = ".commands"


class Divergence(Exception):
    """The journal does not verify at a sequence number."""

    def __init__(self, seq: int, message: str) -> None:
        super().__init__(f"entry {seq}: {message}")
        self.seq = seq


@dataclass(frozen=True, slots=True)
class StreamReport:
    """The outcome of verifying one stream."""

    process_id: str
    entries: int
    head: str
    error: str | None = None
    seq: int | None = None

    @property
    def ok(self) -> bool:
        """Tell whether the stream verified."""
        return self.error is None


_Check = Callable[["_Replay", ActorCore, Entry, Mapping[str, Any]], None]


class _Replay:
    """State of one stream's replay between entries."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.core: ActorCore | None = None
        self.adapter: PaperAdapter | None = None
        self.intents: deque[str] = deque()
        self.orders: deque[tuple[int, PlacedOrder]] = deque()
        self.events: deque[Event] = deque()
        self.assessed = False
        self.derived: dict[str, Mapping[str, Any]] = {}
        self.scorers: dict[str, Any] = {}

    def start(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        if entry.seq != 1:
            raise Divergence(entry.seq, "a second Start entry")
        spec = ActorSpec.from_start(payload)
        if spec.actor_id != entry.process_id:
            raise Divergence(entry.seq, f"Start names actor {spec.actor_id!r}, stream is "
                                        f"{entry.process_id!r}")
        self.core = ActorCore(spec)
        self.derived = {o["name"]: o for o in payload.get("oracles", ())
                        if o["kind"] == "sentiment"}
        if spec.mode in ("backtest", "paper"):
            self.adapter = PaperAdapter(fee_rate=spec.terms.fee_rate,
                                        slippage_bps=spec.terms.slippage_bps)

    def step(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        core = self.core
        if core is None:
            raise Divergence(entry.seq, "the stream does not begin with a Start entry")
        kind = entry.kind
        if kind in (WAKE, DECISION, END) and (self.intents or self.orders or self.events):
            raise Divergence(entry.seq, f"{kind} where the replay expects "
                                        f"{self._expected()}")
        if kind == WAKE:
            self.assessed = False
        elif kind in (HALT, DECISION) and not self.assessed:
            self._assess(core, entry)
        check = self._checks.get(kind)
        if check is not None:
            check(self, core, entry, payload)
        core.apply(entry.seq, kind, payload)

    def _intent(self, core: ActorCore, entry: Entry, payload: Mapping[str, Any]) -> None:
        if not self.intents:
            raise Divergence(entry.seq, "an OrderIntent the decision did not produce")
        expected = self.intents.popleft()
        if entry.payload != expected:
            raise Divergence(entry.seq, f"intent differs from replay: recorded "
                                        f"{entry.payload}, replay {expected}")

    def _observed(self, core: ActorCore, entry: Entry, payload: Mapping[str, Any]) -> None:
        self._observation(entry, payload)
        if payload["oracle"] in self.derived:
            self._rescore(core, entry, payload)

    def _assess(self, core: ActorCore, entry: Entry) -> None:
        """At the first entry after a wake's observations: was a Halt due here?"""
        self.assessed = True
        halt = core.assess_risk()
        if entry.kind == HALT and halt is None:
            raise Divergence(entry.seq, "a Halt no risk limit calls for")
        if entry.kind == HALT and dumps(halt) != entry.payload:
            raise Divergence(entry.seq, f"Halt differs from replay: recorded {entry.payload}, "
                                        f"replay {dumps(halt)}")
        if entry.kind == DECISION and halt is not None:
            raise Divergence(entry.seq, f"the drawdown limit called for a Halt before this "
                                        f"decision ({dumps(halt)})")

    def _decision(self, core: ActorCore, entry: Entry, payload: Mapping[str, Any]) -> None:
        decision, text = core.decide()
        if text != entry.payload:
            raise Divergence(entry.seq, f"decision differs from replay: recorded "
                                        f"{entry.payload}, replay {text}")
        for offset, intent in enumerate(decision.intents, 1):
            coid = core.spec.client_order_id(entry.seq + offset)
            self.intents.append(_intent_text(intent, coid, entry.seq))
            if self.adapter is not None:  # a live venue's events are inputs, not re-derived
                self.orders.append((offset - 1, PlacedOrder(
                    client_order_id=coid, intent=intent,
                    market=core.spec.markets[intent.symbol])))

    def _event(self, core: ActorCore, entry: Entry, payload: Mapping[str, Any]) -> None:
        if self.adapter is None:
            return  # a live venue's events are inputs: folded, not re-derived
        if self.intents:
            raise Divergence(entry.seq, f"{entry.kind} before all intents were recorded")
        if not self.events and self.orders and self.adapter is not None:
            index, order = self.orders.popleft()
            rejection = core.risk_rejection(order.intent, index, order.client_order_id)
            self.events.extend([(ORDER_REJECTED, rejection)] if rejection is not None
                               else self.adapter.submit(order, core.ledger.view()))
        if not self.events:
            raise Divergence(entry.seq, f"an {entry.kind} no order explains")
        kind, event = self.events.popleft()
        text = dumps(event)
        if kind != entry.kind or text != entry.payload:
            raise Divergence(entry.seq, f"exchange event differs from replay: recorded "
                                        f"{entry.kind} {entry.payload}, replay {kind} {text}")

    def _observation(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        data = payload.get("data") or {}
        # nothing may be dated after the moment it arrived: in a backtest the wake; live,
        # when the answer came (``received``); the exchange's own stamps are on its clock,
        # so they are judged with its measured offset
        as_of = max(entry.ts, payload.get("as_of", ""), payload.get("received", ""))
        venue_as_of = _on_venue_clock(as_of, data.get("clock"))
        for symbol, quote in (data.get("prices") or {}).items():
            if quote.get("time", "") > venue_as_of:
                raise Divergence(entry.seq, f"look-ahead: {symbol} price from {quote['time']} "
                                            f"observed at {as_of}")
        items = data.get("items")
        for item in items if isinstance(items, list) else ():
            if (item.get("published") or "") > as_of:
                raise Divergence(entry.seq, f"look-ahead: item {item.get('id')} published "
                                            f"{item['published']}, observed at {as_of}")
        for what, moment in _market_times(data):
            if moment > venue_as_of:
                raise Divergence(entry.seq, f"look-ahead: {what} {moment} observed at {as_of}")
        for digest in data.get("blobs", ()):
            try:
                body = self.journal.get_blob(digest)
            except BlobMissingError:
                raise Divergence(entry.seq, f"blob {digest} is missing") from None
            if blob_digest(body) != digest:
                raise Divergence(entry.seq, f"blob {digest} was altered")

    def _rescore(self, core: ActorCore, entry: Entry, payload: Mapping[str, Any]) -> None:
        """Score the recorded news again with the installed scorer; it must agree."""
        from agentfund.oracles.scorers import sentiment_oracle

        name = payload["oracle"]
        if name not in self.scorers:
            spec = self.derived[name]
            self.scorers[name] = sentiment_oracle(OracleSpec(name=name, kind=spec["kind"],
                                                             options=spec["options"]))
        oracle = self.scorers[name]
        if not oracle.scorer.deterministic:
            return  # a model whose outputs vary: its recorded scores are the input
        recorded = Recorded(this_wake=core.observations, last=core.last_observations)
        expected: dict[str, Any] = {"oracle": name, "as_of": payload["as_of"]}
        try:
            expected["data"] = oracle.observe(parse_ts(payload["as_of"]), _NO_BLOBS, recorded)
        except Exception as exc:  # noqa: BLE001 - the runtime records failures the same way
            expected["error"] = f"{type(exc).__name__}: {exc}"
        if "received" in payload:  # when the scores were ready: an input, not re-derived
            expected["received"] = payload["received"]
        if dumps(expected) == entry.payload:
            return
        was = (payload.get("data") or {}).get("scorer")
        now = oracle.scorer.identity.to_payload()
        if was is not None and was != now:
            raise Divergence(entry.seq, f"scored by {dumps(was)}, but the installed scorer is "
                                        f"{dumps(now)}: the replay would differ")
        raise Divergence(entry.seq, "sentiment differs from scoring the recorded news again")

    def _end(self, core: ActorCore, entry: Entry, payload: Mapping[str, Any]) -> None:
        ledger = core.ledger
        books = dumps({"nav": ledger.nav(), "cash": ledger.cash, "fees": ledger.fees_paid,
                       "fills": ledger.fills,
                       "positions": {s: p.amount for s, p in ledger.positions.items()
                                     if p.amount}})
        if books != entry.payload:
            raise Divergence(entry.seq, f"End differs from the books: recorded {entry.payload}, "
                                        f"replay {books}")

    def _expected(self) -> str:
        if self.intents:
            return f"{len(self.intents)} more OrderIntent(s)"
        return "the exchange's events for the orders just placed"

    def _valued(self, core: ActorCore, entry: Entry, payload: Mapping[str, Any]) -> None:
        if core.register is None:
            raise Divergence(entry.seq, "a Valuation in a fund that keeps no investor accounts")
        replayed = dumps(core.valuation(parse_ts(payload["at"])))
        if replayed != entry.payload:
            raise Divergence(entry.seq, f"valuation differs from replay: recorded "
                                        f"{entry.payload}, replay {replayed}")

    def _requested(self, core: ActorCore, entry: Entry, payload: Mapping[str, Any]) -> None:
        if core.register is None:
            raise Divergence(entry.seq, f"a {entry.kind} in a fund that keeps no investor "
                                        "accounts")
        for key in ("amount", "units"):
            if key in payload and not Decimal(payload[key]) > 0:
                raise Divergence(entry.seq, f"{entry.kind} of a {key} that is not positive")
        if entry.kind == SUBSCRIPTION and "amount" not in payload:
            raise Divergence(entry.seq, "a Subscription without an amount")

    _checks: ClassVar[dict[str, _Check]] = {
        DECISION: _decision, ORDER_INTENT: _intent, OBSERVATION: _observed, END: _end,
        ORDER_ACK: _event, FILL: _event, ORDER_REJECTED: _event, VALUATION: _valued,
        SUBSCRIPTION: _requested, REDEMPTION: _requested,
    }

    def finish(self, last_seq: int) -> None:
        if self.intents or self.events:
            raise Divergence(last_seq + 1, f"journal ends where the replay expects "
                                           f"{self._expected()}")


def _on_venue_clock(as_of: str, clock: Any) -> str:
    """The latest time the exchange's clock may have read at ``as_of`` on ours: later by
    its measured offset and the measurement's uncertainty (as_of itself without one)."""
    if not isinstance(clock, Mapping) or not as_of:
        return as_of
    try:
        ahead = int(clock.get("offset_ms", 0)) + abs(int(clock.get("uncertainty_ms", 0)))
    except (TypeError, ValueError):
        return as_of
    return format_ts(parse_ts(as_of) + timedelta(milliseconds=ahead)) if ahead > 0 else as_of


def _market_times(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(what, time) of each dated order book and each candle's close in observed data."""
    for symbol, book in (data.get("books") or {}).items():
        if book.get("time"):
            yield f"{symbol} order book from", book["time"]
    for symbol, candles in (data.get("candles") or {}).items():
        for candle in candles:
            yield f"{symbol} candle closing", candle.get("close_time") or candle["time"]


def _intent_text(intent: OrderIntent, coid: str, decision_seq: int) -> str:
    payload = intent.to_payload()
    payload["client_order_id"] = coid
    payload["decision"] = decision_seq
    return dumps(payload)


def _chain(entries: Iterator[Entry]) -> Iterator[Entry]:
    """Yield entries after checking sequence, link and hash."""
    expected_seq, prev_hash = 1, GENESIS_HASH
    for entry in entries:
        if entry.seq != expected_seq:
            raise Divergence(expected_seq, f"missing or out of order (found entry {entry.seq})")
        if entry.prev_hash != prev_hash:
            raise Divergence(entry.seq, "does not link to the previous entry's hash")
        if entry.expected_hash() != entry.hash:
            raise Divergence(entry.seq, "content does not match its hash (altered)")
        yield entry
        expected_seq, prev_hash = expected_seq + 1, entry.hash


@standard
def verify_stream(journal: Journal, process_id: str, head: str | None = None) -> StreamReport:
    """Verify one stream; stop at the first problem and report its sequence number."""
    replay = _Replay(journal)
    last = Entry(process_id=process_id, seq=0, kind="", ts="", payload="", prev_hash="",
                 hash=GENESIS_HASH)
    commands_only = process_id.endswith(COMMANDS_SUFFIX)  # an operator's inbox: chain only
    try:
        for entry in _chain(journal.read(process_id)):
            if commands_only:
                last = entry
                continue
            try:
                payload = loads(entry.payload)
            except ValueError:
                raise Divergence(entry.seq, "payload is not valid JSON") from None
            if entry.kind == START:
                replay.start(entry, payload)
            replay.step(entry, payload)
            last = entry
        replay.finish(last.seq)
        if head is not None and last.hash != head:
            raise Divergence(last.seq, f"head {last.hash[:16]}… is not the expected {head[:16]}… "
                                       "(entries removed or replaced at the end)")
    except Divergence as exc:
        return StreamReport(process_id, last.seq, last.hash, str(exc), exc.seq)
    except Exception as exc:  # noqa: BLE001 - any replay failure is a verification failure
        seq = last.seq + 1
        return StreamReport(process_id, last.seq, last.hash,
                            f"entry {seq}: replay failed: {type(exc).__name__}: {exc}", seq)
    return StreamReport(process_id, last.seq, last.hash)
