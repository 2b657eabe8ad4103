"""Canonical JSON and the transcodings of money and time.

Everything that is hashed goes through :func:`dumps` (orjson): sorted keys, no spaces,
UTF-8, ``Decimal`` as a plain decimal string (never a float, never exponent notation),
``datetime`` as a fixed-width UTC string, floats in their shortest round-trip form and
non-finite floats as ``null``. The same value always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

_LAST: tuple[datetime, str] = (datetime(1970, 1, 1, tzinfo=UTC), "1970-01-01T00:00:00.000000Z")
_BEFORE = _LAST


def format_ts(moment: datetime) -> str:
    """Return the canonical, fixed-width UTC form of an aware datetime."""
    global _LAST, _BEFORE
    # one wake formats its moment several times, and a window its start (the wake before)
    # and its end: the last two texts are kept
    last = _LAST
    if moment == last[0] and moment.tzinfo is not None:  # the same instant: the same text
        return last[1]
    before = _BEFORE
    if moment == before[0] and moment.tzinfo is not None:
        _LAST, _BEFORE = before, last
        return before[1]
    tz = moment.tzinfo
    if tz is not UTC:
        if tz is None:
            raise ValueError(f"naive datetime {moment!r}: every time in agentfund is UTC-aware")
        moment = moment.astimezone(UTC)
    # a UTC datetime's ISO form ends in "+00:00": one C call, then the suffix swapped
    text = moment.isoformat(timespec="microseconds")[:-6] + "Z"
    _LAST, _BEFORE = (moment, text), last
    return text


_DAYS: dict[int, str] = {}  # days since the epoch: their dates' text


def format_epoch(seconds: int) -> str:
    """:func:`format_ts` of a whole number of seconds since the epoch, computed from the
    number (a candle's time: the same text, without a datetime made for it)."""
    day, rest = divmod(seconds, 86_400)
    date = _DAYS.get(day)
    if date is None:
        if len(_DAYS) > 4096:
            _DAYS.clear()
        date = _DAYS[day] = format_ts(datetime.fromtimestamp(day * 86_400, UTC))[:10]
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{date}T{hours:02}:{minutes:02}:{secs:02}.000000Z"


def parse_ts(text: str) -> datetime:
    """Parse a canonical timestamp back into an aware UTC datetime."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def format_decimal(value: Decimal) -> str:
    """Return a Decimal as a plain decimal string (no exponent)."""
    if not value.is_finite():
        raise ValueError(f"non-finite decimal {value!r} cannot be journaled")
    return format(value, "f")


def float_price(value: float) -> str:
    """Return the canonical decimal string of the shortest repr of a float price."""
    text = repr(value)
    return text if "e" not in text else format_decimal(Decimal(text))


def _default(value: object) -> str:
    if type(value) is Decimal:
        text = str(value)  # the plain form unless it takes an exponent (faster than "f")
        if text[-1].isdigit() and "E" not in text:
            return text
        return format_decimal(value)  # raises for NaN and infinities
    if isinstance(value, datetime):
        return format_ts(value)
    raise TypeError(f"{type(value).__name__} is not journal-serialisable: {value!r}")


_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def dumps(value: Any) -> str:
    """Encode a JSON-able value (Decimals and datetimes allowed) canonically."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS).decode()
    except orjson.JSONEncodeError as exc:
        raise TypeError(str(exc)) from None


def loads(text: str | bytes) -> Any:
    """Decode canonical JSON (Decimals come back as strings; convert where used)."""
    return orjson.loads(text)


def decimals(mapping: Mapping[str, str]) -> dict[str, Decimal]:
    """Convert a mapping of decimal strings into Decimals."""
    return {key: Decimal(value) for key, value in mapping.items()}
