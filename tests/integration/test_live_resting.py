"""Resting orders, stops and cancels live: the real ccxt client of each exchange, through the
adapter, against its fake — placed once, their later fills found by looking the order up
(as a live wake and reconciliation do), cancelled, and each exchange's refusals reported as
rejections. Every event must say what the exchange recorded, on both exchanges alike.
"""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from fund.exchange.base import Event, PlacedOrder
from fund.exchange.venues import venue as venue_of
from fund.ledger import PortfolioView
from fund.markets import Market
from fund.messages import FILL, ORDER_ACK, ORDER_REJECTED, OrderIntent
from tests.integration.fake_venues import FakeVenue

D = Decimal
SYMBOL = "BTC/USDT"
COID = "af-00000000000000000000000000001"
CANCEL = "af-00000000000000000000000000002"
MARKET = Market(symbol=SYMBOL, base="BTC", quote="USDT")


def book(held: str = "2") -> PortfolioView:
    return PortfolioView(quote="USDT", cash=D("100000"),
                         positions=MappingProxyType({SYMBOL: D(held)}),
                         avg_costs=MappingProxyType({SYMBOL: D(0)}),
                         prices=MappingProxyType({SYMBOL: D("40000")}), fees_paid=D(0))


def order(side: str, amount: str, *, coid: str = COID, **intent: Any) -> PlacedOrder:
    return PlacedOrder(client_order_id=coid, market=MARKET, intent=OrderIntent(
        symbol=SYMBOL, side=side, amount=D(amount), **intent))  # type: ignore[arg-type]


def cancel(known: tuple[str, ...] = ()) -> PlacedOrder:
    return PlacedOrder(client_order_id=CANCEL, market=MARKET, known_fills=known,
                       intent=OrderIntent(symbol=SYMBOL, side="buy", amount=D("0.1"),
                                          order_type="cancel", cancels=COID))


def gtc_buy(venue: FakeVenue, limit: str = "39000", amount: str = "0.1") -> list[Event]:
    return venue.adapter().submit(order("buy", amount, order_type="limit",
                                        limit_price=D(limit), time_in_force="GTC"), book())


def on_venue(venue: FakeVenue, coid: str = COID) -> str:
    return venue_of(venue.exchange_id).client_id(coid)


def looked_up(venue: FakeVenue, known: tuple[str, ...] = ()) -> list[Event]:
    return venue.adapter().order_events(SYMBOL, COID, known)


def test_a_gtc_limit_away_from_the_market_rests_open_and_fills_later_at_its_price(
        venue: FakeVenue) -> None:
    placed = gtc_buy(venue)

    assert placed == [(ORDER_ACK, {"client_order_id": COID, "status": "open",
                                   "exchange_order_id": venue.order_id(on_venue(venue))})]
    assert venue.order(on_venue(venue)).status == "open"
    assert looked_up(venue)[0][1]["status"] == "open"  # nothing new yet
    venue.move(SYMBOL, "39000")  # a touch is not a trade through it
    assert kinds(looked_up(venue)) == [ORDER_ACK]

    venue.move(SYMBOL, "38990")
    events = looked_up(venue)

    (trade,) = venue.order(on_venue(venue)).trades
    assert kinds(events) == [ORDER_ACK, FILL]
    assert events[0][1]["status"] == "filled"
    assert events[1][1]["fill_id"] == trade.trade_id
    assert (events[1][1]["amount"], events[1][1]["price"]) == (D("0.1"), D("39000"))
    assert events[1][1]["fee"] == trade.fee
    assert kinds(looked_up(venue, (trade.trade_id,))) == [ORDER_ACK]  # never booked twice


def test_a_resting_order_filled_in_parts_reports_each_part_once(venue: FakeVenue) -> None:
    gtc_buy(venue, amount="0.5")
    venue.cap_fills(D("0.2"))
    venue.move(SYMBOL, "38900")

    first = looked_up(venue)
    known = tuple(p["fill_id"] for k, p in first if k == FILL)
    venue.move(SYMBOL, "38800")
    second = looked_up(venue, known)

    assert first[0][1]["status"] == "partially_filled"
    assert [p["amount"] for k, p in first if k == FILL] == [D("0.2")]
    assert second[0][1]["status"] == "partially_filled"
    assert [p["amount"] for k, p in second if k == FILL] == [D("0.2")]
    assert {p["fill_id"] for k, p in second if k == FILL}.isdisjoint(known)


