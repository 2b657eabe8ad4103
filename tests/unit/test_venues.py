"""Exchange capabilities (fund/exchange/venues.py): order kinds, client order ids, the docs."""

from __future__ import annotations

import pytest

from fund.exchange.venues import VENUES, UnsupportedVenue, capabilities_table, venue
from tests.conftest import ROOT


def test_the_docs_table_is_the_one_generated_from_the_venues() -> None:
    assert capabilities_table() in (ROOT / "docs" / "daemon.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("exchange", "kind", "refusal"), [
    ("binance", "market", None),
    ("binance", "stop_limit:FOK", None),
    ("okx", "limit:PO", None),
    ("okx", "stop_market", "okx cannot take stop_market orders"),
    ("binance", "market:IOC", "binance cannot take market orders with time in force IOC"),
    ("binance", "stop_limit:PO", "binance cannot take stop_limit orders with time in force PO"),
    ("okx", "iceberg", "'iceberg' is not an order kind"),
])
def test_an_order_kind_is_taken_or_refused_naming_the_exchange(
        exchange: str, kind: str, refusal: str | None) -> None:
    said = venue(exchange).refusal(kind)

    assert said == refusal if refusal is None else refusal in (said or "")


def test_every_listed_kind_is_taken() -> None:
    for listed in VENUES.values():
        assert all(listed.refusal(kind) is None for kind in listed.kinds())


def test_client_order_ids_are_sent_as_each_exchange_takes_them() -> None:
    coid = "af-0123456789abcdef0123456789abc"

    assert venue("binance").client_id(coid) == coid
    assert venue("okx").client_id(coid) == "af0123456789abcdef0123456789abc"
    with pytest.raises(ValueError, match="cannot be sent to okx"):
        venue("okx").client_id("af-" + "0" * 40)


def test_an_exchange_not_listed_is_not_supported_live() -> None:
    with pytest.raises(UnsupportedVenue, match=r"'kraken' is not supported.*binance, okx"):
        venue("kraken")
