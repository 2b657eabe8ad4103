"""The fund's performance figures: one definition, used by every page that shows one.

Performance is measured on the **unit value**, never on the NAV itself, so money coming in
or going out is not return (a time-weighted measure):

* a fund with investor accounts: NAV per share, ``(NAV − fees owed) / units outstanding``;
* a fund without: the value of a unit that a deposit buys, and a withdrawal cancels, at the
  unit value of the moment (the first deposit buys one unit per unit of money).

The curve is the unit value times the first capital's units: what the money the fund
started with would be worth, held throughout. The summary (``summary.json``), the HTML
report, the UI (Overview, Charts, Backtests) and ``fund statement`` all call this module;
``docs/metrics.md`` defines every figure. Figures are floats (for charts and ratios); the
books keep exact decimals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
import numpy.typing as npt

from fund.canonical import parse_ts
from fund.display import money
from fund.messages import DEPOSIT, START, VALUATION
from fund.money import STANDARD

YEAR_SECONDS = 365.25 * 24 * 3600
ZERO = Decimal(0)
Floats = npt.NDArray[np.float64]

INFLOWS = ("subscription", "deposit")
OUTFLOWS = ("redemption", "withdrawal")


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    """Money that came into the fund or left it (``amount`` > 0; ``kind`` says which way)."""

    at: float  # epoch seconds
    kind: str  # subscription, redemption, deposit or withdrawal
    amount: Decimal
    investor: str = ""

    @property
    def inflow(self) -> bool:
        """Whether the money came in."""
        return self.kind in INFLOWS

    def describe(self, quote: str = "") -> str:
        """One line: 'subscription of 5,000.00 USDT by alice'."""
        who = f" by {self.investor}" if self.investor else ""
        return f"{self.kind} of {money(self.amount, quote)}{who}"


def flows_of(kind: str, ts: str, payload: Mapping[str, Any]) -> list[Flow]:
    """The money a Deposit or Valuation entry moved in or out (none for other kinds)."""
    if kind == DEPOSIT:
        amount = Decimal(str(payload["amount"]))
        if not amount:
            return []
        return [Flow(at=parse_ts(ts).timestamp(), kind="deposit" if amount > 0 else
                     "withdrawal", amount=abs(amount), investor=str(payload.get("by") or ""))]
    if kind != VALUATION:
        return []
    at = parse_ts(payload["at"]).timestamp()
    out = []
    for deal in payload.get("deals", ()):
        if deal.get("kind") == "subscribe" and deal.get("amount") is not None:
            out.append(Flow(at=at, kind="subscription", amount=Decimal(str(deal["amount"])),
                            investor=str(deal.get("investor", ""))))
        elif deal.get("kind") == "redeem" and Decimal(str(deal.get("paid", "0"))) > 0:
            out.append(Flow(at=at, kind="redemption", amount=Decimal(str(deal["paid"])),
                            investor=str(deal.get("investor", ""))))
    return out


def unit_value(nav: Decimal, *, units: Decimal, fees_owed: Decimal, last_price: Decimal,
               scale: Decimal) -> float:
    """NAV per share ``(nav − fees owed) / units`` (the last price while no unit is out),
    times ``scale`` (the first capital's units): the point of the curve every figure uses."""
    with localcontext(STANDARD):
        price = (nav - fees_owed) / units if units > 0 else last_price
        return float(price * scale)


@dataclass(slots=True)
class Units:
    """Units outstanding, fees owed and the flows, folded from an actor's stream.

    With investor accounts, the units and fees owed are the Valuation entries' own; without,
    deposits and withdrawals issue and cancel units at the unit value just before them.
    """

    accounts: bool = False
    initial_price: Decimal = Decimal(1)
    units: Decimal = ZERO
    fees_owed: Decimal = ZERO
    price: Decimal | None = None  # the last NAV per share (or unit value)
    scale: Decimal | None = None  # the first capital's units; None before any money came in
    flows: list[Flow] = field(default_factory=list)

    @property
    def start(self) -> float | None:
        """The curve's value at the start: the first capital (None before any)."""
        return None if self.scale is None else float(self.initial_price * self.scale)

    def apply(self, kind: str, ts: str, payload: Mapping[str, Any], nav_before: Decimal) -> None:
        """Fold one entry (``nav_before``: the NAV just before it); other kinds are ignored."""
        if kind == START:
            accounting = payload.get("accounting")
            self.accounts = bool(accounting)
            if accounting:
                self.initial_price = Decimal(str(accounting["terms"]["initial_price"]))
            return
        moved = flows_of(kind, ts, payload)
        self.flows.extend(moved)
        if kind == VALUATION and self.accounts:
            if self.scale is None and Decimal(str(payload["cash_in"])) > 0:
                self.scale = Decimal(str(payload["cash_in"])) / self.initial_price
            self.units = Decimal(str(payload["units"]))
            self.fees_owed = Decimal(str(payload["fees_owed"]))
            self.price = Decimal(str(payload["price"]))
        elif kind == DEPOSIT and not self.accounts and moved:
            self._deposit(Decimal(str(payload["amount"])), nav_before)

    def _deposit(self, amount: Decimal, nav_before: Decimal) -> None:
        with localcontext(STANDARD):
            price = nav_before / self.units if self.units > 0 else self.price
            if price is None or price <= 0:
                price = self.price if self.price and self.price > 0 else self.initial_price
            if self.scale is None:
                self.scale = amount / price
            self.units = max(self.units + amount / price, ZERO)
            self.price = price

    def value(self, nav: Decimal) -> float:
        """The curve's value at this NAV (NaN before any money came in)."""
        if self.scale is None:
            return math.nan
        if not self.accounts and self.units == self.scale:
            return float(nav)  # no unit issued since the first: the NAV itself, exactly
        last = self.price if self.price is not None else self.initial_price
        return unit_value(nav, units=self.units, fees_owed=self.fees_owed, last_price=last,
                          scale=self.scale)


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    """Return and risk figures of one unit-value curve (fractions, not percent)."""

    total_return: float
    annualized_return: float
    volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    current_drawdown: float
    periods_per_year: float
    years: float

    @property
    def annualised(self) -> bool:
        """Whether the period is a year or longer (shorter ones are shown unannualised)."""
        return self.years >= 1.0


def _annualize(total: float, span: float) -> float:
    """Compound a return over ``span`` seconds to a year (inf when it overflows a float)."""
    if span <= 0:
        return 0.0
    if total <= -1.0:
        return -1.0
    try:
        return math.expm1(math.log1p(total) * YEAR_SECONDS / span)
    except OverflowError:
        return math.inf


def drawdowns(values: Sequence[float] | Floats, start: float | None = None) -> Floats:
    """The fall below the running peak (``start`` included) at every point, as a positive
    fraction; 0 under a peak of 0 or less, NaN where the value is NaN."""
    curve = np.asarray(values, dtype=np.float64)
    if not len(curve):
        return curve
    seed = curve if start is None else np.concatenate(([start], curve))
    peaks = np.fmax.accumulate(np.where(np.isfinite(seed), seed, -np.inf))
    peaks = peaks[-len(curve):]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peaks > 0, np.maximum(1.0 - curve / peaks, 0.0), 0.0) + curve * 0.0


