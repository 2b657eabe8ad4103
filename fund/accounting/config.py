"""The ``[accounting]`` section and the flows a backtest replays (``[[flows]]`` or a CSV)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from fund.accounting.register import Terms
from fund.accounting.spec import AccountingSpec
from fund.money import exact_amount


def _amount(value: Any, handler: ValidatorFunctionWrapHandler) -> Decimal:
    amount: Decimal = handler(value)
    return exact_amount(amount, written=value)


Amount = Annotated[Decimal, WrapValidator(_amount)]
"""An amount of money (or units) in a config: finite, below 10^15, at most 12 places,
and exactly as written (see :func:`fund.money.exact_amount`)."""


class AccountingSection(BaseModel):
    """``[accounting]``: investor accounts for every actor of the fund."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    management_fee: Decimal = Field(default=Decimal(0), ge=0, lt=1)
    performance_fee: Decimal = Field(default=Decimal(0), ge=0, lt=1)
    # NAV per share is kept to 10 places (Terms.price_step): start well above that
    initial_price: Amount = Field(default=Decimal(1), ge=Decimal("0.0001"))
    currency_step: Amount = Field(default=Decimal("0.01"), gt=0)
    valuation_cron: str = "0 0 * * *"
    seed_investor: str = Field(default="founder", min_length=1, max_length=64)
    flows_csv: Path | None = None  # backtests: at,investor,action,amount,units[,actor]

    def spec(self) -> AccountingSpec:
        """The journaled accounting spec."""
        return AccountingSpec(
            terms=Terms(management_fee=self.management_fee,
                        performance_fee=self.performance_fee,
                        initial_price=self.initial_price, currency_step=self.currency_step),
            valuation_cron=self.valuation_cron, seed_investor=self.seed_investor)


class FlowSection(BaseModel):
    """One ``[[flows]]`` table: an investor's subscription or redemption at a time."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    at: datetime | date
    investor: str = Field(min_length=1, max_length=64)
    actor: str | None = None
    subscribe: Amount | None = Field(default=None, gt=0)
    redeem: Amount | None = Field(default=None, gt=0)
    redeem_units: Amount | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_action(self) -> FlowSection:
        given = [k for k in ("subscribe", "redeem", "redeem_units") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of subscribe, redeem (an amount) or "
                             "redeem_units")
        return self


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    """A request to replay in a backtest, at its time."""

    at: datetime
    actor: str | None
    investor: str
    kind: str  # "subscribe" | "redeem"
    amount: Decimal | None = None
    units: Decimal | None = None


def _utc(value: datetime | date) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def from_sections(sections: list[FlowSection]) -> list[Flow]:
    """The ``[[flows]]`` tables as flows."""
    return [Flow(at=_utc(f.at), actor=f.actor, investor=f.investor,
                 kind="subscribe" if f.subscribe else "redeem",
                 amount=f.subscribe or f.redeem, units=f.redeem_units) for f in sections]


class FlowsError(ValueError):
    """A flows CSV row is malformed; the message names the file, row and column."""


def from_csv(path: Path) -> list[Flow]:
    """Read ``at,investor,action,amount,units[,actor]`` rows (action subscribe|redeem)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise FlowsError(f"{path}: cannot read flows: {exc.strerror or exc}") from None
    flows = []
    for number, row in enumerate(rows, start=2):
        where = f"{path}:{number}"
        try:
            at = _utc(datetime.fromisoformat(row["at"].strip()))
            action = row["action"].strip()
            amount = _positive(row.get("amount"), f"{where}: amount")
            units = _positive(row.get("units"), f"{where}: units")
        except (KeyError, AttributeError):
            raise FlowsError(f"{where}: needs columns at, investor, action, amount, "
                             "units") from None
        except ValueError as exc:
            raise FlowsError(str(exc) if str(exc).startswith(where) else
                             f"{where}: at: {exc}") from None
        if action not in ("subscribe", "redeem"):
            raise FlowsError(f"{where}: action {action!r} is not subscribe or redeem")
        if action == "subscribe" and (amount is None or units is not None):
            raise FlowsError(f"{where}: a subscription is an amount (and no units)")
        if action == "redeem" and (amount is None) == (units is None):
            raise FlowsError(f"{where}: a redemption is an amount or units (one of them)")
        investor = (row.get("investor") or "").strip()
        if not investor:
            raise FlowsError(f"{where}: no investor")
        flows.append(Flow(at=at, actor=(row.get("actor") or "").strip() or None,
                          investor=investor, kind=action, amount=amount, units=units))
    return flows


def _positive(text: str | None, where: str) -> Decimal | None:
    if text is None or not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{where}: {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{where}: {text} is not a positive number")
    try:
        return exact_amount(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
