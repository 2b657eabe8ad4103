"""The backtest engine: the live runtime, driven by a simulated clock over history.

Each actor runs in its own journal stream. Its wakes are the cron fire times (computed by
the same APScheduler trigger the daemon uses) within the period [start, end]; at each one
the clock is set to the fire time and the runtime does exactly what it does live, with
historical oracles and the paper adapter. After the last wake, final observations dated
at the period end mark the books and record the news published since the last wake (with
its sentiment), so the journal holds every headline of the period; then the End entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from agentfund.backtests.data import Candles, DataError, load_candles
from agentfund.backtests.flows import Dealing
from agentfund.backtests.news import HistoricalNews, load_news
from agentfund.backtests.oracle import HistoricalPrices
from agentfund.oracles.base import Oracle
from agentfund.oracles.scorers import sentiment_oracle
from fund.accounting.config import Flow
from fund.actor import ActorSpec
from fund.canonical import loads, parse_ts
from fund.clock import SimulatedClock
from fund.config import BacktestSettings, FundConfig
from fund.exchange.paper import PaperAdapter
from fund.journal import EntryFilter, Journal, JournalWriter
from fund.messages import FILL
from fund.money import standard
from fund.runtime import ActorRuntime
from fund.schedule import cron_trigger, fire_times_ahead
from fund.strategy import strategy_class

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Progress = Callable[[str, float, int], None]
"""Called as (actor id, fraction of the period's time done, wakes so far)."""


class BacktestError(Exception):
    """The backtest cannot run as configured; the message says why."""


@dataclass(slots=True, kw_only=True)
class ActorRun:
    """What one actor's backtest produced, beyond its journal."""

    actor_id: str
    quote: str
    initial_cash: Decimal
    times: list[int] = field(default_factory=list)
    nav: list[float] = field(default_factory=list)  # per share x initial units with investors
    money: list[float] = field(default_factory=list)  # the NAV itself, for allocation
    allocation: dict[str, list[float]] = field(default_factory=dict)
    benchmark: list[float] = field(default_factory=list)
    final_nav: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    fills: int = 0
    traded_notional: Decimal = Decimal(0)
    wakes: int = 0
    entries: int = 0
    head_hash: str = ""
    fill_rows: list[tuple[int, str, str, str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    """The period a run covers, both bounds inclusive: wakes and news are taken from it."""

    start: datetime
    end: datetime


def load_history(settings: BacktestSettings, specs: tuple[ActorSpec, ...]) -> dict[str, Candles]:
    """Load the candles of every market the actors trade."""
    symbols = dict.fromkeys(s for spec in specs for s in spec.markets)
    try:
        return {s: load_candles(settings.prices, s, settings.timeframe) for s in symbols}
    except DataError as exc:
        raise BacktestError(str(exc)) from None


def actor_period(spec: ActorSpec, candles: Mapping[str, Candles], settings: BacktestSettings,
                 start: datetime | None, end: datetime | None,
                 news: list[tuple[int, dict[str, Any]]] | None = None) -> Period:
    """Clip the requested period to the actor's data (prices, and news if it reads news)."""
    series = [candles[s] for s in spec.markets]
    first = min(c.first_close for c in series)
    last = max(c.last_close for c in series)
    reads_news = any(o.kind == "news" for o in strategy_class(spec.strategy)(spec.params).oracles())
    if news and reads_news:
        first = min(first, _EPOCH + timedelta(microseconds=news[0][0]))
        last = max(last, _EPOCH + timedelta(microseconds=news[-1][0]))
    lo = max(first, start or settings.start or first)
    hi = min(last, end or settings.end or last)
    if hi < lo:
        raise BacktestError(
            f"actors.{spec.actor_id}: empty period: {lo:%Y-%m-%d %H:%M} to {hi:%Y-%m-%d %H:%M} "
            f"(data covers {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC)")
    return Period(start=lo, end=hi)


_LIVE_ONLY = {
    "order_book": "there are no historical order books to backtest on",
    "ohlcv": "backtest history holds candle closes only (read kind 'prices')",
}


def check_sources(spec: ActorSpec) -> None:
    """Refuse, before anything runs, an actor reading an oracle that has no history."""
    for oracle in strategy_class(spec.strategy)(spec.params).oracles():
        reason = _LIVE_ONLY.get(oracle.kind)
        if reason is not None:
            hint = (f"; set actors.{spec.actor_id}.params.book_depth = 0"
                    if oracle.kind == "order_book" and hasattr(spec.params, "book_depth") else "")
            raise BacktestError(f"actors.{spec.actor_id}: oracle {oracle.name!r} (kind "
                                f"{oracle.kind!r}) is live only: {reason}{hint}")


def build_oracles(spec: ActorSpec, candles: Mapping[str, Candles],
                  news: list[tuple[int, dict[str, Any]]] | None, since: datetime,
                  max_age: timedelta | None = None) -> dict[str, Oracle]:
    """Build the historical oracles an actor's strategy declares, in its order."""
    check_sources(spec)
    strategy = strategy_class(spec.strategy)(spec.params)
    oracles: dict[str, Oracle] = {}
    for oracle in strategy.oracles():
        where = f"actors.{spec.actor_id}: oracle {oracle.name!r}"
        if oracle.kind == "prices":
            unknown = set(oracle.options) - {"symbols"}
            if unknown:
                raise BacktestError(f"{where}: unsupported option(s) {', '.join(sorted(unknown))}"
                                    " (history is only ever served up to the wake time)")
            symbols = oracle.options.get("symbols", tuple(spec.markets))
            oracles[oracle.name] = HistoricalPrices(oracle.name, {s: candles[s] for s in symbols},
                                                    max_age)
        elif oracle.kind == "news":
            if news is None:
                raise BacktestError(f"{where}: the strategy reads news; set backtest.news")
            oracles[oracle.name] = HistoricalNews(oracle.name, news, since)
        elif oracle.kind == "sentiment":
            oracles[oracle.name] = sentiment_oracle(oracle)
        else:
            raise BacktestError(f"{where}: no historical source for kind {oracle.kind!r}")
    return oracles


@standard
def run_actor(spec: ActorSpec, journal: Journal, cash: Decimal, candles: Mapping[str, Candles],
              period: Period, progress: Progress | None = None,
              news: list[tuple[int, dict[str, Any]]] | None = None,
              max_age: timedelta | None = None, flows: Sequence[Flow] = ()) -> ActorRun:
    """Backtest one actor into its own stream of the journal."""
    writer = JournalWriter(journal, spec.actor_id)
    if writer.last_seq:
        raise BacktestError(f"{journal.url} already holds a stream for actor "
                            f"{spec.actor_id}; write to a new --journal")
    wakes = fire_times_ahead(cron_trigger(spec.cron), period.start, period.end)
    try:
        first = next(wakes, None)
        if first is None:
            raise BacktestError(
                f"actors.{spec.actor_id}: cron {spec.cron!r} never fires between "
                f"{period.start:%Y-%m-%d %H:%M} and {period.end:%Y-%m-%d %H:%M} UTC")
        clock = SimulatedClock(first)
        adapter = PaperAdapter(fee_rate=spec.terms.fee_rate,
                               slippage_bps=spec.terms.slippage_bps)
        # news is served from period.start on, that moment included (HistoricalNews)
        oracles = build_oracles(spec, candles, news, period.start, max_age)
        runtime = ActorRuntime(spec=spec, writer=writer, oracles=oracles, adapter=adapter,
                               clock=clock)
        runtime.open(cash)
        run = ActorRun(actor_id=spec.actor_id, quote=spec.terms.quote, initial_cash=cash)
        dealing = Dealing(runtime, clock, flows, first, period.end)
        holdings = _drive(runtime, clock, run, chain([first], wakes), period, progress,
                          dealing)
        dealing.until(period.end)
        clock.set_time(max(period.end, clock.now()))
        end = runtime.finish(period.end)  # also records the news after the last wake
    finally:
        wakes.close()  # stops the fire-time worker if the run ended early
        writer.flush()  # whatever was recorded is kept, whole
    ledger = runtime.core.ledger
    moment = int(period.end.timestamp())
    if run.times[-1] != moment:
        run.times.append(moment)
        run.nav.append(0.0)
        run.money.append(0.0)
    run.nav[-1] = _unitized(runtime, cash)()
    run.money[-1] = float(ledger.nav())
    run.allocation = _allocation(run, holdings, candles, spec)
    run.final_nav, run.fees, run.fills = ledger.nav(), ledger.fees_paid, ledger.fills
    run.traded_notional = ledger.traded_notional
    run.entries, run.head_hash = end.seq, end.hash
    run.benchmark = _buy_and_hold(run, candles, spec, first)
    for entry in journal.read(spec.actor_id, EntryFilter(kinds=(FILL,))):
        fill = loads(entry.payload)
        run.fill_rows.append((int(parse_ts(entry.ts).timestamp()), fill["symbol"], fill["side"],
                              fill["amount"], fill["price"]))
    return run


def _drive(runtime: ActorRuntime, clock: SimulatedClock, run: ActorRun,
           wakes: Iterable[datetime], period: Period,
           progress: Progress | None, dealing: Dealing) -> list[tuple[int, dict[str, float]]]:
    """Run every wake on the simulated clock; record NAV after each, holdings after fills."""
    ledger = runtime.core.ledger
    holdings: list[tuple[int, dict[str, float]]] = []
    fills_seen = -1
    span = max((period.end - period.start).total_seconds(), 1.0)
    start = period.start.timestamp()
    unitized = _unitized(runtime, run.initial_cash)
    for done, moment in enumerate(wakes, 1):
        dealing.until(moment)
        clock.set_time(moment)
        runtime.wake(moment)
        run.times.append(int(moment.timestamp()))
        run.nav.append(unitized())
        run.money.append(float(ledger.nav()))
        if ledger.fills != fills_seen:
            fills_seen = ledger.fills
            holdings.append((done - 1, {s: float(p.amount) for s, p in ledger.positions.items()}))
        if progress and done % 256 == 0:
            progress(run.actor_id, (run.times[-1] - start) / span, done)
        run.wakes = done
    if progress:
        progress(run.actor_id, 1.0, run.wakes)
    return holdings


def _unitized(runtime: ActorRuntime, initial_cash: Decimal) -> Callable[[], float]:
    """The NAV curve the metrics use: plain NAV; or, with investor accounts, NAV per share
    scaled to the initial capital, so money coming in or out is not return."""
    ledger, register = runtime.core.ledger, runtime.core.register
    if register is None:
        return lambda: float(ledger.nav())
    scale = initial_cash / register.terms.initial_price

    def per_share() -> float:
        units = register.units
        if not units:
            return float(register.price or register.terms.initial_price) * float(scale)
        return float((ledger.nav() - register.fees_owed) / units * scale)

    return per_share


def _closes_at(series: Candles, times: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Close of the last candle completed at each time (the first close before any)."""
    index = np.searchsorted(series.close_times, times, side="right") - 1
    return np.asarray(series.closes)[np.maximum(index, 0)]


def _allocation(run: ActorRun, holdings: list[tuple[int, dict[str, float]]],
                candles: Mapping[str, Candles], spec: ActorSpec) -> dict[str, list[float]]:
    """Fraction of NAV in each market at each point (holdings change only at fills)."""
    times = np.asarray(run.times, dtype=np.int64)
    nav = np.asarray(run.money)
    result: dict[str, list[float]] = {}
    for symbol in spec.markets:
        amounts = np.zeros(len(times))
        for index, held in holdings:
            amounts[index:] = held.get(symbol, 0.0)
        value = amounts * _closes_at(candles[symbol], times)
        result[symbol] = np.divide(value, nav, out=np.zeros_like(nav), where=nav > 0).tolist()
    return result


def _buy_and_hold(run: ActorRun, candles: Mapping[str, Candles], spec: ActorSpec,
                  first: datetime) -> list[float]:
    """NAV of an equal-weight buy-and-hold of the actor's markets from the first wake."""
    times = np.asarray(run.times, dtype=np.int64)
    start = np.asarray([int(first.timestamp())], dtype=np.int64)
    share = float(run.initial_cash) / len(spec.markets)
    total = np.zeros(len(times))
    for symbol in spec.markets:
        series = candles[symbol]
        if series.close_times[0] > start[0]:
            return []
        total += share / _closes_at(series, start)[0] * _closes_at(series, times)
    return total.tolist()


def run_backtest(config: FundConfig, journal: Journal, *, start: datetime | None = None,
                 end: datetime | None = None, progress: Progress | None = None) -> list[ActorRun]:
    """Backtest every actor of a fund into the journal; return each actor's run."""
    if config.backtest is None:
        raise BacktestError(f"{config.source}: no [backtest] section")
    settings = config.backtest
    for spec in config.actors:
        check_sources(spec)
    candles = load_history(settings, config.actors)
    try:
        news = load_news(settings.news, settings.news_fields) if settings.news else None
    except DataError as exc:
        raise BacktestError(f"backtest.news: {exc}") from None
    periods = [actor_period(spec, candles, settings, start, end, news) for spec in config.actors]
    return [
        run_actor(spec, journal, config.initial_cash[spec.actor_id], candles, period, progress,
                  news, settings.max_price_age,
                  [f for f in config.flows if f.actor == spec.actor_id])
        for spec, period in zip(config.actors, periods, strict=True)
    ]
