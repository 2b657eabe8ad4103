"""How ``fund sweep`` prints its results: the ranked table and the walk-forward windows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from agentfund.backtests.sweep import Axis


def _pct(value: Any) -> str:
    return "" if value is None else f"{value * 100:,.2f} %"


def _num(value: Any) -> str:
    return "" if value is None else f"{value:.3f}"


def _money(value: Any) -> str:
    return "" if value is None else f"{Decimal(value).quantize(Decimal('0.01')):,}"


def _cell(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def print_grid(results: Sequence[Mapping[str, Any]], axes: Sequence[Axis], metric: str,
               top: int, files: Sequence[str]) -> None:
    """Print the best ``top`` results (sorted by the metric), the failures and the files."""
    from rich.console import Console
    from rich.table import Table

    ok = [r for r in results if r["status"] == "ok"]
    failed = [r for r in results if r["status"] != "ok"]
    table = Table(title=f"Sweep: {len(ok)} of {len(results)} combinations, by {metric}",
                  title_justify="left")
    table.add_column("#", justify="right")
    for axis in axes:
        table.add_column(axis.key.rsplit(".", 1)[-1], justify="right")
    for name in ("sharpe", "sortino", "return", "max dd", "final NAV", "fills", ""):
        table.add_column(name, justify="right")
    for rank, row in enumerate(ok[:top], 1):
        table.add_row(str(rank), *(_cell(row[a.key]) for a in axes), _num(row["sharpe"]),
                      _num(row["sortino"]), _pct(row["total_return"]),
                      _pct(row["max_drawdown"]), _money(row["final_nav"]), f"{row['fills']:,}",
                      "cached" if row["cached"] else "")
    console = Console()
    console.print(table)
    if len(ok) > top:
        console.print(f"… and {len(ok) - top} more (all in results.csv)")
    for row in failed:
        values = ", ".join(f"{key}={value}" for key, value in row["params"].items())
        console.print(f"[red]failed[/red] {values}: {row['error']}", highlight=False)
    for path in files:
        console.print(f"wrote   {path}", highlight=False)


def print_walk_forward(windows: Sequence[Mapping[str, Any]], oos: Mapping[str, Any] | None,
                       metric: str, files: Sequence[str]) -> None:
    """Print each window's choice and its out-of-sample result, then the stitched result."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Walk-forward by {metric}", title_justify="left")
    for name in ("#", "train", "test", "best parameters", f"train {metric}",
                 f"test {metric}", "test return"):
        table.add_column(name, justify="left" if name in ("train", "test", "best parameters")
                         else "right")
    for w in windows:
        params = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in (w["params"] or {}).items())
        table.add_row(str(w["window"]), f"{w['train_start'][:10]} → {w['train_end'][:10]}",
                      f"{w['test_start'][:10]} → {w['test_end'][:10]}",
                      params or f"[red]{w['error']}[/red]", _num(w[f"train_{metric}"]),
                      _num(w[f"test_{metric}"]), _pct(w["test_return"]))
    console = Console()
    console.print(table)
    if oos:
        console.print(f"out of sample, {oos['windows']} windows stitched: return "
                      f"{_pct(oos['total_return'])}, Sharpe {_num(oos['sharpe'])}, max drawdown "
                      f"{_pct(oos['max_drawdown'])}", highlight=False)
    else:
        console.print("[red]no window produced an out-of-sample result[/red]")
    for path in files:
        console.print(f"wrote   {path}", highlight=False)
