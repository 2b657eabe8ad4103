"""Candle timeframes: a ccxt label (``5m``, ``1h``, ``1d``) and its length."""

from __future__ import annotations


def timeframe_seconds(label: str) -> int:
    """The length of a timeframe label in seconds; ValueError naming it if it is not one."""
    import ccxt  # type: ignore[import-untyped]

    try:
        seconds = int(ccxt.Exchange.parse_timeframe(label))
    except Exception:  # noqa: BLE001 - ccxt raises plain exceptions for bad labels
        seconds = 0
    if seconds <= 0:
        raise ValueError(f"{label!r} is not a timeframe like 1m, 1h, 1d")
    return seconds
