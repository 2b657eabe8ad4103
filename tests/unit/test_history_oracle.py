"""The historical price oracle shows a candle only once it has closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from agentfund.backtests.data import DataError, load_candles
from agentfund.backtests.oracle import HistoricalPrices
from agentfund.oracles.base import OracleError
from tests.conftest import SAMPLE_PRICES

FIVE = timedelta(minutes=5)


class NoBlobs:
    def put_blob(self, data: bytes) -> str:
        raise AssertionError("prices need no blobs")


def observe(at: datetime) -> dict[str, dict[str, str]]:
    candles = load_candles(SAMPLE_PRICES, "BTC/USDT", FIVE)
    prices: dict[str, dict[str, str]] = HistoricalPrices("prices", {"BTC/USDT": candles}).observe(
        at, NoBlobs())["prices"]
    return prices


def test_at_a_wake_the_last_completed_candle_is_seen_never_the_one_opening() -> None:
    frame = pd.read_feather(SAMPLE_PRICES / "BTC_USDT-5m.feather").set_index("date")
    wake = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

    seen = observe(wake)["BTC/USDT"]

    completed = frame.loc[pd.Timestamp(wake - FIVE)]  # opened 11:55, closed 12:00
    opening = frame.loc[pd.Timestamp(wake)]  # opens 12:00: still forming
    assert Decimal(seen["price"]) == Decimal(repr(float(completed["close"])))
    assert Decimal(seen["price"]) != Decimal(repr(float(opening["close"])))
    assert seen["time"] == "2024-03-01T12:00:00.000000Z"


def test_one_microsecond_before_a_close_shows_the_previous_candle() -> None:
    just_before = datetime(2024, 3, 1, 12, 0, tzinfo=UTC) - timedelta(microseconds=1)

    assert observe(just_before)["BTC/USDT"]["time"] == "2024-03-01T11:55:00.000000Z"


def test_before_the_first_close_there_is_nothing_to_see() -> None:
    with pytest.raises(OracleError, match="no completed candle"):
        observe(datetime(2024, 1, 1, 0, 4, tzinfo=UTC))


def test_unordered_history_is_rejected(tmp_path: Path) -> None:
    frame = pd.read_feather(SAMPLE_PRICES / "BTC_USDT-5m.feather").head(10)
    frame.iloc[::-1].to_csv(tmp_path / "BTC_USDT-5m.csv", index=False)

    with pytest.raises(DataError, match="not strictly increasing"):
        load_candles(tmp_path, "BTC/USDT", FIVE)


def test_markets_sharing_close_times_and_repeated_wakes_see_the_same_quotes() -> None:
    btc = load_candles(SAMPLE_PRICES, "BTC/USDT", FIVE)
    oracle = HistoricalPrices("prices", {"BTC/USDT": btc, "BTC/ALSO": btc})
    wake = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

    first = oracle.observe(wake, NoBlobs())["prices"]
    again = oracle.observe(wake + timedelta(minutes=1), NoBlobs())["prices"]  # same candle
    later = oracle.observe(wake + FIVE, NoBlobs())["prices"]

    assert oracle.symbols == ("BTC/USDT", "BTC/ALSO")
    assert first == again == {"BTC/USDT": observe(wake)["BTC/USDT"],
                              "BTC/ALSO": observe(wake)["BTC/USDT"]}
    assert later["BTC/USDT"] == observe(wake + FIVE)["BTC/USDT"] != first["BTC/USDT"]
