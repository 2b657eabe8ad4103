"""The `fund ui` rows of the issue-18 table (benchmarks/run.py ``--against``).

On benchmarks/ui_million.py's million-entry journal (a real backtest, built once under
``UI_DIR``, its own copy): for each side in turn, ui_million's ``start_round`` — `fund ui`
from start to the first Overview on a fresh copy of the journal (first start, restart, a
start after the journal grew by 100k entries, a restart after that) and `fund status`
likewise, each a fresh process.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks import targets

UI_DIR = Path(tempfile.gettempdir()) / "agentfund-bench-ui"  # built once, reused
UI_ROUNDS = 3  # rounds of `fund ui` starts (each: 4 starts and 4 `fund status` a side)
UI_GROW = 100_000


def ui_rows(runs: int, roots: tuple[Path, Path], work: Path) -> list[targets.Row]:
    """The `fund ui` rows, on benchmarks/ui_million.py's million-entry journal (built once
    under UI_DIR): ui_million's ``start_round`` for each side, A B A B — first start,
    restart, start after the journal grew by 100k entries, restart; and `fund status`."""
    from benchmarks import ui_million

    journal = Path(ui_million.build(UI_DIR, rebuild=False)["journal"])
    warmup = ui_million.warmup_journal(UI_DIR)
    rounds = min(runs, UI_ROUNDS)
    sides: tuple[list[dict[str, dict[str, float]]], ...] = ([], [])
    for _ in range(rounds):
        for index, root in enumerate(roots):
            place = work / f"ui-start-{index}"
            place.mkdir(parents=True, exist_ok=True)
            sides[index].append(ui_million.start_round(root, journal, place, warmup,
                                                       UI_GROW))
            print(f"ui round {len(sides[index])} {'AB'[index]}: "
                  f"{ui_million.round_line(sides[index][-1])}", file=sys.stderr, flush=True)
    return ui_table(sides, UI_GROW)


def ui_table(sides: tuple[list[dict[str, dict[str, float]]], ...], grown: int
             ) -> list[targets.Row]:
    """The `fund ui` rows from start rounds (row name -> figures, per round and side)."""
    def seconds(side: int, name: str) -> list[float]:
        return [r[name]["seconds"] for r in sides[side]]

    first, restart = "ui: first start (as the backtest left it)", "ui: restart"
    grew = f"ui: start after +{grown:,} entries"
    rows = [targets.time_row("`fund ui`, 1M entries, first start to first Overview",
                             seconds(0, first), seconds(1, first), 0.2)]
    for name in sides[0][0]:
        if name != first:
            a, b = seconds(0, name), seconds(1, name)
            rows.append(targets.Row(f"`fund {name.replace(': ', '`: ', 1)}", "s",
                                    statistics.median(a), statistics.median(b),
                                    targets.median_ratio(a, b), "", None))
    rows.append(targets.own_ratio_row(
        f"`fund ui` start after +{grown:,} entries ÷ restart before", seconds(0, grew),
        seconds(0, restart), targets.FLAT_TIME, f"no slower (≤ {targets.FLAT_TIME:g})",
        targets.median_ratio(seconds(1, grew), seconds(1, restart))))
    return rows
