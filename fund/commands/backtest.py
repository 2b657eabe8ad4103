"""``fund backtest``: run a config over history, write journal, summary and report."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentfund.backtests import run_cache
from agentfund.backtests.engine import (
    ActorRun,
    BacktestError,
    Progress,
    plan_backtest,
    run_backtest,
)
from agentfund.backtests.summary import fund_summary
from fund import display
from fund.actor import ActorSpec
from fund.commands.outputs import new_journal, slug
from fund.config import load_config
from fund.journal import journal_url

if TYPE_CHECKING:
    from fund.trades import Trades


def backtest(*, config: Path, journal: str | None, out: Path | None, overrides: Sequence[str],
             start: datetime | None, end: datetime | None, as_json: bool, report: bool,
             reuse: bool = True) -> int:
    """Run the backtest (or copy the identical run kept before; with ``reuse``, the default,
    runs are kept and reused: :mod:`agentfund.backtests.run_cache`) and print its summary;
    return the exit code."""
    cfg = load_config(config, overrides)
    if out is None:
        out = Path("runs") / f"{slug(cfg.name)}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    key: str | None = None
    if reuse and journal is None and run_cache.enabled() and not (out / "journal.db").exists():
        # kept and reused only as a new journal file in ``out`` (not --journal, not one
        # already there: that is refused below as ever)
        key = run_cache.run_key(config, overrides, cfg, start=start, end=end, report=report)
        kept = run_cache.fetch(key, out, report=report)
        if kept is not None:
            print(f"fund: the same config, period, data and code ran before: copied that run "
                  f"({kept.source}); --no-cache runs it again", file=sys.stderr)
            _finish(cfg.name, dict(kept.summary), out, report=report, as_json=as_json)
            return 0
    plan = plan_backtest(cfg, start=start, end=end)  # every refusal, before anything is written
    gc.freeze()  # the code, the config and the data loaded live to the process's end: the
    # collector need not walk them again while the run makes and drops its millions of
    # objects (here, not in the engine, which a sweep calls for many runs in one process)
    with new_journal(journal or str(out / "journal.db"), out) as store, \
            _progress(enabled=sys.stderr.isatty()) as progress:
        for spec in cfg.actors:  # refused here, before another actor's stream is written
            if store.head(spec.actor_id) is not None:
                raise BacktestError(f"{store.url} already holds a stream for actor "
                                    f"{spec.actor_id}; write to a new --journal")
        books = _books(cfg.actors) if report else {}
        runs = run_backtest(cfg, store, progress=progress, plan=plan, books=books,
                            meanwhile=_ready_report if report else None)
    report_path = out / "report.html" if report else None
    with run_cache.keeping(key, out) as keeper:  # the closed journal is copied meanwhile
        summary = fund_summary(runs, store.url, str(report_path) if report_path else None)
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n",
                                          encoding="utf-8")
        if report_path is not None:
            _write_report(report_path, cfg.name, summary, runs, cfg.actors, books,
                          journal=store.url, prices=plan.settings.prices)
        keeper.done(summary)
    _show(cfg.name, summary, as_json=as_json)
    return 0


def _finish(name: str, summary: dict[str, Any], out: Path, *, report: bool,
            as_json: bool) -> None:
    """Write and print the summary of a kept run copied into ``out``: its own paths."""
    summary["journal"] = journal_url(str(out / "journal.db"))
    summary["report"] = str(out / "report.html") if report else None
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    _show(name, summary, as_json=as_json)


def _show(name: str, summary: Mapping[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary))
    else:
        _print_table(name, summary)


def _books(actors: Sequence[ActorSpec]) -> dict[str, Trades]:
    """An empty trade book per actor, for the report (folded as the run stores entries)."""
    from fund.trades import Trades

    return {spec.actor_id: Trades() for spec in actors}


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    # auto_refresh off: no refresh thread (the engine forks a cron worker; see schedule.py)
    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   TaskProgressColumn(), "{task.fields[wakes]:,} wakes", TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True, auto_refresh=False)
    tasks: dict[str, Any] = {}

    def update(actor: str, fraction: float, wakes: int) -> None:
        if actor not in tasks:
            tasks[actor] = bar.add_task(actor, total=1.0, wakes=0)
        bar.update(tasks[actor], completed=fraction, wakes=wakes)
        bar.refresh()

    with bar:
        yield update


def display_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return the summary as (label, formatted value) rows (fund.display; the figures are
    defined in docs/metrics.md)."""
    quote = next(iter(summary["actors"].values()))["quote"]
    years = float(summary.get("period_years") or 0.0)
    rows = [
        ("Final NAV (total assets)", display.money(summary["final_nav"], quote)),
        ("Initial cash", display.money(summary["initial_cash"], quote)),
        ("Total return (time-weighted)", display.percent(summary["total_return"])),
        ("Annualised return", display.annualised(summary["annualized_return"], years)),
        ("Volatility (annualised)", display.percent(summary.get("volatility"))),
        ("Sharpe (annualised)", display.ratio(summary["sharpe"])),
        ("Sortino (annualised)", display.ratio(summary["sortino"])),
        ("Max drawdown", display.percent(summary["max_drawdown"])),
        ("Buy and hold (same cash share)", display.percent(summary.get("benchmark_return"))),
        ("Turnover (traded / mean NAV)", f"{display.ratio(summary['turnover'])}×"),
        ("Fees", display.money(summary["fees"], quote)),
        ("Fills", display.count(summary["fills"])),
        ("Period", f"{summary['first_wake']} → {summary['end']}"),
        ("Journal entries", display.count(summary["entries"])),
        ("Head hash", summary["head_hash"]),
    ]
    if summary.get("flows"):
        rows.insert(2, ("Flows (money in or out)", display.count(summary["flows"])))
    if summary.get("open_orders"):  # resting orders past the end: listed in each End entry
        rows.insert(-3, ("Orders still open at the end", display.count(summary["open_orders"])))
    return rows


