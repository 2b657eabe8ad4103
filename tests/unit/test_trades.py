"""fund.trades: round trips, realised P&L, fees and win rate against an independent
average-cost computation written here; calendar returns; the chart helpers keep extremes."""

from __future__ import annotations

import random
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
import pytest

from fund.ledger import LedgerError
from fund.monitor import trading
from fund.performance import calendar_returns
from fund.trades import Ohlcv, TradeBook, Trades

D = Decimal
START = {"quote": "USDT", "markets": [{"symbol": "AAA/USDT", "amount_step": None},
                                      {"symbol": "BBB/USDT", "amount_step": "0.001",
                                       "price_step": "0.01"}]}


def ts(hour: int) -> str:
    return f"2024-03-{1 + hour // 24:02d}T{hour % 24:02d}:00:00.000000Z"


def fill(symbol: str, side: str, amount: str, price: str, fee: str) -> dict[str, Any]:
    return {"client_order_id": "c", "fill_id": f"f-{amount}-{price}", "symbol": symbol,
            "side": side, "amount": amount, "price": price, "fee": fee,
            "fee_currency": "USDT"}


def book_of(fills: list[dict[str, Any]], marks: dict[str, Decimal] | None = None
            ) -> tuple[Trades, TradeBook]:
    trades = Trades()
    trades.apply(1, "Start", ts(0), START)
    trades.apply(2, "Deposit", ts(0), {"amount": "10000"})
    for n, payload in enumerate(fills):
        trades.apply(3 + n, "Fill", ts(n), payload)
    return trades, trades.book(marks)


def reference(fills: list[dict[str, Any]]) -> list[tuple[str, Decimal, Decimal, bool]]:
    """Independent average cost: per sell (symbol, gross, fees, flat). Buy fees are kept per
    unit held and leave with the units sold."""
    held: dict[str, list[Decimal]] = {}  # symbol: [amount, cost of it, fees on it]
    out = []
    with localcontext() as context:
        context.prec = 200
        for f in fills:
            amount, price, fee = D(f["amount"]), D(f["price"]), D(f["fee"])
            state = held.setdefault(f["symbol"], [D(0), D(0), D(0)])
            if f["side"] == "buy":
                state[0] += amount
                state[1] += amount * price
                state[2] += fee
                continue
            part = amount / state[0]
            cost, fees = state[1] * part, state[2] * part
            out.append((f["symbol"], amount * price - cost, fees + fee, amount == state[0]))
            state[0] -= amount
            state[1] -= cost
            state[2] -= fees
    return out


def close(a: Decimal, b: Decimal, places: int = 20) -> bool:
    return abs(a - b) < D(10) ** -places


def test_hand_checked_round_trips_with_partial_closes_and_fees() -> None:
    fills = [fill("AAA/USDT", "buy", "2", "100", "0.2"),
             fill("AAA/USDT", "buy", "2", "110", "0.22"),
             fill("AAA/USDT", "sell", "1", "120", "0.12"),   # partial: 1 of 4 at cost 105
             fill("AAA/USDT", "sell", "3", "90", "0.27"),    # the rest: flat, a loss
             fill("AAA/USDT", "buy", "1", "50", "0.05"),     # a new position
             fill("AAA/USDT", "sell", "1", "60", "0.06")]
    _, book = book_of(fills)
    first, second, third = book.round_trips

    assert (first.entry_price, first.gross, first.fees) == (D(105), D(15), D("0.225"))
    assert first.pnl == D("14.775") and first.win and not first.flat
    assert first.opened == ts(0) and first.closed == ts(2)
    assert (second.gross, second.fees, second.pnl) == (D(-45), D("0.585"), D("-45.585"))
    assert second.flat and not second.win
    assert (third.entry_price, third.pnl, third.opened) == (D(50), D("9.89"), ts(4))
    assert book.win_rate == pytest.approx(2 / 3)
    assert book.fees == D("0.92")
    assert book.realised == D(15) + D(-45) + D(10)
    assert book.unrealised == 0  # nothing held
    assert book.net == book.realised - book.fees
    assert book.traded == D(200 + 220 + 120 + 270 + 50 + 60)


def test_selling_more_than_is_held_is_refused_as_the_books_refuse_it() -> None:
    with pytest.raises(LedgerError):
        book_of([fill("AAA/USDT", "buy", "1", "10", "0"),
                 fill("AAA/USDT", "sell", "1.5", "10", "0")])  # spot: no short through zero


