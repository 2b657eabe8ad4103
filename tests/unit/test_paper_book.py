"""Paper fills that walk an observed order book, checked against hand computations.

Every expected amount, price, fee and cash figure below was worked out by hand from the
book at the top of the file (fee 0.1 %), not by the code under test.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fund.books import parse_books
from fund.exchange.base import Event, PlacedOrder
from fund.exchange.paper import PaperAdapter
from fund.ledger import Ledger, PortfolioView, Position
from fund.markets import Market
from fund.messages import DEPOSIT, FILL, OBSERVATION, ORDER_ACK, ORDER_REJECTED, WAKE, OrderIntent

D = Decimal
SYMBOL = "BTC/USDT"
COID = "af-0123456789abcdef0123456789abc"
BOOK = {"bids": [["99", "0.4"], ["98.5", "1"], ["97", "3"]],
        "asks": [["100", "0.5"], ["101", "1"], ["102.5", "2"]]}


def ledger(cash: str = "1000", held: str = "0", book: dict[str, Any] | None = None) -> Ledger:
    """A ledger with cash, a BTC holding, and this wake's observed book and price."""
    ledger_ = Ledger(quote="USDT")
    ledger_.apply(DEPOSIT, {"amount": cash})
    if D(held):
        ledger_.positions[SYMBOL] = Position(amount=D(held), avg_cost=D("90"))
    ledger_.apply(OBSERVATION, {"oracle": "prices", "as_of": "2024-01-01T00:00:00.000000Z",
                                "data": {"prices": {SYMBOL: {"price": "100.2"}}}})
    ledger_.apply(OBSERVATION, {"oracle": "book", "as_of": "2024-01-01T00:00:00.000000Z",
                                "data": {"books": {SYMBOL: book or BOOK}}})
    return ledger_


def order(side: str, amount: str, *, limit: str | None = None,
          market: Market | None = None) -> PlacedOrder:
    intent = OrderIntent(symbol=SYMBOL, side=side, amount=D(amount),  # type: ignore[arg-type]
                         order_type="limit" if limit else "market",
                         limit_price=D(limit) if limit else None)
    return PlacedOrder(client_order_id=COID, intent=intent,
                       market=market or Market.parse(SYMBOL))


def adapter(slippage: str = "0") -> PaperAdapter:
    return PaperAdapter(fee_rate=D("0.001"), slippage_bps=D(slippage))


def fills(events: list[Event]) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    """(fill id, amount, price, fee) of each Fill, after checking the ack comes first."""
    assert events[0][0] == ORDER_ACK, events
    assert all(kind == FILL for kind, _ in events[1:]), events
    return [(p["fill_id"], p["amount"], p["price"], p["fee"]) for _, p in events[1:]]


def settle(books: Ledger, events: list[Event]) -> None:
    for kind, payload in events:
        books.apply(kind, {k: str(v) if isinstance(v, Decimal) else v
                           for k, v in payload.items()})


def test_a_market_buy_takes_the_asks_level_by_level_one_fill_each() -> None:
    books = ledger()

    events = adapter().submit(order("buy", "1.2"), books.view())

    assert fills(events) == [(COID + "-1", D("0.5"), D("100"), D("0.05")),
                             (COID + "-2", D("0.7"), D("101"), D("0.0707"))]
    assert events[0][1] == {"client_order_id": COID, "exchange_order_id": "paper-" + COID[3:],
                            "status": "filled"}
    settle(books, events)
    assert books.cash == D("879.1793")  # 1000 − (50 + 0.05) − (70.7 + 0.0707)
    position = books.positions[SYMBOL]
    assert position.amount == D("1.2")
    assert position.avg_cost == D("120.7") / D("1.2")  # the VWAP, 100.58333…


