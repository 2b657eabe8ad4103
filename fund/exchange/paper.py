"""Paper trading: orders filled at the last observed price, or by walking the observed book.

The fill is a pure function of the order, the portfolio (cash, holdings, observed prices
and this wake's observed order books) and the terms (fee rate, slippage), so ``fund
verify`` re-derives every paper fill.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal, localcontext

from fund.books import Level, OrderBook, depth, take
from fund.exchange.base import PAPER, Adapter, Event, PlacedOrder
from fund.ledger import PortfolioView
from fund.messages import STOP_TYPES, Fill, OrderAck, OrderIntent, OrderRejected, entry
from fund.money import EXACT, standard

_BPS = Decimal(10_000)


class PaperAdapter(Adapter):
    """Fill every order at once at the observed price, adjusted by slippage, minus a fee.

    Sells are capped at the amount held and buys scaled down to the cash available
    (fee included), both after rounding to the market's lot size, so cash never goes
    negative. Limit orders fill at the observed price when it is at or better than the
    limit and are rejected otherwise (immediate-or-cancel); a fill-or-kill limit is also
    rejected when these caps (or the book's depth) leave less than its whole amount.

    When the portfolio holds an order book for the market, observed at the current wake,
    the order walks it instead: see :meth:`_walk`.

    An order that rests (a GTC or post-only limit, a stop) is acknowledged ``open`` unless
    a GTC limit is marketable at once (then it fills as above) or a post-only one would
    take (then it is rejected); its later fills come from candles: fund/exchange/resting.py.
    """

    def __init__(self, *, fee_rate: Decimal, slippage_bps: Decimal,
                 durable_intents: bool = False) -> None:
        self.fee_rate = fee_rate
        self.slippage_bps = slippage_bps
        self.capabilities = replace(PAPER, durable_intents=durable_intents)

    @standard
    def submit(self, order: PlacedOrder, portfolio: PortfolioView) -> list[Event]:
        intent, market, coid = order.intent, order.market, order.client_order_id
        if intent.order_type in STOP_TYPES:
            return self._rest(order)
        book = portfolio.books.get(intent.symbol)
        if book is not None and not intent.rests:
            return self._walk(order, book, portfolio)
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
            if intent.rests:
                return self._rest(order)
            return [_reject(coid, f"limit {intent.limit_price} not marketable at {fill_price}")]
        if intent.time_in_force == "PO":
            return [_reject(coid, f"post-only limit {intent.limit_price} would take at "
                                  f"{fill_price}")]
        amount = market.round_amount(intent.amount)
        if intent.side == "sell":
            amount = min(amount, market.round_amount(portfolio.holding(intent.symbol)))
        elif self.cost(amount, fill_price) > portfolio.cash:
            amount = market.round_amount(self.affordable(portfolio.cash, fill_price))
        problem = market.violation(amount, fill_price) or \
            _killed(intent, amount, market.round_amount(intent.amount))
        if problem:
            return [_reject(coid, problem)]
        with localcontext(EXACT):
            notional = amount * fill_price
            fee = notional * self.fee_rate
        fill = Fill(client_order_id=coid, fill_id=coid + "-1", symbol=intent.symbol,
                    side=intent.side, amount=amount, price=fill_price, fee=fee,
                    fee_currency=portfolio.quote)
        return [entry(_ack(coid)), entry(fill)]

    def _rest(self, order: PlacedOrder) -> list[Event]:
        """Acknowledge a resting order ``open`` (or reject one no market could take)."""
        intent, coid = order.intent, order.client_order_id
        price = intent.limit_price if intent.order_type != "stop_market" else intent.stop_price
        problem = "no price" if price is None else order.market.violation(
            order.market.round_amount(intent.amount), price)
        if problem:
            return [_reject(coid, problem)]
        return [entry(replace(_ack(coid), status="open"))]

    def _walk(self, order: PlacedOrder, book: OrderBook, portfolio: PortfolioView) -> list[Event]:
        """Fill against the book: asks (buy) or bids (sell), best level first.

        One Fill per level consumed, at that level's price (to the tick against the
        trader), as an exchange reports it; the book is the slippage model, so the
        slippage setting does not apply. A limit order takes only the levels at or better
        than its limit. The amount is capped by the book's depth (the rest expires: the
        ack says ``expired`` with ``filled`` and ``remaining``), by the holding (sells) and
        by the cash the walked cost and its fees leave (buys). Every order of a wake walks
        the book as observed: paper fills do not deplete it.
        """
        intent, market, coid = order.intent, order.market, order.client_order_id
        buy = intent.side == "buy"
        rounding = ROUND_CEILING if buy else ROUND_FLOOR
        levels = [(market.round_price(price, rounding), size)
                  for price, size in book.side(intent.side)]
        name = "asks" if buy else "bids"
        if not levels:
            return [_reject(coid, f"no {name} in the {intent.symbol} order book")]
        limit = intent.limit_price if intent.order_type == "limit" else None
        if limit is not None:
            best = levels[0][0]
            levels = [lv for lv in levels if (lv[0] <= limit if buy else lv[0] >= limit)]
            if not levels:
                return [_reject(coid, f"limit {limit} not marketable at {best}")]
        wanted = market.round_amount(intent.amount)
        if not buy:
            wanted = min(wanted, market.round_amount(portfolio.holding(intent.symbol)))
        available = depth(levels)
        affordable = self._affordable_walk(levels, portfolio.cash) if buy else available
        with localcontext(EXACT):
            amount = market.round_amount(min(wanted, available, affordable))
        taken = take(levels, amount)
        with localcontext(EXACT):
            notional = sum((price * part for price, part in taken), Decimal(0))
        problem = market.violation(amount, levels[0][0], notional=notional) or \
            _killed(intent, amount, market.round_amount(intent.amount))
        if problem:
            return [_reject(coid, problem)]
        ack = _ack(coid)
        if available < wanted:
            with localcontext(EXACT):
                remaining = intent.amount - amount
            ack = replace(ack, status="expired", filled=amount, remaining=remaining,
                          reason=f"the {intent.symbol} book's {len(levels)} {name} level(s)"
                                 f"{' within the limit' if limit is not None else ''} "
                                 f"hold {available}")
        return [entry(ack), *self._level_fills(order, taken, portfolio.quote)]

    def _level_fills(self, order: PlacedOrder, taken: list[Level], quote: str) -> list[Event]:
        """One Fill per level taken (fill ids ``COID-1``, ``COID-2``, …), fee in the quote."""
        intent, coid = order.intent, order.client_order_id
        fills: list[Event] = []
        for index, (price, part) in enumerate(taken, 1):
            with localcontext(EXACT):
                fee = part * price * self.fee_rate
            fills.append(entry(Fill(
                client_order_id=coid, fill_id=f"{coid}-{index}", symbol=intent.symbol,
                side=intent.side, amount=part, price=price, fee=fee, fee_currency=quote)))
        return fills

    def _affordable_walk(self, levels: list[Level], cash: Decimal) -> Decimal:
        """Largest amount whose walked cost, fees included, fits in the cash.

        Each level's cost is debited exactly as the ledger will debit its fill, so the
        cash left after the fills is never negative.
        """
        left, total = cash, Decimal(0)
        for price, size in levels:
            cost = self.cost(size, price)
            if cost > left:
                partial = self.affordable(left, price)  # 28 digits: a clean fill amount
                with localcontext(EXACT):
                    return total + partial
            with localcontext(EXACT):
                left -= cost
                total += size
        return total


    def cost(self, amount: Decimal, price: Decimal) -> Decimal:
        """Exact cash a buy takes: notional plus fee, as the ledger debits it."""
        with localcontext(EXACT):
            notional = amount * price
            return notional + notional * self.fee_rate

    def affordable(self, cash: Decimal, price: Decimal) -> Decimal:
        """Largest 28-digit amount whose exact cost fits in the cash."""
        with localcontext() as ctx:
            ctx.rounding = ROUND_DOWN
            amount = cash / (price * (1 + self.fee_rate))
        while amount > 0 and self.cost(amount, price) > cash:
            amount = amount.next_minus()
        return max(amount, Decimal(0))


def _killed(intent: OrderIntent, amount: Decimal, whole: Decimal) -> str | None:
    """Why a fill-or-kill limit is refused: it cannot fill whole (None: it can)."""
    if intent.time_in_force == "FOK" and amount < whole:
        return f"fill-or-kill: only {amount} of {whole} can fill"
    return None


def _ack(client_order_id: str) -> OrderAck:
    return OrderAck(client_order_id=client_order_id,
                    exchange_order_id="paper-" + client_order_id[3:], status="filled")


def _reject(client_order_id: str, reason: str) -> Event:
    return entry(OrderRejected(client_order_id=client_order_id, reason=reason,
                               source="exchange"))
