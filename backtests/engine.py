"""The backtest engine: the live runtime, driven by a simulated clock over history.

Each actor runs in its own journal stream. Its wakes are the cron fire times (computed by
the same APScheduler trigger the daemon uses) within the period [start, end]; at each one
the clock is set to the fire time and the runtime does exactly what it does live, with
historical oracles and the paper adapter. After the last wake, final observations dated
at the period end mark the books and record the news published since the last wake (with
its sentiment), so the journal holds every headline of the period; then the End entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

from agentfund.backtests.data import Candles, DataError, load_candles
from agentfund.backtests.news import load_news
from agentfund.backtests.results import ActorRun, Progress, Recorder, book_stored
from agentfund.oracles.base import Oracle, OracleError
from agentfund.oracles.kinds import History, build
from fund.accounting.config import Flow as ConfigFlow
from fund.actor import ActorSpec
from fund.clock import SimulatedClock
from fund.config import BacktestSettings, FundConfig
from fund.exchange.paper import PaperAdapter
from fund.journal import Entry, Journal, writer
from fund.money import standard
from fund.monitor import store
from fund.monitor.keeper import SnapshotKeeper
from fund.monitor.snapshot import ActorSnapshot
from fund.node import Flow, Node, build_runtime, refusals, timeline
from fund.projection_store import keepable
from fund.schedule import cron_trigger, fire_times, fire_times_ahead
from fund.trades import trading_stored

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

    from fund.checkpoints import Attestor
    from fund.runtime import ActorRuntime
    from fund.trades import Trades

KEEPER_BEHIND = "fund.monitor.keeper:SnapshotKeeper.behind"
"""The fold a backtest's helper storing behind keeps (fund.journal.behind.serve)."""

