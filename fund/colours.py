"""The colours of every chart: one per symbol (and per sentiment keyword), the same in the
HTML report, the audit page and the UI.

A symbol's colour depends only on the symbol and on the other names drawn with it: each
name, in sorted order, takes the palette slot its hash points at, or the next free one, so
two names on one chart never share a colour (until the palette runs out) and a fund's
symbols are coloured the same wherever they are drawn. The other colours (the unit value,
total assets, benchmark, buys, sells, flows, drawdown, cash, news) are fixed here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7",
           "#9c755f", "#e15759", "#8cd17d", "#499894", "#d37295")
"""Colours of symbols and keywords (Tableau 10 and two more)."""

UNIT = "#1f4e79"  # the unit value (time-weighted curve)
ASSETS = "#8c8c8c"  # total assets (the NAV)
BENCHMARK = "#ff7f0e"
BUY = "#2ca02c"
SELL = "#d62728"
DRAWDOWN = "#c0392b"
CASH = "#d9d9d9"
INFLOW = "#17becf"  # subscriptions, deposits
OUTFLOW = "#9467bd"  # redemptions, withdrawals
NEWS = "#7f7f7f"  # news items (coverage)
MARKS = {"checkpoint": "#2ca02c", "halt": "#d62728", "command": "#ff7f0e"}  # audit page


def _slot(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big") % len(
        PALETTE)


def symbol_colours(names: Iterable[str]) -> dict[str, str]:
    """Each name's colour among ``names`` (symbols, or sentiment keywords)."""
    taken: dict[int, int] = {}
    colours = {}
    for name in sorted(set(names)):
        slot = _slot(name)
        rounds = min(taken.values(), default=0) if len(taken) == len(PALETTE) else 0
        while taken.get(slot, 0) > rounds:
            slot = (slot + 1) % len(PALETTE)
        taken[slot] = taken.get(slot, 0) + 1
        colours[name] = PALETTE[slot]
    return colours
