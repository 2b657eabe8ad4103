"""``fund backtest``: run a config over history, write journal, summary and report."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from agentfund.backtests.engine import (
    ActorRun,
    BacktestError,
    Progress,
    plan_backtest,
    run_backtest,
)
from agentfund.backtests.summary import fund_summary
from fund.commands.outputs import new_journal, slug
from fund.config import load_config


def backtest(*, config: Path, journal: str | None, out: Path | None, overrides: Sequence[str],
             start: datetime | None, end: datetime | None, as_json: bool, report: bool) -> int:
    """Run the backtest and print its summary; return the exit code."""
    cfg = load_config(config, overrides)
    plan = plan_backtest(cfg, start=start, end=end)  # every refusal, before anything is written
    if out is None:
        out = Path("runs") / f"{slug(cfg.name)}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    with new_journal(journal or str(out / "journal.db"), out) as store, \
            _progress(enabled=sys.stderr.isatty()) as progress:
        for spec in cfg.actors:  # refused here, before another actor's stream is written
            if store.head(spec.actor_id) is not None:
                raise BacktestError(f"{store.url} already holds a stream for actor "
                                    f"{spec.actor_id}; write to a new --journal")
        runs = run_backtest(cfg, store, progress=progress, plan=plan)
    report_path = out / "report.html" if report else None
    summary = fund_summary(runs, store.url, str(report_path) if report_path else None)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if report_path is not None:
        _write_report(report_path, cfg.name, summary, runs)
    if as_json:
        print(json.dumps(summary))
    else:
        _print_table(cfg.name, summary)
    return 0


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


def _percent(value: float) -> str:
    return f"{value * 100:,.2f} %"


def _money(text: str, quote: str) -> str:
    return f"{Decimal(text).quantize(Decimal('0.01')):,} {quote}"


def display_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return the summary as (label, formatted value) rows."""
    quote = next(iter(summary["actors"].values()))["quote"]
    return [
        ("Final NAV", _money(summary["final_nav"], quote)),
        ("Initial cash", _money(summary["initial_cash"], quote)),
        ("Total return", _percent(summary["total_return"])),
        ("Annualised return", _percent(summary["annualized_return"])),
        ("Sharpe (annualised)", f"{summary['sharpe']:.3f}"),
        ("Sortino (annualised)", f"{summary['sortino']:.3f}"),
        ("Max drawdown", _percent(summary["max_drawdown"])),
        ("Turnover (traded / mean NAV)", f"{summary['turnover']:.2f}×"),
        ("Fees", _money(summary["fees"], quote)),
        ("Fills", f"{summary['fills']:,}"),
        ("Period", f"{summary['first_wake']} → {summary['end']}"),
        ("Journal entries", f"{summary['entries']:,}"),
        ("Head hash", summary["head_hash"]),
    ]


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


def _write_report(path: Path, name: str, summary: Mapping[str, Any],
                  runs: Sequence[ActorRun]) -> None:
    from agentfund.backtests.report import ReportSeries, write_report

    series = [
        ReportSeries(actor_id=r.actor_id, times=r.times, nav=r.nav, allocation=r.allocation,
                     benchmark=r.benchmark or None, fills=r.fill_rows, quote=r.quote)
        for r in runs
    ]
    write_report(path, f"Backtest: {name}", dict(display_rows(summary)), series)
