"""Tests of fund.ledger: cash, average cost, realised PnL, fees, marks and NAV in Decimal."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fund.ledger import Ledger, LedgerError, PortfolioView
from fund.messages import DEPOSIT, FILL, OBSERVATION

D = Decimal
BTC, ETH = "BTC/USDT", "ETH/USDT"


def fill(symbol: str, side: str, amount: str, price: str, fee: str = "0") -> dict[str, Any]:
    return {"symbol": symbol, "side": side, "amount": amount, "price": price, "fee": fee}


def observation(**prices: str) -> dict[str, Any]:
    return {"data": {"prices": {sym.replace("_", "/"): {"price": p} for sym, p in prices.items()}}}


def books(ledger: Ledger) -> tuple[object, ...]:
    """Every figure of the books, for before/after comparisons."""
    return (ledger.cash, ledger.deposits, ledger.fees_paid, ledger.realized_pnl,
            ledger.traded_notional, ledger.fills, dict(ledger.prices),
            {s: (p.amount, p.avg_cost) for s, p in ledger.positions.items()},
            dict(ledger.view().positions), dict(ledger.view().avg_costs))


def funded(amount: str = "10000") -> Ledger:
    ledger = Ledger(quote="USDT")
    ledger.apply(DEPOSIT, {"amount": amount})
    return ledger


# --------------------------------------------------------------------------------------
# deposits, buys, sells


def test_new_ledger_is_empty() -> None:
    # Act
    ledger = Ledger(quote="USDT")

    # Assert
    assert (ledger.cash, ledger.deposits, ledger.fees_paid, ledger.realized_pnl) == (0, 0, 0, 0)
    assert ledger.nav() == 0
    assert ledger.fills == 0


def test_deposits_add_to_cash_and_deposits() -> None:
    # Arrange
    ledger = Ledger(quote="USDT")

    # Act
    ledger.apply(DEPOSIT, {"amount": "1000.10"})
    ledger.apply(DEPOSIT, {"amount": "0.000000001"})

    # Assert
    assert ledger.cash == D("1000.100000001")
    assert ledger.deposits == D("1000.100000001")
    assert ledger.nav() == D("1000.100000001")


def test_buy_moves_notional_and_fee_out_of_cash_exactly() -> None:
    # Arrange
    ledger = funded()

    # Act: 0.1 × 30000.5 = 3000.05, fee 3.00005
    ledger.apply(FILL, fill(BTC, "buy", "0.1", "30000.5", "3.00005"))

    # Assert: exact decimal arithmetic, no float anywhere
    assert ledger.cash == D("6996.94995")
    assert type(ledger.cash) is Decimal
    assert ledger.positions[BTC].amount == D("0.1")
    assert ledger.positions[BTC].avg_cost == D("30000.5")
    assert ledger.fees_paid == D("3.00005")
    assert ledger.traded_notional == D("3000.05")
    assert ledger.realized_pnl == 0
    assert ledger.fills == 1


def test_average_cost_is_weighted_by_amount() -> None:
    # Arrange
    ledger = funded()

    # Act: 1 @ 100 then 3 @ 200 → (100 + 600) / 4 = 175
    ledger.apply(FILL, fill(BTC, "buy", "1", "100"))
    ledger.apply(FILL, fill(BTC, "buy", "3", "200"))

    # Assert
    assert ledger.positions[BTC].amount == 4
    assert ledger.positions[BTC].avg_cost == D("175")
    assert ledger.cash == D("9300")


def test_fees_do_not_enter_the_average_cost() -> None:
    # Arrange
    ledger = funded()

    # Act
    ledger.apply(FILL, fill(BTC, "buy", "2", "50", "1.5"))

    # Assert
    assert ledger.positions[BTC].avg_cost == D("50")
    assert ledger.fees_paid == D("1.5")
    assert ledger.cash == D("10000") - D("100") - D("1.5")


def test_partial_sell_realises_pnl_against_average_cost() -> None:
    # Arrange: 4 @ avg 175
    ledger = funded()
    ledger.apply(FILL, fill(BTC, "buy", "1", "100"))
    ledger.apply(FILL, fill(BTC, "buy", "3", "200"))

    # Act: sell 1.5 @ 210, fee 0.315 → realised (210 − 175) × 1.5 = 52.5
    ledger.apply(FILL, fill(BTC, "sell", "1.5", "210", "0.315"))

    # Assert
    assert ledger.realized_pnl == D("52.5")
    assert ledger.positions[BTC].amount == D("2.5")
    assert ledger.positions[BTC].avg_cost == D("175")  # unchanged by a sell
    assert ledger.cash == D("9300") + D("315") - D("0.315")
    assert ledger.fees_paid == D("0.315")
    assert ledger.traded_notional == D("700") + D("315")
    assert ledger.fills == 3


def test_selling_at_a_loss_gives_negative_realised_pnl() -> None:
    # Arrange
    ledger = funded()
    ledger.apply(FILL, fill(ETH, "buy", "10", "2000"))

    # Act
    ledger.apply(FILL, fill(ETH, "sell", "4", "1950.25"))

    # Assert: (1950.25 − 2000) × 4
    assert ledger.realized_pnl == D("-199")


def test_selling_everything_closes_the_position() -> None:
    # Arrange
    ledger = funded()
    ledger.apply(FILL, fill(BTC, "buy", "0.3", "100"))

    # Act
    ledger.apply(FILL, fill(BTC, "sell", "0.3", "110"))
    ledger.apply(FILL, fill(BTC, "buy", "1", "90"))

    # Assert: the average cost restarts from the new buy
    assert ledger.realized_pnl == D("3")
    assert ledger.positions[BTC].amount == 1
    assert ledger.positions[BTC].avg_cost == D("90")


def test_average_cost_is_rounded_only_at_decimal_precision() -> None:
    # Arrange
    ledger = funded()

    # Act: (1 + 2 + 2) / 3 is not a finite decimal
    ledger.apply(FILL, fill(BTC, "buy", "1", "1"))
    ledger.apply(FILL, fill(BTC, "buy", "2", "2"))

    # Assert
    assert abs(ledger.positions[BTC].avg_cost - D(5) / D(3)) < D("1e-25")


@pytest.mark.parametrize(("held", "sell"), [("1", "1.00000001"), ("0", "0.1")])
def test_selling_more_than_held_raises_and_leaves_books_unchanged(held: str, sell: str) -> None:
    # Arrange
    ledger = funded()
    if held != "0":
        ledger.apply(FILL, fill(BTC, "buy", held, "100", "0.1"))
    before = books(ledger)

    # Act
    with pytest.raises(LedgerError, match=BTC):
        ledger.apply(FILL, fill(BTC, "sell", sell, "100", "0.1"))

    # Assert: a rejected fill changes nothing (no cash, fee, count, or phantom position)
    assert books(ledger) == before


def test_selling_a_symbol_never_bought_raises() -> None:
    # Arrange
    ledger = funded()
    ledger.apply(FILL, fill(BTC, "buy", "1", "100"))

    # Act / Assert
    with pytest.raises(LedgerError):
        ledger.apply(FILL, fill(ETH, "sell", "1", "100"))


def test_other_kinds_are_ignored() -> None:
    # Arrange
    ledger = funded()
    before = books(ledger)

    # Act
    for kind in ("Start", "Wake", "Decision", "OrderIntent", "OrderAck", "OrderRejected", "End"):
        ledger.apply(kind, {"amount": "5", "symbol": BTC})

    # Assert
    assert books(ledger) == before


# --------------------------------------------------------------------------------------
# marks and NAV


def test_first_fill_price_is_the_mark_until_an_observation() -> None:
    # Arrange
    ledger = funded()

    # Act
    ledger.apply(FILL, fill(BTC, "buy", "2", "100"))

    # Assert
    assert ledger.prices[BTC] == D("100")
    assert ledger.nav() == D("10000")


def test_observation_marks_positions_for_nav() -> None:
    # Arrange
    ledger = funded()
    ledger.apply(FILL, fill(BTC, "buy", "2", "100", "0.2"))
    ledger.apply(FILL, fill(ETH, "buy", "3", "10", "0.03"))

    # Act
    ledger.apply(OBSERVATION, observation(BTC_USDT="125.5", ETH_USDT="9.99"))

    # Assert: cash 10000 − 200.2 − 30.03 = 9769.77; + 2 × 125.5 + 3 × 9.99
    assert ledger.prices == {BTC: D("125.5"), ETH: D("9.99")}
    assert ledger.nav() == D("9769.77") + D("251") + D("29.97")
    assert ledger.view().nav == ledger.nav()


def test_observation_without_prices_or_failed_keeps_marks() -> None:
    # Arrange
    ledger = funded()
    ledger.apply(FILL, fill(BTC, "buy", "1", "100"))

    # Act
    ledger.apply(OBSERVATION, {"data": None, "error": "timeout"})
    ledger.apply(OBSERVATION, {"data": {"headlines": []}})
    ledger.apply(OBSERVATION, {})

    # Assert
    assert ledger.prices == {BTC: D("100")}


def test_observation_of_other_symbols_updates_only_those() -> None:
    # Arrange
    ledger = funded()
    ledger.apply(OBSERVATION, observation(BTC_USDT="100", ETH_USDT="10"))

    # Act
    ledger.apply(OBSERVATION, observation(ETH_USDT="11"))

    # Assert
    assert ledger.prices == {BTC: D("100"), ETH: D("11")}


def test_flat_positions_do_not_need_a_mark() -> None:
    # Arrange
    ledger = funded()
    ledger.apply(FILL, fill(BTC, "buy", "1", "100"))
    ledger.apply(FILL, fill(BTC, "sell", "1", "100"))
    ledger.prices.clear()

    # Act / Assert
    assert ledger.nav() == D("10000")
    assert ledger.view().nav == D("10000")


# --------------------------------------------------------------------------------------
# PortfolioView


def test_view_is_a_read_only_snapshot() -> None:
    # Arrange
    ledger = funded()
    ledger.apply(FILL, fill(BTC, "buy", "1", "100", "0.1"))

    # Act
    view = ledger.view()
    ledger.apply(FILL, fill(BTC, "buy", "1", "300", "0.3"))
    ledger.apply(OBSERVATION, observation(BTC_USDT="400"))

    # Assert: the snapshot did not move with the ledger
    assert isinstance(view, PortfolioView)
    assert view.quote == "USDT"
    assert view.cash == D("9899.9")
    assert view.positions == {BTC: D("1")}
    assert view.avg_costs == {BTC: D("100")}
    assert view.prices == {BTC: D("100")}
    assert view.fees_paid == D("0.1")
    assert view.nav == D("9999.9")
    fresh = ledger.view()
    assert fresh.positions == {BTC: D("2")}
    assert fresh.avg_costs == {BTC: D("200")}
    assert fresh.prices == {BTC: D("400")}
    assert fresh.nav == ledger.nav() == D("9599.6") + D("800")
    with pytest.raises(TypeError):
        view.positions[BTC] = D(5)  # type: ignore[index]
    with pytest.raises(TypeError):
        view.prices[BTC] = D(5)  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.cash = D(0)  # type: ignore[misc]


def test_view_holding() -> None:
    # Arrange
    ledger = funded()
    ledger.apply(FILL, fill(BTC, "buy", "0.25", "100"))

    # Act
    view = ledger.view()

    # Assert
    assert view.holding(BTC) == D("0.25")
    assert view.holding(ETH) == 0


# --------------------------------------------------------------------------------------
# property: cash + Σ amount × mark = deposits − fees + realised + unrealised

amounts = st.decimals(min_value=D("0.0001"), max_value=D("50"), places=4)
prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
fees = st.decimals(min_value=D("0"), max_value=D("25"), places=6)
operations = st.lists(
    st.tuples(st.sampled_from([BTC, ETH, "DOGE/USDT"]), st.sampled_from(["buy", "sell"]),
              amounts, st.integers(1, 4), prices, fees),
    min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(deposit=st.decimals(min_value=D("1"), max_value=D("10000000"), places=2), ops=operations)
def test_books_balance_for_any_sequence_of_fills(
        deposit: Decimal, ops: list[tuple[str, str, Decimal, int, Decimal, Decimal]]) -> None:
    # Arrange: an independent model in exact fractions (average-cost accounting)
    ledger = Ledger(quote="USDT")
    ledger.apply(DEPOSIT, {"amount": str(deposit)})
    held: dict[str, Fraction] = {}
    basis: dict[str, Fraction] = {}  # cost of what is held
    marks: dict[str, Fraction] = {}  # last fill price
    realised = Fraction(0)
    fees_total = Fraction(0)

    # Act
    for symbol, side, amount, quarters, price, fee in ops:
        qty, px = Fraction(amount), Fraction(price)
        if side == "sell":
            qty = held.get(symbol, Fraction(0)) * quarters / 4  # never oversell
            amount = D(qty.numerator) / D(qty.denominator)
            if not qty or Fraction(amount) != qty:
                continue
            avg = basis[symbol] / held[symbol]
            realised += (px - avg) * qty
            basis[symbol] -= avg * qty
            held[symbol] -= qty
        else:
            held[symbol] = held.get(symbol, Fraction(0)) + qty
            basis[symbol] = basis.get(symbol, Fraction(0)) + px * qty
        marks[symbol] = px
        fees_total += Fraction(fee)
        ledger.apply(FILL, fill(symbol, side, str(amount), str(price), str(fee)))

    # Assert: exact identity on the ledger's own cash and holdings
    unrealised = sum((held[s] * marks[s] - basis[s] for s in held), Fraction(0))
    at_fill_prices = Fraction(ledger.cash) + sum(
        (Fraction(p.amount) * marks[s] for s, p in ledger.positions.items()), Fraction(0))
    assert at_fill_prices == Fraction(deposit) - fees_total + realised + unrealised
    assert Fraction(ledger.fees_paid) == fees_total
    assert {s: Fraction(p.amount) for s, p in ledger.positions.items()} == held
    # the ledger's own realised PnL (average cost rounded at 28 digits) agrees
    assert abs(Fraction(ledger.realized_pnl) - realised) < Fraction(1, 10**12)
    for symbol, position in ledger.positions.items():
        if position.amount:
            assert abs(Fraction(position.avg_cost) - basis[symbol] / held[symbol]) < Fraction(
                1, 10**15)
        else:
            assert position.avg_cost == 0
    # and its NAV at the fill prices is the same figure
    ledger.apply(OBSERVATION, {"data": {"prices": {
        s: {"price": str(D(m.numerator) / D(m.denominator))} for s, m in marks.items()}}})
    assert Fraction(ledger.nav()) == at_fill_prices


def test_a_buy_fee_charged_in_the_asset_comes_out_of_what_the_buy_receives() -> None:
    # binance takes a buy's fee in the asset bought: 0.1 BTC bought, 0.0001 BTC kept
    ledger = funded()

    ledger.apply(FILL, {**fill(BTC, "buy", "0.1", "30000", "0.0001"), "fee_currency": "BTC"})

    assert ledger.cash == D("10000") - D("0.1") * D("30000")  # no quote fee
    assert ledger.positions[BTC].amount == D("0.0999")
    assert ledger.positions[BTC].avg_cost * D("0.0999") == D("3000")  # the cost, per unit held
    assert ledger.fees_paid == D("0.0001") * D("30000")  # its value at the fill's price


def test_a_sell_fee_charged_in_the_asset_leaves_with_the_amount_sold() -> None:
    ledger = funded()
    ledger.apply(FILL, fill(BTC, "buy", "0.2", "30000"))

    ledger.apply(FILL, {**fill(BTC, "sell", "0.1", "31000", "0.0001"), "fee_currency": "BTC"})

    assert ledger.positions[BTC].amount == D("0.2") - D("0.1") - D("0.0001")
    assert ledger.cash == D("10000") - D("6000") + D("3100")
    with pytest.raises(LedgerError, match="exceeds"):  # the fee needs holding too
        ledger.apply(FILL, {**fill(BTC, "sell", "0.0999", "31000", "0.0001"),
                            "fee_currency": "BTC"})


def test_a_fee_in_a_third_currency_is_kept_apart_from_cash_and_positions() -> None:
    ledger = funded()

    ledger.apply(FILL, {**fill(BTC, "buy", "0.1", "30000", "0.002"), "fee_currency": "BNB"})

    assert ledger.cash == D("7000") and ledger.positions[BTC].amount == D("0.1")
    assert ledger.other_fees == {"BNB": D("0.002")}
