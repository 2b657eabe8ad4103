"""An actor's state as the monitor shows it, folded from its journal stream incrementally.

One pass over the stream checks the hash chain (every entry's hash and link) and folds
the books with the real :class:`~fund.ledger.Ledger`, so the NAV shown is the journal's to
the last digit. The fold can be resumed from where it stopped: :func:`advance` reads only
the entries after ``snapshot.seq``, in pages, so a running daemon's new entries cost only
their own reading. A broken link or an unreadable entry stops the fold there and is
reported; nothing after it is trusted.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy

from fund.canonical import loads, parse_ts
from fund.journal import GENESIS_HASH, Entry, EntryFilter, Journal
from fund.ledger import Ledger
from fund.markets import Market
from fund.messages import (
    DECISION,
    DEPOSIT,
    END,
    FILL,
    MISSED_WAKE,
    OBSERVATION,
    START,
    VALUATION,
    WAKE,
)
from fund.money import standard
from fund.performance import Metrics, Units, compute_metrics
from fund.projections import Controls, Orders, OrderState

SNAPSHOT_VERSION = 4  # 2: controls and orders are the shared projections; 3: unit value;
# 4: sentiment keeps score sums, sentences and news items
_PAGE = 20_000


@dataclass(slots=True)
class Series:
    """Values sampled at the end of every wake (floats: for charts, not for the books)."""

    times: array[float] = field(default_factory=lambda: array("d"))
    nav: array[float] = field(default_factory=lambda: array("d"))  # total assets
    cash: array[float] = field(default_factory=lambda: array("d"))
    # per symbol: position value, price (a dict, or as read from a checkpoint a
    # projection_store.FloatColumns, inflated when first read)
    values: MutableMapping[str, array[float]] = field(default_factory=dict)
    prices: MutableMapping[str, array[float]] = field(default_factory=dict)
    unit: array[float] = field(default_factory=lambda: array("d"))  # fund.performance's curve

    def add(self, at: float, ledger: Ledger, symbols: tuple[str, ...], units: Units) -> None:
        """Append the books as they stand at ``at`` (epoch seconds)."""
        cash = float(ledger.cash)
        self.times.append(at)
        self.unit.append(units.value(ledger.nav()))
        self.cash.append(cash)
        total = cash
        prices, positions, values, marks = ledger.prices, ledger.positions, self.values, \
            self.prices
        nan = math.nan
        for symbol in symbols:  # called once a wake: no setdefault (it builds an array a call)
            price = prices.get(symbol)
            held = positions.get(symbol)
            if held is not None and price:
                amount = held.amount
                value = float(amount * price) if amount else 0.0
                mark = float(price)
            else:
                value, mark = 0.0, nan if price is None else float(price)
            total += value
            try:
                values[symbol].append(value)
                marks[symbol].append(mark)
            except KeyError:  # the symbol's first point
                values.setdefault(symbol, array("d")).append(value)
                marks.setdefault(symbol, array("d")).append(mark)
        self.nav.append(total)


@dataclass(slots=True)
class Sentiment:
    """Per-keyword mentions and scores, and the news items read, one row per sentiment
    observation."""

    times: array[float] = field(default_factory=lambda: array("d"))
    mentions: MutableMapping[str, array[float]] = field(default_factory=dict)  # as Series'
    mean: MutableMapping[str, array[float]] = field(default_factory=dict)
    scores: MutableMapping[str, array[float]] = field(default_factory=dict)  # the scores' sum
    sentences: MutableMapping[str, array[float]] = field(default_factory=dict)
    items: array[float] = field(default_factory=lambda: array("d"))  # NaN: not recorded

    def add(self, at: float, keywords: Mapping[str, Any], items: Any = None) -> None:
        """Append one observation's per-keyword figures and its count of news items."""
        self.times.append(at)
        self.items.append(float(items) if isinstance(items, int | float) else math.nan)
        for name in sorted(keywords):
            figures = keywords[name]
            mentions = float(figures.get("mentions", 0))
            mean = float(figures.get("mean", 0.0))
            sentences = float(figures.get("sentences", mentions))
            if name not in self.mentions:  # no setdefault: it builds an array a call
                for column in (self.mentions, self.mean, self.sentences, self.scores):
                    column.setdefault(name, array("d"))
            self.mentions[name].append(mentions)
            self.mean[name].append(mean)
            self.sentences[name].append(sentences)
            self.scores[name].append(float(figures.get("score_sum", mean * sentences)))


