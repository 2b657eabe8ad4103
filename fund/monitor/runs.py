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