@pytest.mark.parametrize("seed", range(8))
def test_random_fills_match_the_independent_average_cost(seed: int) -> None:
    rng = random.Random(seed)
    fills: list[dict[str, Any]] = []
    held = {"AAA/USDT": D(0), "BBB/USDT": D(0)}
    for _ in range(60):
        symbol = rng.choice(list(held))
        price = D(rng.randint(500, 1500)) / D(7)  # long decimals, as real prices give
        if held[symbol] and rng.random() < 0.45:
            amount = held[symbol] if rng.random() < 0.3 else \
                (held[symbol] * D(rng.randint(1, 99)) / 100).quantize(D("0.00000001"))
            side = "sell"
            held[symbol] -= amount
        else:
            amount, side = D(rng.randint(1, 5000)) / D(1000), "buy"
            held[symbol] += amount
        fee = (amount * price * D("0.001")).normalize()
        fills.append(fill(symbol, side, str(amount), str(price), str(fee)))
    marks = {"AAA/USDT": D("101.5"), "BBB/USDT": D("99.25")}
    trades, book = book_of(fills, marks)
    expected = reference(fills)

    assert len(book.round_trips) == len(expected)
    for trip, (symbol, gross, fees, flat) in zip(book.round_trips, expected, strict=True):
        assert trip.symbol == symbol and trip.flat == flat
        assert close(trip.gross, gross) and close(trip.fees, fees)
    wins = sum(1 for _, gross, fees, _ in expected if gross - fees > 0)
    assert book.wins == wins
    # the realised P&L before fees is the ledger's own
    assert close(book.realised, trades.ledger.realized_pnl if trades.ledger else D(0))
    # cash + positions at the marks − the deposit: what the trading made, fees included
    ledger = trades.ledger
    assert ledger is not None
    nav = ledger.cash + sum(p.amount * marks[s] for s, p in ledger.positions.items())
    assert close(book.net, nav - D(10000))
    assert book.fees == ledger.fees_paid
    with localcontext() as context:
        context.prec = 200
        assert book.fees == sum(D(f["fee"]) for f in fills)
    per_asset = {a.symbol: a for a in book.assets}
    for symbol in held:
        assert per_asset[symbol].held == held[symbol]
        sells = [e for e in expected if e[0] == symbol]
        assert close(per_asset[symbol].realised, sum((g for _, g, _, _ in sells), D(0)))


def test_display_rows_round_money_to_the_cent_and_amounts_to_the_market() -> None:
    _, book = book_of([fill("BBB/USDT", "buy", "1.23456789", "100.123456", "0.1234567"),
                       fill("BBB/USDT", "sell", "0.5", "110.987654", "0.0554938")],
                      {"BBB/USDT": D("105.5555")})
    sell, buy = trading.fill_rows(book)
    assert (buy["amount"], buy["price"], buy["notional"], buy["fee"]) == \
        ("1.235", "100.12", "123.61", "0.12")
    assert sell["realised (before fees)"] == "5.43"
    (trip,) = trading.round_trip_rows(book)
    assert trip["realised P&L"] == "5.33" and trip["closed the position"] == "partly"
    asset, total = trading.asset_rows(book)
    assert asset["held"] == "0.735" and total["asset"] == "total"
    assert asset["net P&L"] == total["net P&L"]


def test_turnover_is_traded_notional_over_mean_total_assets() -> None:
    _, book = book_of([fill("AAA/USDT", "buy", "10", "100", "1"),
                       fill("AAA/USDT", "sell", "5", "100", "0.5")])
    assert trading.turnover_of(book, [1000.0, 3000.0]) == pytest.approx(1500 / 2000)
    assert trading.turnover_of(book, []) == 0.0


def test_calendar_returns_chain_to_the_total_return() -> None:
    day = 86_400
    start = 1_709_251_200  # 2024-03-01 00:00 UTC, a Friday
    times = [start + h * 3600 for h in range(0, 24 * 45, 5)]
    rng = np.random.default_rng(3)
    values = 100 * np.cumprod(1 + rng.normal(0, 0.01, len(times)))
    for period in ("day", "week", "month"):
        returns = calendar_returns(times, values, 100.0, period)
        assert np.prod([1 + r for _, r in returns]) - 1 == pytest.approx(values[-1] / 100 - 1)
    months = calendar_returns(times, values, 100.0, "month")
    assert [t for t, _ in months] == [start, start + 31 * day]  # March, April
    weeks = calendar_returns(times, values, 100.0, "week")
    assert weeks[0][0] == start - 4 * day and weeks[1][0] == start + 3 * day  # Mondays
    last_of_first_week = values[[i for i, t in enumerate(times) if t < start + 3 * day][-1]]
    assert weeks[0][1] == pytest.approx(last_of_first_week / 100 - 1)


def test_chart_helpers_keep_the_extremes() -> None:
    rng = np.random.default_rng(5)
    prices = rng.normal(100, 5, 50_000)
    kept = trading.extremes(prices, 1_000)
    assert len(kept) <= 1_100
    assert prices[kept].min() == prices.min() and prices[kept].max() == prices.max()
    n = 10_000
    candles = Ohlcv(symbol="X", times=tuple(float(i * 300) for i in range(n)),
                    open=tuple(prices[:n]), high=tuple(prices[:n] + 1),
                    low=tuple(prices[:n] - 1), close=tuple(prices[1:n + 1]),
                    volume=tuple([1.0] * n))
    wide = trading.merged(candles, 1_500)
    assert len(wide) <= 1_500
    assert max(wide.high) == max(candles.high) and min(wide.low) == min(candles.low)
    assert sum(wide.volume) == pytest.approx(n)
    assert wide.open[0] == candles.open[0] and wide.close[-1] == candles.close[-1]
