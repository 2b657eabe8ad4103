"""Investor statements, from the journal alone: holdings, flows, fees and returns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from fund.accounting.register import ZERO, Register, Terms
from fund.accounting.returns import money_weighted, time_weighted
from fund.canonical import loads, parse_ts
from fund.journal import Entry
from fund.messages import START, VALUATION
from fund.performance import YEAR_SECONDS


@dataclass(slots=True)
class InvestorHistory:
    """What a statement needs about one investor, valuation point by valuation point."""

    flows: list[tuple[datetime, float]] = field(default_factory=list)  # investor's view
    growth: list[float] = field(default_factory=list)  # their value's growth per period
    rows: list[dict[str, Any]] = field(default_factory=list)
    units: Decimal = ZERO
    price: Decimal = ZERO


@dataclass(slots=True)
class Books:
    """The register and every investor's history, folded from Valuation entries."""

    register: Register | None = None
    investors: dict[str, InvestorHistory] = field(default_factory=dict)
    prices: list[tuple[datetime, Decimal]] = field(default_factory=list)
    last: datetime | None = None

    def fold(self, entry: Entry) -> None:
        """Consume one entry of the actor's stream (kinds other than ours are ignored)."""
        if entry.kind == START:
            accounting = loads(entry.payload).get("accounting")
            if accounting:
                self.register = Register(terms=Terms.from_payload(accounting["terms"]))
        elif entry.kind == VALUATION and self.register is not None:
            self._valuation(loads(entry.payload))

    def _valuation(self, payload: dict[str, Any]) -> None:
        assert self.register is not None
        at, price = parse_ts(payload["at"]), Decimal(payload["price"])
        changes: dict[str, Any] = payload["investors"]
        for investor in sorted({*self.investors, *changes}):
            history = self.investors.setdefault(investor, InvestorHistory())
            change = changes.get(investor, {})
            held_before = history.units - Decimal(change.get("fee_units", "0"))
            if history.units > 0 and history.price > 0:
                history.growth.append(float(held_before * price / (history.units
                                                                   * history.price)))
            contributed = Decimal(change.get("contributed", "0"))
            withdrawn = Decimal(change.get("withdrawn", "0"))
            if contributed:
                history.flows.append((at, -float(contributed)))
            if withdrawn:
                history.flows.append((at, float(withdrawn)))
            history.units = Decimal(change["units"]) if "units" in change else history.units
            history.price = price
            if change:
                history.rows.append({"at": payload["at"], "price": payload["price"],
                                     "units": str(history.units), **{
                                         k: v for k, v in change.items()
                                         if k not in ("units", "hwm")}})
        self.register.apply(payload)
        self.prices.append((at, price))
        self.last = at


def books(entries: Iterable[Entry]) -> Books:
    """Fold an actor's stream into its books."""
    result = Books()
    for entry in entries:
        result.fold(entry)
    return result


def statement(book: Books, investor: str) -> dict[str, Any]:
    """One investor's statement (money as exact decimal strings, returns as floats)."""
    register = book.register
    if register is None:
        raise KeyError("this fund keeps no investor accounts (no [accounting] in its config)")
    if investor not in register.holdings:
        known = ", ".join(sorted(register.holdings)) or "none"
        raise KeyError(f"no investor {investor!r} (investors: {known})")
    holding, history = register.holdings[investor], book.investors[investor]
    price = register.price or ZERO
    value = holding.units * price
    flows = list(history.flows)
    if book.last is not None and value:
        flows.append((book.last, float(value)))
    fund_growth = [float(b / a) for (_, a), (_, b) in zip(book.prices, book.prices[1:],
                                                          strict=False) if a > 0]
    first = min((t for t, _ in history.flows), default=None)
    years = (book.last - first).total_seconds() / YEAR_SECONDS if book.last and first else 0.0
    return {
        "investor": investor, "as_of": register.last_valued.isoformat()
        if register.last_valued else None,
        "units": str(holding.units), "nav_per_share": str(price),
        "value": str(value.quantize(register.terms.currency_step)),
        "contributed": str(holding.contributed), "withdrawn": str(holding.withdrawn),
        "management_fees": str(holding.management_fees.quantize(register.terms.currency_step)),
        "performance_fees": str(holding.performance_fees),
        "time_weighted_return": time_weighted(history.growth),
        "money_weighted_return": money_weighted(flows),
        "money_weighted_years": years,
        "fund_time_weighted_return": time_weighted(fund_growth),
        "high_water_mark": str(holding.hwm),
        "history": history.rows,
    }