def test_a_cancel_ends_a_resting_order_and_is_itself_closed(venue: FakeVenue) -> None:
    gtc_buy(venue)

    events = venue.adapter().submit(cancel(), book())

    assert kinds(events) == [ORDER_ACK, ORDER_ACK]
    assert events[0][1] | {"exchange_order_id": "-"} == {
        "client_order_id": COID, "exchange_order_id": "-", "status": "canceled",
        "filled": D(0), "remaining": D("0.1"), "reason": f"canceled by {CANCEL}"}
    assert events[1][1]["client_order_id"] == CANCEL and events[1][1]["status"] == "closed"
    assert venue.order(on_venue(venue)).status == "canceled"
    assert venue.open_orders() == []
    assert venue.balance("USDT") == (D("100000"), D(0))  # its funds are free again


def test_a_cancel_of_a_part_filled_order_books_the_part_first(venue: FakeVenue) -> None:
    gtc_buy(venue, amount="0.5")
    venue.cap_fills(D("0.2"))
    venue.move(SYMBOL, "38900")

    events = venue.adapter().submit(cancel(), book())

    assert kinds(events) == [FILL, ORDER_ACK, ORDER_ACK]
    assert events[0][1]["amount"] == D("0.2")
    assert (events[1][1]["status"], events[1][1]["filled"], events[1][1]["remaining"]) == (
        "canceled", D("0.2"), D("0.3"))


def test_a_cancel_of_an_order_that_filled_first_books_the_fill_and_is_rejected(
        venue: FakeVenue) -> None:
    gtc_buy(venue)
    venue.move(SYMBOL, "38000")

    events = venue.adapter().submit(cancel(), book())

    assert kinds(events) == [FILL, ORDER_ACK, ORDER_REJECTED]
    assert events[1][1]["status"] == "filled"
    assert events[2][1]["client_order_id"] == CANCEL
    assert f"order {COID} is filled on the exchange" in events[2][1]["reason"]
    assert not events[2][1].get("ambiguous")


def test_a_post_only_limit_that_would_take_is_rejected_and_nothing_is_booked(
        venue: FakeVenue) -> None:
    events = venue.adapter().submit(order("buy", "0.1", order_type="limit",
                                          limit_price=D("40100"), time_in_force="PO"), book())

    assert kinds(events) == [ORDER_REJECTED]
    assert not events[0][1].get("ambiguous")
    assert venue.open_orders() == [] and venue.balance("BTC")[0] == D(2)


def test_a_post_only_limit_away_from_the_market_rests(venue: FakeVenue) -> None:
    events = venue.adapter().submit(order("sell", "0.1", order_type="limit",
                                          limit_price=D("41000"), time_in_force="PO"), book())

    assert [p["status"] for _, p in events] == ["open"]
    assert venue.balance("BTC") == (D("1.9"), D("0.1"))  # the exchange holds it back


def test_a_fill_or_kill_limit_that_cannot_fill_whole_is_rejected_unfilled(
        venue: FakeVenue) -> None:
    venue.cap_fills(D("0.05"))

    events = venue.adapter().submit(order("buy", "0.1", order_type="limit",
                                          limit_price=D("40100"), time_in_force="FOK"), book())

    assert kinds(events) == [ORDER_REJECTED]
    assert "FOK order" in events[0][1]["reason"] and "unfilled" in events[0][1]["reason"]
    assert venue.balance("BTC")[0] == D(2)


def test_a_stop_market_sell_rests_until_the_market_falls_to_it(venue: FakeVenue) -> None:
    if venue.exchange_id == "okx":
        pytest.skip("okx stops are algo orders, which agentfund refuses for okx (venues.py)")
    placed = venue.adapter().submit(order("sell", "0.5", order_type="stop_market",
                                          stop_price=D("38000")), book())
    assert [p["status"] for _, p in placed] == ["open"]
    venue.move(SYMBOL, "38500")
    assert kinds(looked_up(venue)) == [ORDER_ACK]

    venue.move(SYMBOL, "37900")
    events = looked_up(venue)

    assert kinds(events) == [ORDER_ACK, FILL]
    assert events[0][1]["status"] == "filled" and events[1][1]["amount"] == D("0.5")
    assert venue.order(on_venue(venue)).stop_price == D("38000")


def test_a_stop_is_refused_before_anything_is_sent_where_the_exchange_cannot_take_it(
        venue: FakeVenue) -> None:
    if venue.exchange_id == "binance":
        pytest.skip("binance takes stop orders")

    events = venue.adapter().submit(order("sell", "0.5", order_type="stop_market",
                                          stop_price=D("38000")), book())

    assert events == [(ORDER_REJECTED, {"client_order_id": COID, "source": "adapter",
                                        "reason": "okx cannot take stop_market orders"})]
    assert venue.sent() == []


def kinds(events: list[Event]) -> list[str]:
    return [kind for kind, _ in events]