def test_a_market_sell_takes_the_bids_best_first() -> None:
    books = ledger(held="2")

    events = adapter().submit(order("sell", "1"), books.view())

    assert fills(events) == [(COID + "-1", D("0.4"), D("99"), D("0.0396")),
                             (COID + "-2", D("0.6"), D("98.5"), D("0.0591"))]
    settle(books, events)
    assert books.cash == D("1098.6013")  # 1000 + 39.6 + 59.1 − 0.0987
    assert books.positions[SYMBOL].amount == D("1")


def test_a_book_too_thin_fills_its_depth_and_the_rest_expires() -> None:
    books = ledger(cash="10000")

    events = adapter().submit(order("buy", "5"), books.view())

    assert [(a, p) for _, a, p, _ in fills(events)] == [
        (D("0.5"), D("100")), (D("1"), D("101")), (D("2"), D("102.5"))]
    ack = events[0][1]
    assert ack["status"] == "expired"
    assert (ack["filled"], ack["remaining"]) == (D("3.5"), D("1.5"))
    assert ack["reason"] == "the BTC/USDT book's 3 asks level(s) hold 3.5"
    settle(books, events)
    assert books.cash == D("9643.644")  # 10000 − 356 − 0.356


def test_a_buy_is_cut_to_the_cash_the_walk_and_its_fees_leave_exactly() -> None:
    books = ledger(cash="100.6005")  # 50.05 for the first level, 50.5505 buys 0.5 at 101

    events = adapter().submit(order("buy", "2"), books.view())

    assert [(a, p) for _, a, p, _ in fills(events)] == [(D("0.5"), D("100")),
                                                        (D("0.5"), D("101"))]
    assert events[0][1]["status"] == "filled"  # cash, not depth, limited it (as without a book)
    settle(books, events)
    assert books.cash == 0


def test_a_cash_cut_that_is_not_round_never_leaves_cash_negative() -> None:
    books = ledger(cash="100")

    events = adapter().submit(order("buy", "2"), books.view())

    (_, first, _, _), (_, second, price, _) = fills(events)
    assert first == D("0.5") and price == D("101")
    assert second == D("0.4940603950504940603950504940")  # 49.95 / 101.101, 28 digits, down
    settle(books, events)
    assert 0 <= books.cash < D("1e-24")


def test_the_cash_cut_is_truncated_to_the_lot_size() -> None:
    books = ledger(cash="100")
    market = Market.parse(SYMBOL, {"amount_step": "0.01"})

    events = adapter().submit(order("buy", "2", market=market), books.view())

    assert [a for _, a, _, _ in fills(events)] == [D("0.5"), D("0.49")]


def test_a_sell_is_capped_at_the_holding() -> None:
    books = ledger(held="0.8")

    events = adapter().submit(order("sell", "2"), books.view())

    assert [(a, p) for _, a, p, _ in fills(events)] == [(D("0.4"), D("99")),
                                                        (D("0.4"), D("98.5"))]
    assert events[0][1]["status"] == "filled"


def test_the_book_is_the_slippage_model() -> None:
    view = ledger().view()

    assert adapter(slippage="50").submit(order("buy", "1.2"), view) == \
        adapter().submit(order("buy", "1.2"), view)


def test_a_limit_order_takes_only_the_levels_within_its_limit() -> None:
    events = adapter().submit(order("buy", "2", limit="101"), ledger().view())

    assert [(a, p) for _, a, p, _ in fills(events)] == [(D("0.5"), D("100")), (D("1"), D("101"))]
    assert events[0][1]["status"] == "expired"
    assert events[0][1]["reason"] == "the BTC/USDT book's 2 asks level(s) within the limit hold 1.5"


def test_a_limit_order_away_from_the_book_is_rejected() -> None:
    events = adapter().submit(order("buy", "1", limit="99.99"), ledger().view())

    assert events == [(ORDER_REJECTED, {"client_order_id": COID, "source": "exchange",
                                        "reason": "limit 99.99 not marketable at 100"})]