@dataclass(slots=True)
class ActorSnapshot:
    """Everything the overview and charts show about one actor, up to entry ``seq``."""

    actor: str
    version: int = SNAPSHOT_VERSION
    seq: int = 0
    head_hash: str = GENESIS_HASH
    head_ts: str = ""
    chain_error: str | None = None
    strategy: str = ""
    cron: str = ""
    mode: str = ""
    quote: str = ""
    symbols: tuple[str, ...] = ()
    markets: dict[str, Market] = field(default_factory=dict)  # their steps, for display
    started: str = ""
    ledger: Ledger | None = None
    series: Series = field(default_factory=Series)
    sentiment: Sentiment = field(default_factory=Sentiment)
    fills: list[tuple[int, float, str, str, float, float]] = field(default_factory=list)
    orders: Orders = field(default_factory=Orders)
    kinds: dict[str, int] = field(default_factory=dict)
    last_wake: str | None = None
    pending_wake: float | None = None  # the wake whose end-of-wake point is not yet added
    decided: bool = False  # the pending wake has its Decision: a new observation ends it
    wakes: int = 0
    missed: int = 0
    decisions: int = 0
    rules: dict[str, int] = field(default_factory=dict)
    controls: Controls = field(default_factory=Controls)
    units: Units = field(default_factory=Units)  # units, fees owed and flows
    end: dict[str, Any] | None = None

    @property
    def trusted(self) -> bool:
        """Whether every entry folded so far is on an intact hash chain."""
        return self.chain_error is None

    def nav(self) -> Decimal:
        """The NAV at the last observed prices (exact, as the ledger keeps it)."""
        return self.ledger.nav() if self.ledger else Decimal(0)

    def _pending(self) -> Series | None:
        """The current (last, unfinished) wake's point as a one-point series, if any."""
        if self.pending_wake is None or self.ledger is None:
            return None
        current = Series()
        current.add(self.pending_wake, self.ledger, self.symbols, self.units)
        return current

    def points(self) -> Series:
        """The end-of-wake series, with the current (last, possibly unfinished) wake."""
        current = self._pending()
        if current is None:
            return self.series
        return Series(times=self.series.times + current.times,
                      nav=self.series.nav + current.nav,
                      cash=self.series.cash + current.cash,
                      unit=self.series.unit + current.unit,
                      values={s: self.series.values.get(s, array("d")) + v
                              for s, v in current.values.items()},
                      prices={s: self.series.prices.get(s, array("d")) + v
                              for s, v in current.prices.items()})

    def open_orders(self) -> list[tuple[str, OrderState]]:
        """Orders whose fate the journal does not know yet, oldest first."""
        return self.orders.open()

    def figures(self) -> Metrics | None:
        """Return, drawdown, volatility, Sharpe of the end-of-wake unit value, from the first
        capital (fund.performance: what the summary and the report compute), or None
        before the first wake with money in the fund."""
        start = self.units.start
        if start is None:
            return None
        # the unit value and times only, with the current wake's point: not points(), which
        # copies every series (a running daemon's stream always has a wake pending)
        current = self._pending()
        unit = _copy(self.series.unit, current.unit if current else None)
        if not numpy.isfinite(unit).any():
            return None
        times = _copy(self.series.times, current.times if current else None)
        return compute_metrics(times, unit, start)


def _copy(values: array[float], more: array[float] | None) -> numpy.ndarray[Any, Any]:
    """``values`` (and ``more`` after them) as a new float array: copies (tobytes), not
    views, since a view would stop another thread appending to the shared series ("cannot
    resize an array that is exporting buffers")."""
    copied = numpy.frombuffer(values.tobytes(), dtype=numpy.float64)
    if not more:
        return copied
    return numpy.concatenate((copied, numpy.frombuffer(more.tobytes(), dtype=numpy.float64)))


def _epoch(ts: str) -> float:
    return parse_ts(ts).timestamp()


Fold = Callable[[int, str, str, dict[str, Any]], None]
"""Another projection's ``apply(seq, kind, ts, payload)`` (fund.projections)."""


@standard
def advance(journal: Journal, snapshot: ActorSnapshot, *, limit: int | None = None,
            also: Fold | None = None) -> int:
    """Fold the actor's entries after ``snapshot.seq`` into it; return how many were read.

    Stops at the first entry off the hash chain (recorded in ``chain_error``). With
    ``limit``, reads at most that many entries (the caller can show progress). ``also``
    folds each entry the snapshot took into another projection too (the payload decoded
    once for both); an entry off the chain, or one the snapshot cannot read, is not
    handed to it.
    """
    read = 0
    while snapshot.chain_error is None and (limit is None or read < limit):
        page = _PAGE if limit is None else min(_PAGE, limit - read)
        where = EntryFilter(first_seq=snapshot.seq + 1, limit=page)
        count = fold_entries(snapshot, journal.read(snapshot.actor, where), also=also)
        read += count
        if count < page:
            break
    return read


