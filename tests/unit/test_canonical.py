"""Tests of fund.canonical: canonical JSON, Decimal and timestamp transcoding."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fund.canonical import (
    decimals,
    dumps,
    float_price,
    format_decimal,
    format_epoch,
    format_ts,
    loads,
    parse_ts,
)

CANONICAL_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


# --------------------------------------------------------------------------------------
# dumps: sorted keys, no spaces


def test_dumps_sorts_keys_at_every_level_and_has_no_spaces() -> None:
    # Arrange
    value = {"b": 1, "a": {"d": [3, {"z": None, "y": True}], "c": "x y"}, "A": False}

    # Act
    text = dumps(value)

    # Assert
    assert text == '{"A":false,"a":{"c":"x y","d":[3,{"y":true,"z":null}]},"b":1}'


def test_dumps_is_utf8_not_ascii_escaped() -> None:
    # Act / Assert
    assert dumps({"name": "café €"}) == '{"name":"café €"}'


def test_dumps_floats_shortest_and_non_finite_as_null() -> None:
    # Act / Assert
    assert dumps([0.1, 1.5, -2.0]) == "[0.1,1.5,-2.0]"
    assert dumps([float("nan"), float("inf"), float("-inf")]) == "[null,null,null]"


def test_dumps_tuples_as_arrays() -> None:
    # Act / Assert
    assert dumps({"pairs": (("BTC/USDT", Decimal("0.5")),)}) == '{"pairs":[["BTC/USDT","0.5"]]}'


# --------------------------------------------------------------------------------------
# Decimal


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("1E+2"), "100"),
    (Decimal("1.2E-7"), "0.00000012"),
    (Decimal("123.4500"), "123.4500"),
    (Decimal("-0.000001"), "-0.000001"),
    (Decimal("0E-10"), "0.0000000000"),
    (Decimal("0"), "0"),
    (Decimal("5E+20"), "500000000000000000000"),
    (Decimal("-1.000000000000000000000000000001"), "-1.000000000000000000000000000001"),
])
def test_decimals_are_plain_strings_without_exponent(value: Decimal, text: str) -> None:
    # Act
    encoded = dumps({"v": value})

    # Assert
    assert encoded == f'{{"v":"{text}"}}'
    assert format_decimal(value) == text
    assert Decimal(loads(encoded)["v"]) == value


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_any_finite_decimal_round_trips_exactly(value: Decimal) -> None:
    # Act
    text = loads(dumps(value))

    # Assert
    assert isinstance(text, str)
    assert "e" not in text.lower()
    assert re.fullmatch(r"-?\d+(\.\d+)?", text)
    assert Decimal(text) == value


@pytest.mark.parametrize("value", ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_decimals_raise(value: str) -> None:
    # Act / Assert
    with pytest.raises((TypeError, ValueError)):
        dumps({"v": Decimal(value)})
    with pytest.raises(ValueError):
        format_decimal(Decimal(value))


def test_decimals_helper_converts_strings() -> None:
    # Act
    result = decimals({"BTC/USDT": "42000.5", "ETH/USDT": "1E+3"})

    # Assert
    assert result == {"BTC/USDT": Decimal("42000.5"), "ETH/USDT": Decimal("1000")}
    assert all(type(v) is Decimal for v in result.values())


@pytest.mark.parametrize(("price", "text"), [
    (42000.5, "42000.5"), (1e-07, "0.0000001"), (0.1, "0.1"), (1.5e16, "15000000000000000")])
def test_float_price_is_a_plain_shortest_decimal(price: float, text: str) -> None:
    # Act
    result = float_price(price)

    # Assert
    assert Decimal(result) == Decimal(text)
    assert "e" not in result.lower()


# --------------------------------------------------------------------------------------
# timestamps


def test_datetime_is_fixed_width_utc() -> None:
    # Arrange
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

    # Act / Assert
    assert format_ts(moment) == "2024-01-02T03:04:05.000000Z"
    assert dumps({"t": moment}) == '{"t":"2024-01-02T03:04:05.000000Z"}'


def test_non_utc_datetime_is_converted_to_utc() -> None:
    # Arrange: 01:30 in UTC−05:00 on 1 Jan is 06:30 UTC
    moment = datetime(2024, 1, 1, 1, 30, 0, 250, tzinfo=timezone(timedelta(hours=-5)))

    # Act / Assert
    assert format_ts(moment) == "2024-01-01T06:30:00.000250Z"
    assert format_ts(datetime(2024, 7, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))) == (
        "2024-07-01T10:00:00.000000Z")


def test_naive_datetime_is_rejected() -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="naive"):
        format_ts(datetime(2024, 1, 1))
    with pytest.raises(TypeError):
        dumps({"t": datetime(2024, 1, 1)})


def test_parse_ts_rejects_text_without_zone() -> None:
    # Act / Assert
    with pytest.raises(ValueError):
        parse_ts("2024-01-01T00:00:00.000000")


def test_parse_ts_converts_offsets_to_utc() -> None:
    # Act
    moment = parse_ts("2024-01-01T02:00:00.000000+02:00")

    # Assert
    assert moment == datetime(2024, 1, 1, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(0)


aware = st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                timezone(timedelta(hours=-8))]))
# (zones with DST are left to the explicit tests: Python's == between zones is False for
#  times in a DST gap or fold, whatever the formatting does)


@given(aware)
def test_timestamps_round_trip(moment: datetime) -> None:
    # Act
    text = format_ts(moment)
    back = parse_ts(text)

    # Assert
    assert CANONICAL_TS.match(text), text
    assert back == moment
    assert back.tzinfo is UTC or back.utcoffset() == timedelta(0)
    assert format_ts(back) == text


def test_years_before_1000_are_still_fixed_width() -> None:
    # Arrange
    moment = datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC)

    # Act
    text = format_ts(moment)

    # Assert
    assert text == "0999-12-31T23:59:59.000000Z"
    assert parse_ts(text) == moment


def test_ambiguous_local_times_format_to_their_own_instant() -> None:
    # Arrange: 01:30 happens twice in London on 2024-10-27 (BST, then GMT). The two
    # datetimes compare equal and hash alike (same tzinfo, fold ignored) but are an hour
    # apart; a cache keyed on the datetime must not hand one the other's string.
    london = ZoneInfo("Europe/London")
    first = datetime(2024, 10, 27, 1, 30, tzinfo=london, fold=0)
    second = datetime(2024, 10, 27, 1, 30, tzinfo=london, fold=1)

    # Act
    texts = (format_ts(first), format_ts(second))

    # Assert
    assert texts == ("2024-10-27T00:30:00.000000Z", "2024-10-27T01:30:00.000000Z")


# --------------------------------------------------------------------------------------
# unsupported values


@pytest.mark.parametrize("value", [
    {1, 2}, b"bytes", object(), 1 + 2j, date(2024, 1, 1), {1: "int key"}, 2**64,
])
def test_unsupported_values_raise_type_error(value: object) -> None:
    # Act / Assert
    with pytest.raises(TypeError):
        dumps({"v": value})


# --------------------------------------------------------------------------------------
# determinism over nested JSON-ish values

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)  # UTF-8 encodable
keys = text
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), text,
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1),
                 timezones=st.just(UTC)),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


def expected_json(value: Any) -> Any:
    """What the canonical form decodes to, computed independently."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dict):
        return {k: expected_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expected_json(v) for v in value]
    return value