__all__ = ["ActorRun", "BacktestError", "BacktestPlan", "Period", "Progress", "actor_period",
           "load_history", "plan_backtest", "run_backtest"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FLOW_REASON = "flow in the backtest's config"


class BacktestError(Exception):
    """The backtest cannot run as configured; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    """The period a run covers, both bounds inclusive: wakes and news are taken from it."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestPlan:
    """A fund's backtest checked before anything is written: its history, each actor's
    period and oracles' sources."""

    config: FundConfig
    settings: BacktestSettings
    candles: Mapping[str, Candles]
    news: list[tuple[int, dict[str, Any]]] | None
    periods: Mapping[str, Period]
    oracles: dict[str, dict[str, Oracle]] = field(default_factory=dict)  # built, by actor
    signer: Attestor | None = None  # signs each actor's End, when [attest] names a key

    def history(self, period: Period) -> History:
        """What an actor's historical oracles are built from, for its period."""
        return History(candles=self.candles, news=self.news, since=period.start,
                       max_age=self.settings.max_price_age)


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
    if news and any(o.kind == "news" for o in spec.declared()):
        first = min(first, _EPOCH + timedelta(microseconds=news[0][0]))
        last = max(last, _EPOCH + timedelta(microseconds=news[-1][0]))
    lo = max(first, start or settings.start or first)
    hi = min(last, end or settings.end or last)
    if hi < lo:
        raise BacktestError(
            f"actors.{spec.actor_id}: empty period: {lo:%Y-%m-%d %H:%M} to {hi:%Y-%m-%d %H:%M} "
            f"(data covers {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC)")
    return Period(start=lo, end=hi)


def plan_backtest(config: FundConfig, *, start: datetime | None = None,
                  end: datetime | None = None) -> BacktestPlan:
    """Everything a backtest would refuse, refused now: before any stream is written."""
    if config.backtest is None:
        raise BacktestError(f"{config.source}: no [backtest] section")
    settings = config.backtest
    for spec in config.actors:
        for reason in refusals(spec):
            raise BacktestError(reason)
    candles = load_history(settings, config.actors)
    try:
        news = load_news(settings.news, settings.news_fields) if settings.news else None
    except DataError as exc:
        raise BacktestError(f"backtest.news: {exc}") from None
    signing = None
    if config.attest is not None:  # (cryptography is imported only when it is needed)
        from fund.attest import AttestError
        from fund.checkpoints import signer

        try:
            signing = signer(config)
        except AttestError as exc:
            raise BacktestError(str(exc)) from None
    plan = BacktestPlan(config=config, settings=settings, candles=candles, news=news, periods={
        spec.actor_id: actor_period(spec, candles, settings, start, end, news)
        for spec in config.actors}, signer=signing)
    for spec in config.actors:
        period = plan.periods[spec.actor_id]
        if next(fire_times(cron_trigger(spec.cron), period.start, period.end), None) is None:
            raise BacktestError(
                f"actors.{spec.actor_id}: cron {spec.cron!r} never fires between "
                f"{period.start:%Y-%m-%d %H:%M} and {period.end:%Y-%m-%d %H:%M} UTC")
        try:
            plan.oracles[spec.actor_id] = build(spec.declared(), tuple(spec.markets),
                                                plan.history(period))
        except OracleError as exc:
            raise BacktestError(f"actors.{spec.actor_id}: {exc}") from None
    return plan


@standard
def run_actor(spec: ActorSpec, journal: Journal, plan: BacktestPlan,
              progress: Progress | None = None, book: Trades | None = None,
              meanwhile: Callable[[], None] | None = None) -> ActorRun:
    """Backtest one actor into its own stream of the journal: its node, stepped through its
    timeline on a simulated clock. The monitor's snapshot is folded from each batch as it
    is stored and kept as the journal's projection checkpoint (fund.monitor.keeper) — by
    the process storing the batches behind the run, when there is one (fund.journal.behind)
    — and ``book`` (the report's trade book), if given, is folded from them too.
    ``meanwhile``: work of the caller's that needs none of the run (loading what its report
    will need), done while that process stores and folds the run's last entries."""
    if journal.head(spec.actor_id) is not None:
        raise BacktestError(f"{journal.url} already holds a stream for actor "
                            f"{spec.actor_id}; write to a new --journal")
    keeper = SnapshotKeeper(journal, ActorSnapshot(actor=spec.actor_id))
    book_fold = trading_stored(book) if book is not None else None
    runtime: ActorRuntime | None = None
    period = plan.periods[spec.actor_id]
    cash = plan.config.initial_cash[spec.actor_id]
    run = ActorRun(actor_id=spec.actor_id, quote=spec.terms.quote, initial_cash=cash)

    def stored(entries: Sequence[Entry]) -> None:
        assert runtime is not None  # (stored only once the runtime writes)
        if not runtime.writer.folds_behind:  # else the helper folds the snapshot
            keeper.stored(entries)
        if book_fold is not None:
            book_fold(entries)
        book_stored(run, entries)

    trigger = cron_trigger(spec.cron)
    wakes = fire_times_ahead(trigger, period.start, period.end)
    try:
        first = next(wakes)
        clock = SimulatedClock(first)
        runtime = build_runtime(spec, journal, clock=clock, sources=plan.history(period),
                                adapter=PaperAdapter(fee_rate=spec.terms.fee_rate,
                                                     slippage_bps=spec.terms.slippage_bps),
                                oracles=plan.oracles.pop(spec.actor_id, None),
                                on_stored=stored,
                                behind=_long(spec, trigger, first, period.end),
                                fold_behind=KEEPER_BEHIND if keepable(journal) else "")
        runtime.open(cash)
        node = Node(runtime, timeline(
            spec, chain([first], wakes), flows=_flows(plan.config.flows, spec),
            valuations=fire_times(cron_trigger(spec.accounting.valuation_cron), first,
                                  period.end) if spec.accounting else ()))
        recorder = Recorder(run, runtime, (period.start.timestamp(),
                                           max((period.end - period.start).total_seconds(), 1.0)),
                            progress)
        for step in node.timeline.until(period.end):
            clock.set_time(max(step.at, clock.now()))
            node.run(step)
            if step.kind == "wake":
                recorder.wake(step.at)
        clock.set_time(max(period.end, clock.now()))
        end = node.finish(period.end)  # also records the news after the last wake
        if plan.signer is not None and plan.signer.checkpoint(runtime) is not None:
            end = runtime.writer.stored_head or end  # the signed End
        # the helper stores and folds the last entries (and keeps the checkpoint) while
        # this process does what needs none of that: the run's totals, then ``meanwhile``
        runtime.writer.finish()
        recorder.finish(end, period.end, plan.candles, spec, first)
        if meanwhile is not None:
            meanwhile()
    finally:
        wakes.close()  # stops the fire-time worker if the run ended early
        if runtime is not None:
            try:
                runtime.writer.flush()  # whatever was recorded is kept, whole
            finally:
                runtime.writer.close()
    if runtime.writer.folds_behind:  # kept by the helper at the head: read, checked
        run_snapshot, _ = store.current(journal, spec.actor_id)
    else:
        keeper.save()
        run_snapshot = keeper.snapshot
    run.snapshot = run_snapshot
    return run


def _long(spec: ActorSpec, trigger: BaseTrigger, first: datetime, end: datetime) -> bool:
    """Whether the run is expected to write a writer's full buffer of entries or more: only
    then does a helper process store its batches behind it (fund.journal.behind). Its wakes
    are estimated from the first two fire times, and each writes a Wake, an Observation per
    oracle and a Decision. A shorter run stores its entries itself: starting the helper
    would cost more than it saves (W1 hourly, 13,537 entries: the same time, 11 % more
    CPU)."""
    times = list(islice(fire_times(trigger, first, end), 2))
    if len(times) < 2:
        return False
    wakes = (end - first) / (times[1] - first) + 1
    return wakes * (2 + len(spec.declared())) >= writer.BATCH_SIZE


def _flows(flows: Sequence[ConfigFlow], spec: ActorSpec) -> list[Flow]:
    return [Flow(at=f.at, investor=f.investor, kind=f.kind, amount=f.amount, units=f.units,
                 reason=_FLOW_REASON) for f in flows if f.actor == spec.actor_id]


def run_backtest(config: FundConfig, journal: Journal, *, start: datetime | None = None,
                 end: datetime | None = None, progress: Progress | None = None,
                 plan: BacktestPlan | None = None,
                 books: Mapping[str, Trades] | None = None,
                 meanwhile: Callable[[], None] | None = None) -> list[ActorRun]:
    """Backtest every actor of a fund into the journal; return each actor's run. ``books``:
    by actor id, the report's trade book, folded from the stream as it is stored;
    ``meanwhile``: as :func:`run_actor`'s, at the end of each actor's run."""
    plan = plan or plan_backtest(config, start=start, end=end)
    return [run_actor(spec, journal, plan, progress, (books or {}).get(spec.actor_id),
                      meanwhile) for spec in config.actors]
