"""``fund statement``: an investor's holdings, flows, fees and returns, from the journal."""

from __future__ import annotations

import json
from typing import Any

from fund import display
from fund.accounting.statement import books, statement
from fund.errors import UsageError
from fund.journal import Journal, open_journal
from fund.messages import is_side_stream
from fund.monitor.snapshot import ActorSnapshot, advance
from fund.performance import over_period


def show_statement(target: str, investor: str, *, actor: str | None, as_json: bool) -> int:
    """Print one investor's statement for one actor (the only one, if there is one)."""
    with open_journal(target, must_exist=True) as journal:
        streams = [p for p in journal.processes() if not is_side_stream(p)]
        if actor is None:
            if len(streams) != 1:
                raise UsageError(f"{journal.url}: name the actor with --actor "
                                 f"({', '.join(streams) or 'none'})")
            actor = streams[0]
        if actor not in streams:
            raise UsageError(f"{journal.url}: no actor {actor} ({', '.join(streams)})")
        try:
            result = statement(books(journal.read(actor)), investor)
        except KeyError as exc:
            raise UsageError(f"{journal.url}: {actor}: {exc.args[0]}") from None
        result["fund"] = fund_figures(journal, actor)
    result["actor"] = actor
    if as_json:
        print(json.dumps(result))
        return 0
    _print(result)
    return 0


def fund_figures(journal: Journal, actor: str) -> dict[str, Any] | None:
    """The fund's performance on its unit value at every wake (fund.performance: the
    figures the summary, the report and the UI show), or None before any wake."""
    snap = ActorSnapshot(actor)
    advance(journal, snap)
    found = snap.figures()
    if found is None:
        return None
    return {"total_return": found.total_return, "max_drawdown": found.max_drawdown,
            "volatility": found.volatility, "sharpe": found.sharpe, "sortino": found.sortino,
            "annualized_return": found.annualized_return, "period_years": found.years}


def _rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    money, fund = display.money, result.get("fund")
    years = float(result.get("money_weighted_years") or 0.0)
    rows = [("units", display.units(result["units"])),
            ("NAV per share", display.significant(result["nav_per_share"], 12)),
            ("value", money(result["value"])), ("contributed", money(result["contributed"])),
            ("withdrawn", money(result["withdrawn"])),
            ("management fees", money(result["management_fees"])),
            ("performance fees", money(result["performance_fees"])),
            ("high-water mark", display.significant(result["high_water_mark"], 12)),
            ("time-weighted return", display.percent(result["time_weighted_return"]))]
    mwr = result["money_weighted_return"]
    if years and years < 1:
        rows.append((f"money-weighted return (over {display.period(years)})",
                     display.percent(over_period(mwr, years))))
    else:
        rows.append(("money-weighted return (a year)", display.percent(mwr)))
    if fund:
        rows += [("fund: return (time-weighted)", display.percent(fund["total_return"])),
                 ("fund: max drawdown", display.percent(fund["max_drawdown"])),
                 ("fund: volatility (annualised)", display.percent(fund["volatility"])),
                 ("fund: Sharpe (annualised)", display.ratio(fund["sharpe"]))]
    else:
        rows.append(("fund, time-weighted", display.percent(result["fund_time_weighted_return"])))
    return rows


def _print(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result['investor']} in {result['actor']}, as of {result['as_of']}",
                  title_justify="left", show_header=False)
    for label, value in _rows(result):
        table.add_row(label, value)
    Console(width=120).print(table)
