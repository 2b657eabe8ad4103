"""Paper trading: market orders filled at the last observed price.

The fill is a pure function of the order, the portfolio (cash, holdings, observed prices)
and the terms (fee rate, slippage), so ``fund verify`` re-derives every paper fill.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal, localcontext
from typing import Any

from fund.exchange.base import Adapter, Event, PlacedOrder
from fund.ledger import PortfolioView
from fund.messages import FILL, ORDER_ACK, ORDER_REJECTED
from fund.money import EXACT, standard

_BPS = Decimal(10_000)


class PaperAdapter(Adapter):
    """Fill every order at once at the observed price, adjusted by slippage, minus a fee.

    Sells are capped at the amount held and buys scaled down to the cash available
    (fee included), both after rounding to the market's lot size, so cash never goes
    negative. Limit orders fill at the observed price when it is at or better than the
    limit and are rejected otherwise (immediate-or-cancel).
    """

    replayable = True

    def __init__(self, *, fee_rate: Decimal, slippage_bps: Decimal,
                 durable_intents: bool = False) -> None:
        self.fee_rate = fee_rate
        self.slippage_bps = slippage_bps
        self.durable_intents = durable_intents

    @standard
    def submit(self, order: PlacedOrder, portfolio: PortfolioView) -> list[Event]:
        intent, market, coid = order.intent, order.market, order.client_order_id
        price = portfolio.prices.get(intent.symbol)
        if price is None:
            return [_reject(coid, "no observed price for " + intent.symbol)]
        slip = price * self.slippage_bps / _BPS
        # to the tick against the trader: a simulated fill is never better than observed
        fill_price = (market.round_price(price + slip, ROUND_CEILING) if intent.side == "buy"
                      else market.round_price(price - slip, ROUND_FLOOR))
        if intent.order_type == "limit" and intent.limit_price is not None and (
            (intent.side == "buy" and fill_price > intent.limit_price)
            or (intent.side == "sell" and fill_price < intent.limit_price)
        ):
            return [_reject(coid, f"limit {intent.limit_price} not marketable at {fill_price}")]
        amount = market.round_amount(intent.amount)
        if intent.side == "sell":
            amount = min(amount, market.round_amount(portfolio.holding(intent.symbol)))
        elif self._cost(amount, fill_price) > portfolio.cash:
            amount = market.round_amount(self._affordable(portfolio.cash, fill_price))
        problem = market.violation(amount, fill_price)
        if problem:
            return [_reject(coid, problem)]
        with localcontext(EXACT):
            notional = amount * fill_price
            fee = notional * self.fee_rate
        fill: dict[str, Any] = {
            "client_order_id": coid, "fill_id": coid + "-1", "symbol": intent.symbol,
            "side": intent.side, "amount": amount, "price": fill_price,
            "fee": fee, "fee_currency": portfolio.quote,
        }
        ack = {"client_order_id": coid, "exchange_order_id": "paper-" + coid[3:],
               "status": "filled"}
        return [(ORDER_ACK, ack), (FILL, fill)]


    def _cost(self, amount: Decimal, price: Decimal) -> Decimal:
        """Exact cash a buy takes: notional plus fee, as the ledger debits it."""
        with localcontext(EXACT):
            notional = amount * price
            return notional + notional * self.fee_rate

    def _affordable(self, cash: Decimal, price: Decimal) -> Decimal:
        """Largest 28-digit amount whose exact cost fits in the cash."""
        with localcontext() as ctx:
            ctx.rounding = ROUND_DOWN
            amount = cash / (price * (1 + self.fee_rate))
        while amount > 0 and self._cost(amount, price) > cash:
            amount = amount.next_minus()
        return max(amount, Decimal(0))


def _reject(client_order_id: str, reason: str) -> Event:
    return ORDER_REJECTED, {"client_order_id": client_order_id, "reason": reason,
                            "source": "exchange"}