def test_the_minimum_notional_applies_to_the_walked_notional() -> None:
    market = Market.parse(SYMBOL, {"min_notional": "60"})

    small = adapter().submit(order("buy", "0.55", market=market), ledger().view())
    enough = adapter().submit(order("buy", "0.6", market=market), ledger().view())

    assert small[0][0] == ORDER_REJECTED
    assert small[0][1]["reason"] == "notional 55.05 below the market minimum 60"  # 50 + 5.05
    assert [a for _, a, _, _ in fills(enough)] == [D("0.5"), D("0.1")]


def test_levels_off_the_tick_are_rounded_against_the_trader() -> None:
    book = {"bids": [["99.5", "1"]], "asks": [["100.5", "1"]]}
    market = Market.parse(SYMBOL, {"price_step": "1"})

    buy = adapter().submit(order("buy", "0.1", market=market), ledger(book=book).view())
    sell = adapter().submit(order("sell", "0.1", market=market),
                            ledger(held="1", book=book).view())

    assert fills(buy)[0][2] == D("101") and fills(sell)[0][2] == D("99")


def test_an_empty_side_is_a_rejection() -> None:
    events = adapter().submit(order("buy", "1"),
                              ledger(book={"bids": [["99", "1"]], "asks": []}).view())

    assert events[0][1]["reason"] == "no asks in the BTC/USDT order book"


def test_without_a_book_for_the_market_nothing_changes() -> None:
    plain = Ledger(quote="USDT")
    plain.apply(DEPOSIT, {"amount": "1000"})
    plain.apply(OBSERVATION, {"data": {"prices": {SYMBOL: {"price": "100.2"}}}})
    other = ledger(book=BOOK)
    other.books = {"ETH/USDT": other.books[SYMBOL]}

    assert adapter("10").submit(order("buy", "1.2"), other.view()) == \
        adapter("10").submit(order("buy", "1.2"), plain.view())


def test_a_book_serves_only_the_wake_that_observed_it() -> None:
    books = ledger()
    assert set(books.view().books) == {SYMBOL}

    books.apply(WAKE, {"scheduled": "2024-01-01T01:00:00.000000Z"})

    assert books.view().books == {}
    assert fills(adapter().submit(order("buy", "1"), books.view()))[0][2] == D("100.2")


levels = st.lists(st.tuples(st.decimals(D("0.01"), D("1000"), places=2),
                            st.decimals(D("0.00001"), D("5"), places=5)), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(asks=levels, cash=st.decimals(D("0"), D("20000"), places=4),
       amount=st.decimals(D("0.00001"), D("40"), places=5),
       fee=st.sampled_from(["0", "0.00075", "0.001", "0.01"]),
       step=st.sampled_from([None, "0.00001", "0.001", "1"]))
def test_walked_buys_never_overspend_nor_exceed_the_book(
        asks: list[tuple[Decimal, Decimal]], cash: Decimal, amount: Decimal, fee: str,
        step: str | None) -> None:
    asks = sorted(asks)
    book = {"bids": [], "asks": [[str(p), str(a)] for p, a in asks]}
    books = ledger(cash=str(cash), book=book)
    market = Market.parse(SYMBOL, {"amount_step": step} if step else None)
    view: PortfolioView = books.view()
    assert parse_books({"books": {SYMBOL: book}}) == dict(view.books)

    events = PaperAdapter(fee_rate=D(fee), slippage_bps=D(0)).submit(
        order("buy", str(amount), market=market), view)

    if events[0][0] == ORDER_REJECTED:
        return
    taken = fills(events)
    total = sum((a for _, a, _, _ in taken), D(0))
    assert total <= amount and total <= sum((a for _, a in asks), D(0))
    assert step is None or total % D(step) == 0
    assert [p for _, _, p, _ in taken] == sorted(p for _, _, p, _ in taken)
    for (_, a, p, _), (ask_price, ask_amount) in zip(taken, asks, strict=False):
        assert p == ask_price and a <= ask_amount
    settle(books, events)
    assert books.cash >= 0
