"""``fund statement``: an investor's holdings, flows, fees and returns, from the journal."""

from __future__ import annotations

import json

from fund.accounting.statement import books, statement
from fund.errors import UsageError
from fund.journal import open_journal
from fund.messages import is_commands_stream


def show_statement(target: str, investor: str, *, actor: str | None, as_json: bool) -> int:
    """Print one investor's statement for one actor (the only one, if there is one)."""
    with open_journal(target, must_exist=True) as journal:
        streams = [p for p in journal.processes() if not is_commands_stream(p)]
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
    result["actor"] = actor
    if as_json:
        print(json.dumps(result))
        return 0
    _print(result)
    return 0


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} %"


def _print(result: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result['investor']} in {result['actor']}, as of {result['as_of']}",
                  title_justify="left", show_header=False)
    for label, key in (("units", "units"), ("NAV per share", "nav_per_share"),
                       ("value", "value"), ("contributed", "contributed"),
                       ("withdrawn", "withdrawn"), ("management fees", "management_fees"),
                       ("performance fees", "performance_fees"),
                       ("high-water mark", "high_water_mark")):
        table.add_row(label, str(result[key]))
    table.add_row("time-weighted return", _pct(result["time_weighted_return"]))  # type: ignore[arg-type]
    table.add_row("money-weighted return (a year)",
                  _pct(result["money_weighted_return"]))  # type: ignore[arg-type]
    table.add_row("fund, time-weighted", _pct(result["fund_time_weighted_return"]))  # type: ignore[arg-type]
    Console(width=120).print(table)
