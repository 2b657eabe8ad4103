"""Finished backtest runs on disk (``fund backtest --out DIR``) and their comparison."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUMMARY = "summary.json"
COMPARED = ("final_nav", "total_return", "annualized_return", "max_drawdown", "sharpe",
            "sortino", "turnover", "fees", "fills", "wakes", "entries", "head_hash")


@dataclass(frozen=True, slots=True)
class Run:
    """A backtest's output directory: its summary and, if kept, its SQLite journal."""

    name: str
    path: Path
    summary: dict[str, Any]

    @property
    def journal(self) -> Path | None:
        """The run's journal file, when it is an SQLite file in the run directory."""
        candidate = self.path / "journal.db"
        return candidate if candidate.is_file() else None


def find_runs(root: Path) -> tuple[list[Run], list[str]]:
    """The runs under ``root`` (any depth up to 3), newest first, and the problems found.

    A directory whose summary cannot be read is reported, not fatal.
    """
    runs: list[Run] = []
    problems: list[str] = []
    if not root.is_dir():
        return [], [f"{root}: no such directory"]
    paths = sorted({*root.glob(SUMMARY), *root.glob(f"*/{SUMMARY}"), *root.glob(f"*/*/{SUMMARY}")})
    for path in paths:
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(summary, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: unreadable summary ({exc})")
            continue
        name = str(path.parent.relative_to(root)) if path.parent != root else root.name
        runs.append(Run(name=name, path=path.parent, summary=summary))
    runs.sort(key=lambda r: (-(r.path / SUMMARY).stat().st_mtime, r.name))
    return runs, problems


def of_journal(runs: list[Run], target: str) -> Run | None:
    """The run (the newest, if several) whose journal is ``target``, the journal the UI was
    started on (a file path, an ``sqlite:///`` URL or a database URL); None if none is."""
    wanted = identity(target)
    if wanted is None:
        return None
    for run in runs:
        names = [str(run.journal)] if run.journal is not None else []
        if run.summary.get("journal"):
            names.append(str(run.summary["journal"]))
        if any(identity(name) == wanted for name in names):
            return run
    return None


def identity(target: str) -> str | None:
    """What names a journal, whatever its spelling: an SQLite file's resolved path, or a
    database URL with its password masked (as summaries record it)."""
    target = target.strip()
    if not target:
        return None
    if target.startswith("sqlite:///") or "://" not in target:
        path = target.removeprefix("sqlite:///").split("?", 1)[0]
        try:
            return str(Path(path).expanduser().resolve())
        except (OSError, RuntimeError):
            return path
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(target).render_as_string(hide_password=True)
    except ArgumentError:
        return target


def quote(run: Run) -> str:
    """The run's quote currency ('' when its actors have none or several)."""
    actors = run.summary.get("actors") or {}
    quotes = {a.get("quote", "") for a in actors.values() if isinstance(a, dict)}
    return quotes.pop() if len(quotes) == 1 else ""


def differences(left: Run, right: Run) -> list[str]:
    """Why two runs' figures are not directly comparable: different quote currencies,
    different periods (each said in words; empty when they agree)."""
    found = []
    a, b = quote(left), quote(right)
    if a != b:
        found.append(f"their quote currencies differ ({left.name}: {a or 'unknown'}, "
                     f"{right.name}: {b or 'unknown'}), so their amounts are not in one unit")
    spans = [(_day(r.summary.get("first_wake")), _day(r.summary.get("end")))
             for r in (left, right)]
    if spans[0] != spans[1]:
        found.append(f"their periods differ ({left.name}: {spans[0][0]} → {spans[0][1]}, "
                     f"{right.name}: {spans[1][0]} → {spans[1][1]}), so they met different "
                     "markets")
    return found


def _day(ts: Any) -> str:
    """A summary's time as 'YYYY-MM-DD', with the time of day when it is not midnight."""
    if not ts:
        return "?"
    text = str(ts)[:16].replace("T", " ")
    return text.removesuffix(" 00:00")


def compare(left: Run, right: Run) -> list[dict[str, Any]]:
    """One row per compared figure: both values and, for numbers, right minus left."""
    rows = []
    for key in COMPARED:
        a, b = left.summary.get(key), right.summary.get(key)
        rows.append({"figure": key, left.name: _show(a), right.name: _show(b),
                     "difference": _difference(a, b)})
    return rows


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _difference(a: Any, b: Any) -> str:
    try:
        if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
            raise ValueError
        from decimal import Decimal

        diff = Decimal(str(b)) - Decimal(str(a))
    except (ValueError, ArithmeticError):
        return "same" if a == b else "differs"
    return f"{diff:+.6g}" if diff else "0"