@standard
def fold_entries(snapshot: ActorSnapshot, entries: Iterable[Entry], *, also: Fold | None = None,
                 rehash: bool = True) -> int:
    """Fold ``entries`` (the actor's next ones, in order) into the snapshot; return how many
    were taken. The one fold step of :func:`advance`, also used on the entries a writer has
    just stored (``rehash=False``: their hashes were computed from these very fields by the
    writer; the links and sequence numbers are still checked). Stops at the first entry off
    the chain or that cannot be read, recorded in ``chain_error``."""
    count = 0
    for entry in entries:
        if snapshot.chain_error is not None:
            break
        count += 1
        if entry.seq != snapshot.seq + 1 or entry.prev_hash != snapshot.head_hash \
                or (rehash and entry.hash != entry.expected_hash()):
            snapshot.chain_error = (f"{snapshot.actor}: entry {entry.seq} does not follow "
                                    f"entry {snapshot.seq} on the hash chain (the journal "
                                    "was altered after it was written)")
            break
        try:
            payload = loads(entry.payload)
            _fold(snapshot, entry.seq, entry.kind, entry.ts, payload)
        except Exception as exc:  # noqa: BLE001 - any bad payload is reported, not raised
            snapshot.chain_error = (f"{snapshot.actor}: entry {entry.seq} ({entry.kind}) "
                                    f"cannot be read: {type(exc).__name__}: {exc}")
            break
        snapshot.seq, snapshot.head_hash, snapshot.head_ts = entry.seq, entry.hash, entry.ts
        if also is not None:
            also(entry.seq, entry.kind, entry.ts, payload)
    return count


def _fold(s: ActorSnapshot, seq: int, kind: str, ts: str, payload: dict[str, Any]) -> None:
    s.kinds[kind] = s.kinds.get(kind, 0) + 1
    if kind == START:
        s.strategy, s.cron, s.mode = payload["strategy"], payload["cron"], payload["mode"]
        s.quote = payload["quote"]
        s.symbols = tuple(m["symbol"] for m in payload["markets"])
        s.markets = {m["symbol"]: Market.parse(m["symbol"], {
            k: v for k, v in m.items() if k != "symbol" and v is not None})
            for m in payload["markets"]}
        s.started = ts
        s.ledger = Ledger(quote=s.quote)
        s.units.apply(kind, ts, payload, Decimal(0))
        return
    if s.ledger is None:
        raise ValueError("the stream does not begin with a Start entry")
    if kind in (VALUATION, DEPOSIT) or (kind == OBSERVATION and s.decided):
        _close_wake(s)  # a valuation point's prices, or money in or out: the wake is over
    if kind in (VALUATION, DEPOSIT):
        s.units.apply(kind, ts, payload, s.ledger.nav())
    step = _STEPS.get(kind)
    if step is not None:
        step(s, seq, ts, payload)
    if kind == FILL:
        s.fills.append((seq, _epoch(ts), payload["symbol"], payload["side"],
                        float(payload["amount"]), float(payload["price"])))
    s.orders.apply(seq, kind, ts, payload)
    s.controls.apply(seq, kind, ts, payload)
    s.ledger.apply(kind, payload)


def _wake(s: ActorSnapshot, seq: int, ts: str, payload: dict[str, Any]) -> None:
    _close_wake(s)
    s.last_wake = payload["scheduled"]
    s.pending_wake = _epoch(payload["scheduled"])
    s.decided = False
    s.wakes += 1


def _close_wake(s: ActorSnapshot) -> None:
    if s.pending_wake is not None and s.ledger is not None:
        s.series.add(s.pending_wake, s.ledger, s.symbols, s.units)
        s.pending_wake = None
    s.decided = False


def _observation(s: ActorSnapshot, seq: int, ts: str, payload: dict[str, Any]) -> None:
    data = payload.get("data") or {}
    keywords = data.get("keywords") if isinstance(data, dict) else None
    if isinstance(keywords, dict):
        s.sentiment.add(_epoch(payload["as_of"]), keywords, data.get("items"))


def _decision(s: ActorSnapshot, seq: int, ts: str, payload: dict[str, Any]) -> None:
    s.decisions += 1
    s.decided = s.pending_wake is not None
    rule = str(payload.get("rule", ""))
    s.rules[rule] = s.rules.get(rule, 0) + 1


def _missed(s: ActorSnapshot, seq: int, ts: str, payload: dict[str, Any]) -> None:
    s.missed += int(payload.get("count", 1))


def _end(s: ActorSnapshot, seq: int, ts: str, payload: dict[str, Any]) -> None:
    _close_wake(s)
    s.end = payload


_STEPS: dict[str, Callable[[ActorSnapshot, int, str, dict[str, Any]], None]] = {
    WAKE: _wake, OBSERVATION: _observation, DECISION: _decision, MISSED_WAKE: _missed,
    END: _end,
}
