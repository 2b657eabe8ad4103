"""The share register: investors' units, dealing at NAV per share, fees over a high-water mark.

Everything here is a pure function of the register's state and the fund's gross assets at a
valuation point, so ``fund verify`` recomputes every valuation from the journal alone.

Rounding rules (all in favour of the investors who stay, so no rounding ever creates value
for the investor dealing, and none is destroyed: every remainder stays in the fund):

* NAV per share is ``net assets / units`` rounded half-even to ``price_step`` (1e-10).
* A subscription gets ``amount / price`` units rounded *down* to ``unit_step`` (1e-8).
* A redemption pays ``units × price`` rounded *down* to ``currency_step`` (0.01); one asked
  for as an amount becomes ``amount / price`` units rounded *up* (capped at the holding).
* A management fee is ``net × rate × years`` rounded half-even to ``currency_step``.
* A holding topped up gets the unit-weighted mean of its high-water mark and the price.
* A performance fee is ``rate × (price − high-water mark) × units`` rounded *down* to
  ``currency_step``, charged by cancelling ``fee / price`` units rounded *up*.

Fees are worked out first at a valuation point (management on the fund, performance per
investor) and set the dealing price; then subscriptions are dealt (their cash arrives), fees
are paid, and redemptions are dealt in request order, each paid from the cash left. A
redemption the cash cannot cover is dealt in part and the rest waits, in units, for the
next valuation point (a gate), while the strategy is told how much cash to raise. Fees the
cash cannot cover are owed (a liability netted from the assets) and paid first next time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from fund.canonical import format_ts as _ts
from fund.canonical import parse_ts

_WIDE = Context(prec=60, rounding=ROUND_HALF_EVEN)
_YEAR_S = Decimal(365 * 24 * 3600)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Terms:
    """A fund's dealing and fee terms."""

    management_fee: Decimal = ZERO  # a year, on net assets, accrued at each valuation point
    performance_fee: Decimal = ZERO  # of the gain over each investor's high-water mark
    initial_price: Decimal = Decimal(1)  # NAV per share of the first units issued
    unit_step: Decimal = Decimal("0.00000001")
    price_step: Decimal = Decimal("0.0000000001")
    currency_step: Decimal = Decimal("0.01")

    def to_payload(self) -> dict[str, Any]:
        """The journaled form (in the Start entry)."""
        return {"management_fee": self.management_fee, "performance_fee": self.performance_fee,
                "initial_price": self.initial_price, "unit_step": self.unit_step,
                "price_step": self.price_step, "currency_step": self.currency_step}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Terms:
        """Read the journaled form back."""
        return cls(**{key: Decimal(str(value)) for key, value in payload.items()})


@dataclass(slots=True)
class Holding:
    """One investor's units and history."""

    units: Decimal = ZERO
    hwm: Decimal = ZERO  # NAV per share at which performance fees were last charged
    contributed: Decimal = ZERO
    withdrawn: Decimal = ZERO
    management_fees: Decimal = ZERO  # this investor's share, pro rata to units
    performance_fees: Decimal = ZERO


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """A subscription (``amount``) or redemption (``units`` or ``amount``) awaiting dealing."""

    seq: int
    investor: str
    kind: str  # "subscribe" | "redeem"
    requested: str
    amount: Decimal | None = None
    units: Decimal | None = None

    def to_payload(self) -> dict[str, Any]:
        """The form in a Valuation entry's ``pending`` list."""
        payload: dict[str, Any] = {"seq": self.seq, "investor": self.investor,
                                   "kind": self.kind, "requested": self.requested}
        if self.amount is not None:
            payload["amount"] = self.amount
        if self.units is not None:
            payload["units"] = self.units
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Request:
        """Read a request back from a journal payload."""
        return cls(seq=int(payload["seq"]), investor=str(payload["investor"]),
                   kind=str(payload["kind"]), requested=str(payload["requested"]),
                   amount=Decimal(payload["amount"]) if "amount" in payload else None,
                   units=Decimal(payload["units"]) if "units" in payload else None)


