"""What one actor's backtest produced beyond its journal: the curves for metrics, charts and
the report (NAV after each wake, allocation, an equal-weight buy-and-hold) and its totals."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from agentfund.backtests.data import Candles
from fund.actor import ActorSpec
from fund.canonical import loads, parse_ts
from fund.journal import Entry
from fund.messages import DEPOSIT, FILL, VALUATION
from fund.monitor.snapshot import ActorSnapshot
from fund.performance import Flow, buy_and_hold, cash_share, flows_of, unit_value
from fund.runtime import ActorRuntime

Progress = Callable[[str, float, int], None]
"""Called as (actor id, fraction of the period's time done, wakes so far)."""


@dataclass(slots=True, kw_only=True)
class ActorRun:
    """What one actor's backtest produced, beyond its journal."""

    actor_id: str
    quote: str
    initial_cash: Decimal
    # the curves are compact arrays (8 bytes a point, not a float object and its pointer):
    # a run's memory grows with its wakes only by what they must keep
    times: array[int] = field(default_factory=lambda: array("q"))  # epoch seconds
    nav: array[float] = field(default_factory=lambda: array("d"))  # the unit value
    money: array[float] = field(default_factory=lambda: array("d"))  # the NAV: total assets
    cash: array[float] = field(default_factory=lambda: array("d"))
    allocation: dict[str, array[float]] = field(default_factory=dict)
    benchmark: array[float] = field(default_factory=lambda: array("d"))
    flows: list[Flow] = field(default_factory=list)
    final_nav: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    fills: int = 0
    open_orders: int = 0  # resting orders still working at the end (listed in End)
    traded_notional: Decimal = Decimal(0)
    wakes: int = 0
    entries: int = 0
    head_hash: str = ""
    fill_rows: list[tuple[int, str, str, str, str]] = field(default_factory=list)
    # the monitor's fold of the stream as it was stored (fund.monitor.keeper): the report's
    # trades and sentiment read it, and it is the journal's projection checkpoint
    snapshot: ActorSnapshot | None = None


class Recorder:
    """Samples the books after every wake (and the holdings whenever a fill changed them)."""

    def __init__(self, run: ActorRun, runtime: ActorRuntime, span: tuple[float, float],
                 progress: Progress | None) -> None:
        self.run, self.ledger = run, runtime.core.ledger
        self.working = runtime.core.working
        self.unitized = unitized(runtime, run.initial_cash)
        self.plain = runtime.core.register is None  # the NAV curve is the NAV itself
        self.holdings: list[tuple[int, dict[str, float]]] = []
        self._fills_seen = -1
        self._start, self._span = span
        self._progress = progress

    def wake(self, moment: datetime) -> None:
        """The books as they stand after the wake at ``moment``."""
        run, ledger = self.run, self.ledger
        run.times.append(int(moment.timestamp()))
        money = float(ledger.nav())
        run.nav.append(money if self.plain else self.unitized())
        run.money.append(money)
        run.cash.append(float(ledger.cash))
        if ledger.fills != self._fills_seen:
            self._fills_seen = ledger.fills
            self.holdings.append((run.wakes, {s: float(p.amount)
                                              for s, p in ledger.positions.items()}))
        run.wakes += 1
        if self._progress and run.wakes % 256 == 0:
            self._progress(run.actor_id, (run.times[-1] - self._start) / self._span, run.wakes)

    def finish(self, end: Entry, moment: datetime, candles: Mapping[str, Candles],
               spec: ActorSpec, first: datetime) -> None:
        """Add the last point (the period's end), the curves and the totals to the run (its
        fills and flows were booked as the stream was stored: :func:`book_stored`)."""
        run, ledger = self.run, self.ledger
        if self._progress:
            self._progress(run.actor_id, 1.0, run.wakes)
        seconds = int(moment.timestamp())
        if run.times[-1] != seconds:
            run.times.append(seconds)
            run.nav.append(0.0)
            run.money.append(0.0)
            run.cash.append(0.0)
        run.nav[-1] = self.unitized()
        run.money[-1] = float(ledger.nav())
        run.cash[-1] = float(ledger.cash)
        run.allocation = _allocation(run, self.holdings, candles, spec)
        run.final_nav, run.fees, run.fills = ledger.nav(), ledger.fees_paid, ledger.fills
        run.traded_notional = ledger.traded_notional
        run.open_orders = len(self.working.working)
        run.entries, run.head_hash = end.seq, end.hash
        run.benchmark = _buy_and_hold(run, candles, spec, first)


BOOKED = frozenset({FILL, DEPOSIT, VALUATION})
"""The kinds whose entries go into a run's tables of fills and flows."""


def book_stored(run: ActorRun, entries: Sequence[Entry]) -> None:
    """Add the fills and the money in or out among a batch of the run's stream, as it is
    stored, to its tables (``fill_rows``, ``flows``): the journal is not read again."""
    for entry in entries:
        if entry.kind in BOOKED:
            payload = loads(entry.payload)
            if entry.kind == FILL:
                run.fill_rows.append((int(parse_ts(entry.ts).timestamp()), payload["symbol"],
                                      payload["side"], payload["amount"], payload["price"]))
            else:
                run.flows.extend(flows_of(entry.kind, entry.ts, payload))


def unitized(runtime: ActorRuntime, initial_cash: Decimal) -> Callable[[], float]:
    """The unit-value curve the figures use (fund.performance): the NAV itself (a backtest
    deposits only at its start); with investor accounts, NAV per share scaled to the
    initial capital, so money coming in or out is not return."""
    ledger, register = runtime.core.ledger, runtime.core.register
    if register is None:
        return lambda: float(ledger.nav())
    scale = initial_cash / register.terms.initial_price

    def per_share() -> float:
        return unit_value(ledger.nav(), units=register.units, fees_owed=register.fees_owed,
                          last_price=register.price or register.terms.initial_price,
                          scale=scale)

    return per_share


def _closes_at(series: Candles, times: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Close of the last candle completed at each time (the first close before any)."""
    index = np.searchsorted(series.close_times, times, side="right") - 1
    return np.asarray(series.closes)[np.maximum(index, 0)]


def _allocation(run: ActorRun, holdings: list[tuple[int, dict[str, float]]],
                candles: Mapping[str, Candles], spec: ActorSpec) -> dict[str, array[float]]:
    """Fraction of NAV in each market at each point (holdings change only at fills)."""
    times = np.asarray(run.times, dtype=np.int64)
    nav = np.asarray(run.money)
    result: dict[str, array[float]] = {}
    for symbol in spec.markets:
        amounts = np.zeros(len(times))
        for index, held in holdings:
            amounts[index:] = held.get(symbol, 0.0)
        value = amounts * _closes_at(candles[symbol], times)
        result[symbol] = _floats(np.divide(value, nav, out=np.zeros_like(nav), where=nav > 0))
    return result


def _floats(values: npt.NDArray[np.float64]) -> array[float]:
    """A numpy array of floats as a compact array('d')."""
    out = array("d")
    out.frombytes(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return out


def _buy_and_hold(run: ActorRun, candles: Mapping[str, Candles], spec: ActorSpec,
                  first: datetime) -> array[float]:
    """The benchmark (fund.performance.buy_and_hold) from the first wake, keeping the
    fund's own cash share; empty when a market's data starts after the first wake."""
    times = np.asarray(run.times, dtype=np.int64)
    start = int(first.timestamp())
    if not spec.markets or any(candles[s].close_times[0] > start for s in spec.markets):
        return array("d")
    prices = np.vstack([_closes_at(candles[symbol], times) for symbol in spec.markets])
    curve = buy_and_hold(prices, float(run.initial_cash), cash_share(run.cash, run.money))
    return _floats(curve)
