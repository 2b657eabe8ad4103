"""How numbers are shown: the one formatter of the report, the UI and the CLI tables.

The journal keeps exact decimals (28 significant digits and more); only what is *shown*
is rounded, here:

* money (NAV, cash, fees, flows) to the cent, with thousands separators — a non-zero
  amount under a cent to two significant digits, so it does not read as nothing;
* an amount or a price to its market's step (``amount_step``, ``price_step``), or, for a
  market without one, to ``DIGITS`` significant digits (tiny prices keep theirs);
* a fraction as a percentage with two decimals; a ratio (Sharpe) with two;
* nothing (None, NaN, an empty string) as an em dash.

Every function takes a Decimal, a float, an int, or a decimal string (as payloads carry
them) and never raises on a number: what is not one is shown as it is.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext

from fund.markets import Market

NOTHING = "—"
DIGITS = 8
"""Significant digits of an amount or price whose market has no step."""
MAX_PLACES = 12
CENT = Decimal("0.01")

Number = Decimal | float | int | str | None


def _decimal(value: Number) -> Decimal | None:
    """The value as a finite Decimal, or None for nothing (None, NaN, '', infinity)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _grouped(number: Decimal, places: int) -> str:
    """``number`` rounded half-even to ``places`` decimals, with thousands separators."""
    with localcontext() as context:
        context.prec = max(60, number.adjusted() + places + 4)
        rounded = number.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    text = f"{rounded:,.{places}f}"
    return "0" + text[2:] if text.startswith("-0") and not rounded else text


def money(value: Number, quote: str = "") -> str:
    """A money figure to the cent ('34,403.82 USDT'); under a cent, two significant digits."""
    number = _decimal(value)
    if number is None:
        return _raw(value)
    small = number and abs(number) < CENT / 2
    text = significant(number, 2) if small else _grouped(number, 2)
    return f"{text} {quote}".strip()


def significant(value: Number, digits: int = DIGITS) -> str:
    """A number to ``digits`` significant digits (no exponent, trailing zeros dropped);
    whole digits are never dropped."""
    number = _decimal(value)
    if number is None:
        return _raw(value)
    if not number:
        return "0"
    places = min(max(digits - 1 - number.adjusted(), 0), MAX_PLACES + 8)
    text = _grouped(number, places)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _places(step: Decimal | None) -> int | None:
    if step is None or step <= 0:
        return None
    return max(-step.normalize().as_tuple().exponent, 0)  # type: ignore[operator]


def amount(value: Number, market: Market | None = None) -> str:
    """An amount of an asset to its market's lot step, or to ``DIGITS`` significant digits."""
    places = _places(market.amount_step if market else None)
    if places is None:
        return significant(value)
    number = _decimal(value)
    return _raw(value) if number is None else _grouped(number, places)


def price(value: Number, market: Market | None = None) -> str:
    """A price to its market's tick, or to ``DIGITS`` significant digits (tiny ones too)."""
    places = _places(market.price_step if market else None)
    if places is None:
        return significant(value)
    number = _decimal(value)
    return _raw(value) if number is None else _grouped(number, places)


def units(value: Number) -> str:
    """Fund units (shares): up to eight decimals, trailing zeros dropped."""
    number = _decimal(value)
    if number is None:
        return _raw(value)
    text = _grouped(number, 8)
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent(value: Number, places: int = 2) -> str:
    """A fraction as a percentage ('30.76 %')."""
    number = _decimal(value)
    if number is None:
        return _raw(value)
    return f"{_grouped(number * 100, places)} %"


def signed_percent(value: Number, places: int = 2) -> str:
    """A fraction as a percentage with its sign ('+30.76 %')."""
    text = percent(value, places)
    number = _decimal(value)
    return f"+{text}" if number is not None and number >= 0 and text[0].isdigit() else text


def ratio(value: Number, places: int = 2) -> str:
    """A ratio (Sharpe, Sortino, turnover) with ``places`` decimals."""
    number = _decimal(value)
    return _raw(value) if number is None else _grouped(number, places)


def count(value: int | None) -> str:
    """A count with thousands separators."""
    return NOTHING if value is None else f"{value:,}"


def period(years: float) -> str:
    """A period's length: '182 days' under two years, else '2.5 years'."""
    days = years * 365.25
    if years >= 2:
        return f"{years:.1f} years"
    return f"{days:,.0f} day{'' if round(days) == 1 else 's'}"


def annualised(value: Number, years: float) -> str:
    """An annualised return, said to be an extrapolation when the period is under a year."""
    text = percent(value)
    if years >= 1 or text == NOTHING:
        return text
    return f"{text} (extrapolated from {period(years)})"


def _raw(value: object) -> str:
    if value is None or value == "" or (isinstance(value, float) and not math.isfinite(value)):
        return NOTHING
    return str(value)