def reversed_order(value: Any) -> Any:
    """The same value with every dict built in the reverse insertion order."""
    if isinstance(value, dict):
        return {k: reversed_order(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_order(v) for v in value]
    return value


@settings(max_examples=200)
@given(values)
def test_same_value_gives_same_bytes(value: Any) -> None:
    # Act
    first = dumps(value)

    # Assert
    assert dumps(copy.deepcopy(value)) == first
    assert dumps(reversed_order(value)) == first
    assert loads(first) == expected_json(value)
    assert json.loads(first) == loads(first)  # standard JSON
    reencoded = json.dumps(loads(first), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    assert json.loads(reencoded) == json.loads(first)
    assert loads(dumps(loads(first))) == loads(first)


@given(st.integers(min_value=-62_135_596_800, max_value=253_402_300_799))
def test_format_epoch_is_format_ts_of_the_same_second(seconds: int) -> None:
    # Act
    text = format_epoch(seconds)

    # Assert
    assert text == format_ts(datetime.fromtimestamp(seconds, UTC))
    assert CANONICAL_TS.match(text)


def test_format_ts_gives_each_moment_its_own_text_whatever_came_before() -> None:
    """The last two texts are kept (a news window formats its start and end in turn):
    alternating moments, one repeated, an equal instant in another zone, a third one — each
    is the text computed from scratch."""
    first = datetime(2024, 3, 1, 12, 5, tzinfo=UTC)
    second = first + timedelta(minutes=5, microseconds=7)
    third = second + timedelta(days=400)
    elsewhere = first.astimezone(timezone(timedelta(hours=-5)))
    for moment in (first, second, first, second, second, elsewhere, third, first, third,
                   second):
        utc = moment.astimezone(UTC)
        expected = f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}Z"
        assert format_ts(moment) == expected