def compute_metrics(times: Sequence[float] | Floats, nav: Sequence[float] | Floats,
                    initial: float) -> Metrics:
    """Compute the figures of a unit-value curve (epoch seconds) from the start ``initial``.

    Returns are simple returns between consecutive points, the first measured from the
    start. Volatility = sample std × √(periods per year); Sharpe = mean / sample std ×
    √(periods per year), risk-free rate 0; Sortino uses the downside deviation
    √(mean(min(r, 0)²)). Periods per year come from the median spacing of the points. Max
    drawdown is the largest fall from a running peak (the start included), as a positive
    fraction. Points before the curve has a value (NaN) are left out.
    """
    values = np.asarray(nav, dtype=np.float64)
    stamps = np.asarray(times, dtype=np.float64)
    kept = np.isfinite(values)
    values, stamps = values[kept], stamps[kept]
    if not len(values) or not initial:
        return Metrics(total_return=0.0, annualized_return=0.0, volatility=0.0, sharpe=0.0,
                       sortino=0.0, max_drawdown=0.0, current_drawdown=0.0,
                       periods_per_year=0.0, years=0.0)
    curve = np.concatenate(([initial], values))
    returns = curve[1:] / curve[:-1] - 1.0
    total = float(curve[-1] / initial - 1.0)
    span = float(stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    gaps = np.diff(stamps)
    spacing = float(np.median(gaps)) if len(gaps) else 0.0
    per_year = YEAR_SECONDS / spacing if spacing > 0 else 0.0
    volatility = sharpe = sortino = 0.0
    if len(returns) > 1 and per_year:
        std = float(np.std(returns, ddof=1))
        mean = float(np.mean(returns))
        downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
        volatility = std * math.sqrt(per_year)
        sharpe = mean / std * math.sqrt(per_year) if std > 0 else 0.0
        sortino = mean / downside * math.sqrt(per_year) if downside > 0 else 0.0
    fallen = drawdowns(values, initial)
    return Metrics(total_return=total, annualized_return=_annualize(total, span),
                   volatility=volatility, sharpe=sharpe, sortino=sortino,
                   max_drawdown=max(0.0, float(np.nanmax(fallen))),
                   current_drawdown=float(fallen[-1]), periods_per_year=per_year,
                   years=span / YEAR_SECONDS)


def cash_share(cash: Sequence[float] | Floats, nav: Sequence[float] | Floats) -> float:
    """The fund's mean share of its NAV held in cash over its points (0 without points)."""
    held, total = np.asarray(cash, dtype=np.float64), np.asarray(nav, dtype=np.float64)
    ok = np.isfinite(held) & np.isfinite(total) & (total > 0)
    if not ok.any():
        return 0.0
    return float(np.clip(held[ok] / total[ok], 0.0, 1.0).mean())


def buy_and_hold(prices: Sequence[Sequence[float]] | Floats, start: float,
                 cash: float) -> Floats:
    """The benchmark: ``start`` money put, at the first point where every market has a
    price, equally into the markets (prices: one row per market) but for the fund's own
    cash share ``cash``, kept in cash; held to the end, no fees. NaN before that point."""
    table = np.asarray(prices, dtype=np.float64)
    points = table.shape[1] if table.ndim == 2 else 0
    result = np.full(points, np.nan)
    if not points or not table.shape[0]:
        return result
    ok = np.all(np.isfinite(table) & (table > 0), axis=0)
    if not ok.any():
        return result
    first = int(np.argmax(ok))
    units = start * (1.0 - cash) / table.shape[0] / table[:, first]
    held = np.where(np.isfinite(table), table, 0.0) * units[:, None]
    result[first:] = held.sum(axis=0)[first:] + start * cash
    return result


def over_period(annual_rate: float | None, years: float) -> float | None:
    """An annual rate of return as the return over ``years`` (for periods under a year)."""
    if annual_rate is None or annual_rate <= -1.0:
        return annual_rate
    try:
        return math.expm1(math.log1p(annual_rate) * years)
    except OverflowError:
        return math.inf


PERIODS = ("day", "week", "month")
"""The calendar periods of :func:`calendar_returns` (UTC; weeks start on Monday)."""
DAY_SECONDS = 86_400


def _period_start(seconds: float, period: str) -> float:
    """The start (epoch seconds, UTC) of the day, ISO week or month holding ``seconds``."""
    day = math.floor(seconds / DAY_SECONDS)
    if period == "day":
        return float(day * DAY_SECONDS)
    if period == "week":  # 1970-01-01 was a Thursday: Monday is 3 days before
        return float(((day + 3) // 7 * 7 - 3) * DAY_SECONDS)
    if period == "month":
        month = np.datetime64(int(day), "D").astype("datetime64[M]")
        return float(month.astype("datetime64[s]").astype(np.int64))
    raise ValueError(f"period {period!r} is not one of {', '.join(PERIODS)}")


def calendar_returns(times: Sequence[float] | Floats, values: Sequence[float] | Floats,
                     start: float, period: str) -> list[tuple[float, float]]:
    """The return of a unit-value curve over each calendar day, week or month (UTC) that
    has a point: its last value over the last value before the period (``start``, the
    first capital, for the first) − 1; as (the period's start in epoch seconds, return).

    Chained, they give the total return: ∏(1 + r) − 1 = last value / start − 1.
    Points without a value (NaN) are left out.
    """
    out: list[tuple[float, float]] = []
    previous = start
    current: float | None = None
    last = math.nan
    for at, value in zip(times, values, strict=True):
        if not math.isfinite(value):
            continue
        begins = _period_start(float(at), period)
        if current is not None and begins != current:
            out.append((current, last / previous - 1.0 if previous else math.nan))
            previous = last
        current, last = begins, float(value)
    if current is not None:
        out.append((current, last / previous - 1.0 if previous else math.nan))
    return out