def _print_table(name: str, summary: Mapping[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Backtest: {name}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in display_rows(summary):
        if label != "Head hash":  # printed whole below, to be copied
            table.add_row(label, value)
    console = Console()
    console.print(table)
    console.print(f"head:    {summary['head_hash']}", highlight=False)
    console.print(f"journal: {summary['journal']}")
    if summary["report"]:
        console.print(f"report:  {summary['report']}")
    console.print(f"verify:  fund verify {summary['journal']}")


def _ready_report() -> None:
    """Load what writing the report needs — its modules and plotly's templates, ~0.1 s on
    a first report — while the process storing the journal behind the run finishes."""
    from agentfund.backtests import report, trades
    from fund import figures

    figures.ready(report.TEMPLATE, trades.TEMPLATE)


def _write_report(path: Path, name: str, summary: Mapping[str, Any],
                  runs: Sequence[ActorRun], actors: Sequence[ActorSpec],
                  books: Mapping[str, Trades], *, journal: str, prices: Path) -> None:
    from agentfund.backtests.report import Page, ReportSeries, write_report
    from agentfund.backtests.trades import trades_section
    from fund.monitor.charts import sentiment

    # the run's own fold of each stream as it was stored (the monitor's snapshot, and the
    # trades beside it) serves the trades section and the sentiment chart: the journal is
    # not read back
    folded = {}
    for r in runs:
        snap = r.snapshot
        assert snap is not None  # every run folds its stream
        folded[r.actor_id] = (snap, books[r.actor_id].book(snap.ledger.prices
                                                           if snap.ledger else None))

    def trades(series: ReportSeries, _page: Page) -> str:
        """Each actor's fills, round trips, P&L per asset and price charts (candles from
        the backtest's own data files)."""
        return trades_section(journal, series.actor_id, prices=prices,
                              data=folded[series.actor_id])

    markets = {spec.actor_id: spec.markets for spec in actors}
    series = [
        ReportSeries(actor_id=r.actor_id, times=r.times, nav=r.nav, allocation=r.allocation,
                     benchmark=r.benchmark or None, fills=r.fill_rows, quote=r.quote,
                     money=r.money, flows=r.flows, initial=float(r.initial_cash),
                     markets=markets.get(r.actor_id, {}),
                     sentiment=sentiment(folded[r.actor_id][0])
                     if folded[r.actor_id][0].sentiment.times else None)
        for r in runs
    ]
    write_report(path, f"Backtest: {name}", dict(display_rows(summary)), series,
                 sections=[trades])