@dataclass(slots=True)
class Register:
    """The fund's investors, pending requests, owed fees and its last valuation."""

    terms: Terms
    holdings: dict[str, Holding] = field(default_factory=dict)
    pending: list[Request] = field(default_factory=list)
    fees_owed: Decimal = ZERO
    last_valued: datetime | None = None
    price: Decimal | None = None  # NAV per share at the last valuation point

    @property
    def units(self) -> Decimal:
        """Units outstanding."""
        return sum((h.units for h in self.holdings.values()), ZERO)

    def request(self, request: Request) -> None:
        """Queue a subscription or redemption for the next valuation point."""
        self.pending.append(request)

    def cash_required(self) -> Decimal:
        """Cash the strategy should hold for what is owed and queued redemptions (estimated
        at the last NAV per share)."""
        price = self.price or self.terms.initial_price
        owed = self.fees_owed
        for request in self.pending:
            if request.kind == "redeem":
                owed += request.amount if request.amount is not None else \
                    (request.units or ZERO) * price
        return owed

    def value(self, at: datetime, assets: Decimal, cash: Decimal) -> dict[str, Any]:
        """Run a valuation point at ``at``: fees, then dealing. Returns the Valuation payload
        (everything it did, with the numbers it used); :meth:`apply` performs it."""
        return _Valuation(self, at, assets, cash).run()

    def apply(self, payload: Mapping[str, Any]) -> None:
        """Fold a Valuation payload into the register (live, replay and statements alike)."""
        for investor, change in payload["investors"].items():
            holding = self.holdings.setdefault(investor, Holding())
            holding.units = Decimal(change["units"])
            holding.hwm = Decimal(change["hwm"])
            holding.contributed += Decimal(change.get("contributed", "0"))
            holding.withdrawn += Decimal(change.get("withdrawn", "0"))
            holding.management_fees += Decimal(change.get("management_fee", "0"))
            holding.performance_fees += Decimal(change.get("performance_fee", "0"))
        self.pending = [Request.from_payload(p) for p in payload["pending"]]
        self.fees_owed = Decimal(payload["fees_owed"])
        self.price = Decimal(payload["price"])
        self.last_valued = parse_ts(payload["at"])


