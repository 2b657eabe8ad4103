"""The issue-18 targets: paired samples, their medians and ratios, and the table.

Pure logic, no processes: benchmarks/run.py measures, this module judges and formats.
A *pair* is one run of this checkout (A) and one of the baseline revision (B), taken in
turn; a row's ratio is the median of the pairwise ratios A/B, so a machine whose speed
drifts during the run affects both sides alike.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

FLAT_RSS = 1.10  # "flat in the number of wakes": 12× the wakes, at most +10 % peak RSS
FLAT_TIME = 1.10  # "no slower": a start's time within the noise of a single run (+10 %)
RSS_NOISE = 1.01  # "≤ today": peak RSS of the same work varies by a few hundred KiB a run


@dataclass(frozen=True)
class Row:
    """One line of the table: what was measured on each side and the target it meets."""

    name: str
    unit: str  # "s", "MiB", "entries/s", "×"
    a: float | None  # this checkout's median (None: not measured)
    b: float | None  # the baseline's median
    ratio: float | None  # the judged figure: median pairwise ratio, or A's own ratio
    target: str  # as the issue states it
    met: bool | None  # None: not judged (skipped, or no target)
    note: str = ""


def median_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """The median of the pairwise ratios a[i] / b[i]."""
    if not a or len(a) != len(b):
        raise ValueError(f"need as many A as B samples, and at least one ({len(a)}, {len(b)})")
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def at_most(ratio: float | None, limit: float) -> bool | None:
    """Whether a ratio is at or under its limit (None when it was not measured)."""
    return None if ratio is None else ratio <= limit


def at_least(ratio: float | None, limit: float) -> bool | None:
    """Whether a ratio is at or over its limit (None when it was not measured)."""
    return None if ratio is None else ratio >= limit


def time_row(name: str, a: Sequence[float], b: Sequence[float], limit: float,
             note: str = "") -> Row:
    """A wall-time row: A and B medians, the median pairwise ratio, ≤ ``limit`` × today."""
    ratio = median_ratio(a, b)
    return Row(name, "s", statistics.median(a), statistics.median(b), ratio,
               f"≤ {limit:g} × today", at_most(ratio, limit), note)


def rate_row(name: str, count: int, a: Sequence[float], b: Sequence[float],
             limit: float) -> Row:
    """A throughput row from times: ``count`` items per second, ≥ ``limit`` × today."""
    ratio = median_ratio(b, a)  # (count / a) / (count / b)
    return Row(name, "entries/s", count / statistics.median(a), count / statistics.median(b),
               ratio, f"≥ {limit:g} × today", at_least(ratio, limit))


def floor_row(name: str, a: Sequence[float], floor: Sequence[float], entries: int,
              limit: float = 2.0, note: str = "") -> Row:
    """This checkout's backtest times against the floor loop's over the same entries (one
    floor time after each of A's runs): the median of the pairwise ratios. With ``note``,
    a row shown beside the target, not judged."""
    ratio = median_ratio(a, floor)
    floor_s = statistics.median(floor)
    if note:
        return Row(name, "s", statistics.median(a), floor_s, ratio, "", None, note)
    return Row(name, "s", statistics.median(a), floor_s, ratio, f"≤ {limit:g} × the floor",
               at_most(ratio, limit),
               f"the floor: {entries:,} entries in {floor_s:.2f} s = {entries / floor_s:,.0f} "
               "entries/s (in the B column)")


def own_ratio_row(name: str, numerator: Sequence[float], denominator: Sequence[float],
                  limit: float, target: str, b_ratio: float | None = None) -> Row:
    """A ratio of A to itself (re-run / first run, 5-minute / hourly RSS), paired."""
    ratio = median_ratio(numerator, denominator)
    return Row(name, "×", ratio, b_ratio, ratio, target, at_most(ratio, limit))


def skipped(name: str, target: str, reason: str) -> Row:
    """A row that was not measured, and why."""
    return Row(name, "", None, None, None, target, None, f"skipped: {reason}")


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    if unit == "entries/s":
        return f"{value:,.0f}/s"
    return f"{value:.3f}"


def verdict(met: bool | None) -> str:
    """The "met" column: yes, **NO**, or a dash when not judged."""
    return "—" if met is None else ("yes" if met else "**NO**")


def format_rows(rows: Sequence[Row], baseline: str) -> str:
    """The table as Markdown, one line per row, notes after it."""
    lines = [f"| workload | B = {baseline} (today) | A = this checkout | A/B (median of pairs) "
             "| target | met |",
             "| --- | ---: | ---: | ---: | --- | :---: |"]
    notes = []
    for row in rows:
        ratio = "—" if row.ratio is None else f"**{row.ratio:.3f}**"
        lines.append(f"| {row.name} | {_figure(row.b, row.unit)} | {_figure(row.a, row.unit)} "
                     f"| {ratio} | {row.target} | {verdict(row.met)} |")
        if row.note:
            notes.append(f"- {row.name}: {row.note}")
    return "\n".join(lines + (["", *notes] if notes else []))