class _Valuation:
    """One valuation point's computation (kept apart so the steps read in order)."""

    def __init__(self, register: Register, at: datetime, assets: Decimal, cash: Decimal) -> None:
        self.r, self.at, self.terms = register, at, register.terms
        self.assets, self.cash = assets, cash
        self.units = {k: h.units for k, h in register.holdings.items()}
        self.hwm = {k: h.hwm for k, h in register.holdings.items()}
        self.changes: dict[str, dict[str, Decimal]] = {}
        self.deals: list[dict[str, Any]] = []
        self.pending: list[Request] = []

    def _change(self, investor: str, key: str, amount: Decimal) -> None:
        entry = self.changes.setdefault(investor, {})
        entry[key] = entry.get(key, ZERO) + amount

    def run(self) -> dict[str, Any]:
        t = self.terms
        owed_before = self.r.fees_owed
        net = self.assets - owed_before
        total = sum(self.units.values(), ZERO)
        management = ZERO
        if total > 0 and self.r.last_valued is not None and t.management_fee:
            years = _WIDE.divide(Decimal((self.at - self.r.last_valued).total_seconds()),
                                 _YEAR_S)
            management = _WIDE.multiply(_WIDE.multiply(net, t.management_fee), years) \
                .quantize(t.currency_step, ROUND_HALF_EVEN)
            management = max(management, ZERO)
            for investor, units in self.units.items():
                if units:
                    self._change(investor, "management_fee",
                                 _WIDE.divide(_WIDE.multiply(management, units), total))
        net -= management
        before_fees = self._price(net, total)
        performance = self._performance(before_fees) if total > 0 else ZERO
        net -= performance
        total = sum(self.units.values(), ZERO)
        price = self._price(net, total)
        fees_due = owed_before + management + performance
        due = [r for r in self.r.pending if r.requested <= _ts(self.at)]
        self.pending = [r for r in self.r.pending if r.requested > _ts(self.at)]
        cash_in = self._subscribe([r for r in due if r.kind == "subscribe"], price)
        cash = self.cash + cash_in
        fees_paid = min(fees_due, max(cash, ZERO))  # fees before any redemption
        cash -= fees_paid
        redeemed = ZERO
        for request in (r for r in due if r.kind == "redeem"):
            paid, cash = self._redeem(request, price, cash)
            redeemed += paid
        self.pending.sort(key=lambda r: r.seq)
        return {
            "at": _ts(self.at), "assets": self.assets, "fees_owed_before": owed_before,
            "management_fee": management, "performance_fee": performance,
            "price_before_fees": before_fees, "price": price,
            "fees_paid": fees_paid, "fees_owed": fees_due - fees_paid,
            "cash_in": cash_in, "redeemed": redeemed, "cash_out": redeemed + fees_paid,
            "units": sum(self.units.values(), ZERO), "deals": self.deals,
            "investors": {k: self._investor(k) for k in sorted(self.changes)},
            "pending": [p.to_payload() for p in self.pending],
        }

    def _price(self, net: Decimal, total: Decimal) -> Decimal:
        if total <= 0:
            return self.r.price if self.r.price is not None else self.terms.initial_price
        return _WIDE.divide(net, total).quantize(self.terms.price_step, ROUND_HALF_EVEN)

    def _performance(self, price: Decimal) -> Decimal:
        t, charged = self.terms, ZERO
        if not t.performance_fee:
            return ZERO
        for investor in sorted(self.units):
            units, mark = self.units[investor], self.hwm[investor]
            if units <= 0 or price <= mark:
                continue
            fee = _WIDE.multiply(_WIDE.multiply(t.performance_fee, price - mark), units) \
                .quantize(t.currency_step, ROUND_DOWN)
            cancelled = min(units, _WIDE.divide(fee, price).quantize(t.unit_step,
                                                                      ROUND_CEILING))
            self.units[investor] = units - cancelled
            self.hwm[investor] = price
            charged += fee
            self._change(investor, "performance_fee", fee)
            self._change(investor, "fee_units", cancelled)
        return charged

    def _subscribe(self, requests: list[Request], price: Decimal) -> Decimal:
        t, cash_in = self.terms, ZERO
        for request in requests:
            amount = request.amount or ZERO
            units = _WIDE.divide(amount, price).quantize(t.unit_step, ROUND_DOWN)
            held = self.units.get(request.investor, ZERO)
            self.units[request.investor] = held + units
            self.hwm[request.investor] = _blend(held, self.hwm.get(request.investor, ZERO),
                                                units, price, t.price_step)
            self._change(request.investor, "contributed", amount)
            cash_in += amount
            self.deals.append({"seq": request.seq, "investor": request.investor,
                               "kind": "subscribe", "amount": amount, "units": units,
                               "price": price})
        return cash_in

    def _redeem(self, request: Request, price: Decimal, cash: Decimal) -> tuple[Decimal, Decimal]:
        t = self.terms
        held = self.units.get(request.investor, ZERO)
        if request.units is not None:
            wanted = request.units
        else:
            wanted = _WIDE.divide(request.amount or ZERO, price).quantize(t.unit_step,
                                                                         ROUND_CEILING)
        if held <= 0 or (wanted > held and request.units is not None):
            self.deals.append({"seq": request.seq, "investor": request.investor,
                               "kind": "redeem", "rejected": f"holds {held} units, asked "
                                                             f"for {wanted}"})
            return ZERO, cash
        wanted = min(wanted, held)
        affordable = _WIDE.divide(max(cash, ZERO), price).quantize(t.unit_step, ROUND_DOWN)
        units = min(wanted, affordable)
        paid = _WIDE.multiply(units, price).quantize(t.currency_step, ROUND_DOWN)
        self.units[request.investor] = held - units
        self._change(request.investor, "withdrawn", paid)
        deal: dict[str, Any] = {"seq": request.seq, "investor": request.investor,
                                "kind": "redeem", "units": units, "paid": paid,
                                "price": price}
        if units < wanted:  # the gate: the rest waits for cash, in units
            rest = Request(seq=request.seq, investor=request.investor, kind="redeem",
                           requested=request.requested, units=wanted - units)
            self.pending.append(rest)
            deal["deferred_units"] = rest.units
        self.deals.append(deal)
        return paid, cash - paid

    def _investor(self, investor: str) -> dict[str, Any]:
        out: dict[str, Any] = {"units": self.units.get(investor, ZERO),
                               "hwm": self.hwm.get(investor, ZERO)}
        for key, value in self.changes[investor].items():
            out[key] = value
        return out


def _blend(held: Decimal, mark: Decimal, added: Decimal, price: Decimal,
           step: Decimal) -> Decimal:
    """The high-water mark of a holding topped up: the unit-weighted mean of the old mark
    and the dealing price (new money pays performance fees only on its own gains)."""
    total = held + added
    if total <= 0:
        return price
    return _WIDE.divide(held * mark + added * price, total).quantize(step, ROUND_HALF_EVEN)
