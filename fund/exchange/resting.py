"""Resting orders on candles: the one fill model of GTC and post-only limits, stop-market and
stop-limit orders, for backtests and the paper exchange alike.

An order that rests is acknowledged ``open`` when placed (fund/exchange/paper.py) and kept
in the actor's folded state (:class:`WorkingOrders`, fed the journal like the ledger). At
each later wake the actor's core matches every working order against the candles of the
wake's first ``ohlcv`` observation that closed since the previous wake (close time in
(previous wake, this wake]) and opened at or after the wake the order was placed at
(:func:`match`), candle by candle in time order, orders in placement order:

* a **buy limit** at P fills at P when the candle's low is at least one tick below P
  (``low <= P - tick``; with no tick size set, ``low < P``): a touch is not a fill. A
  **sell limit** fills when ``high >= P + tick`` (``high > P``);
* a **stop** triggers when the candle's range reaches its stop S (buy: ``high >= S``,
  sell: ``low <= S``), recorded as an ``open`` OrderAck with ``triggered`` (the candle's
  close time). A stop-market fills on that candle at S or, if the candle opened beyond it,
  at the open (buy ``max(S, open)``, sell ``min(S, open)``), and on later candles at their
  open; the slippage setting applies against the trader, rounded to the tick against him.
  A stop-limit becomes a limit at its limit price, filled by the rule above from the next
  candle on (the trigger candle's order of prices is unknown, so it fills nothing);
* each fill is at most ``volume_fraction`` of the candle's volume (each order on its own),
  rounded down to the lot size, and capped by the holding (sells) or the cash, fee
  included (buys). Fills that would break a market minimum are skipped; the rest of the
  order stays working. Fill ids count the order's fills (``COID-1``, ``COID-2``, …); the
  fill that completes it is followed by an OrderAck ``filled``;
* a ``cancel`` intent ends its order with an OrderAck ``canceled`` (``filled`` and
  ``remaining``) and is itself acknowledged ``closed``; a cancel of an order that is not
  working is rejected.

Everything here is a function of the journal, so ``fund verify`` re-derives every fill of a
resting order from the recorded candles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from typing import TYPE_CHECKING, Any

from fund.canonical import format_ts, parse_ts
from fund.exchange.base import Event, PlacedOrder
from fund.ledger import PortfolioView
from fund.markets import Market
from fund.messages import (
    FILL,
    ORDER_ACK,
    ORDER_INTENT,
    ORDER_REJECTED,
    STOP_TYPES,
    Fill,
    OrderAck,
    OrderIntent,
    OrderRejected,
    entry,
)
from fund.money import EXACT

if TYPE_CHECKING:
    from fund.exchange.paper import PaperAdapter

DEFAULT_VOLUME_FRACTION = Decimal("0.1")
_BPS = Decimal(10_000)
_ZERO = Decimal(0)
_STILL_WORKING = frozenset({"open", "partially_filled"})


@dataclass(slots=True)
class WorkingOrder:
    """A resting order the exchange still works on: what it is and how much has filled."""

    client_order_id: str
    seq: int
    symbol: str
    side: str
    order_type: str
    amount: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    placed: datetime  # the wake it was placed at: only candles opening then or later count
    filled: Decimal = _ZERO
    fills: int = 0
    triggered: bool = False
    status: str = "open"  # its last ack's (open, partially_filled)
    fill_ids: tuple[str, ...] = ()  # its journaled fills' ids (live: the exchange's)

    @property
    def remaining(self) -> Decimal:
        """The amount not filled yet."""
        with localcontext(EXACT):
            return self.amount - self.filled

    def to_payload(self) -> dict[str, Any]:
        """The order as an End entry lists it (an order still open at the end)."""
        out: dict[str, Any] = {"client_order_id": self.client_order_id, "symbol": self.symbol,
                               "side": self.side, "type": self.order_type,
                               "amount": self.amount, "filled": self.filled,
                               "remaining": self.remaining}
        if self.limit_price is not None:
            out["limit_price"] = self.limit_price
        if self.stop_price is not None:
            out["stop_price"] = self.stop_price
        return out


class WorkingOrders:
    """The fold of an actor's resting orders: placed (intent), working (acknowledged
    ``open``), filled bit by bit, ended by a final ack (filled, canceled, expired)."""

    def __init__(self) -> None:
        self.pending: dict[str, WorkingOrder] = {}
        self.working: dict[str, WorkingOrder] = {}

    def apply(self, seq: int, kind: str, payload: Mapping[str, Any],
              wake: datetime | None) -> None:
        """Consume one decoded journal payload (``wake``: the current wake's time)."""
        if kind == ORDER_INTENT:
            intent = OrderIntent.from_payload(payload)
            if intent.rests and wake is not None:
                coid = payload["client_order_id"]
                self.pending[coid] = WorkingOrder(
                    client_order_id=coid, seq=seq, symbol=intent.symbol, side=intent.side,
                    order_type=intent.order_type, amount=intent.amount,
                    limit_price=intent.limit_price, stop_price=intent.stop_price, placed=wake)
            return
        if kind not in (ORDER_ACK, FILL, ORDER_REJECTED):
            return
        coid = payload["client_order_id"]
        if kind == ORDER_ACK:
            if payload["status"] in _STILL_WORKING:
                order = self.pending.pop(coid, None) or self.working.get(coid)
                if order is not None:
                    self.working[coid] = order
                    order.status = payload["status"]
                    order.triggered = order.triggered or bool(payload.get("triggered"))
            else:
                self.pending.pop(coid, None)
                self.working.pop(coid, None)
        elif kind == FILL and coid in self.working:
            order = self.working[coid]
            with localcontext(EXACT):
                order.filled += Decimal(payload["amount"])
            order.fills += 1
            order.fill_ids += (payload["fill_id"],)
            order.triggered = True
        elif kind == ORDER_REJECTED:
            self.pending.pop(coid, None)

    def open_orders(self) -> list[dict[str, Any]] | None:
        """The working orders as the End entry lists them, oldest first (None: none)."""
        return [o.to_payload() for o in self.working.values()] or None


@dataclass(frozen=True, slots=True)
class Candle:
    """One closed candle of a recorded ``ohlcv`` observation, in Decimal."""

    time: datetime
    close_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal

    @classmethod
    def parse(cls, row: Mapping[str, Any]) -> Candle:
        """Read a candle as the ohlcv oracles record it (numbers as strings)."""
        return cls(time=parse_ts(row["time"]), close_time=parse_ts(row["close_time"]),
                   open=Decimal(str(row["open"])), high=Decimal(str(row["high"])),
                   low=Decimal(str(row["low"])), volume=Decimal(str(row["volume"])))


def recorded_candles(data: Mapping[str, Any] | None) -> dict[str, list[Candle]] | None:
    """The candles an observation's data carries, by market (None: it carries none)."""
    if not data or not isinstance(data.get("candles"), Mapping):
        return None
    return {symbol: [Candle.parse(row) for row in rows]
            for symbol, rows in data["candles"].items()}


def cancel(order: PlacedOrder, working: WorkingOrders) -> list[Event]:
    """The events of a cancel intent: the target ends ``canceled``, the cancel ``closed``."""
    coid, target = order.client_order_id, order.intent.cancels or ""
    found = working.working.get(target) or working.pending.get(target)
    if found is None:
        return [entry(OrderRejected(client_order_id=coid, source="exchange",
                                    reason=f"cancel: order {target} is not working"))]
    return [entry(OrderAck(client_order_id=target, exchange_order_id=_exchange_id(target),
                           status="canceled", filled=found.filled, remaining=found.remaining,
                           reason=f"canceled by {coid}")),
            entry(OrderAck(client_order_id=coid, exchange_order_id=_exchange_id(coid),
                           status="closed"))]


@dataclass(slots=True)
class _Progress:
    """An order's fills during one matching (the fold itself is not touched)."""

    order: WorkingOrder
    market: Market
    filled: Decimal
    fills: int
    triggered: bool
    done: bool = False


def match(paper: PaperAdapter, working: Sequence[WorkingOrder],
          candles: Mapping[str, Sequence[Candle]], *, since: datetime | None, until: datetime,
          portfolio: PortfolioView, markets: Mapping[str, Market],
          fraction: Decimal) -> list[Event]:
    """The events of the working orders on the candles closed in (since, until]."""
    steps = sorted(
        ((candle, index) for index, order in enumerate(working)
         for candle in candles.get(order.symbol, ())
         if candle.time >= order.placed and candle.close_time <= until
         and (since is None or candle.close_time > since)),
        key=lambda step: (step[0].time, working[step[1]].seq))
    progress = [_Progress(order=o, market=markets[o.symbol], filled=o.filled, fills=o.fills,
                          triggered=o.triggered) for o in working]
    cash = portfolio.cash
    held = {symbol: portfolio.holding(symbol) for symbol in markets}
    events: list[Event] = []
    for candle, index in steps:
        state = progress[index]
        if state.done:
            continue
        price = _price(paper, state, candle, events)
        if price is None:
            continue
        amount = _amount(paper, state, candle, price, cash, held[state.order.symbol], fraction)
        if amount is None:
            continue
        fill, cost = _fill(paper, state, amount, price, portfolio.quote)
        with localcontext(EXACT):
            cash -= cost
            held[state.order.symbol] += amount if state.order.side == "buy" else -amount
        events.append(entry(fill))
        if state.filled >= state.order.amount:
            state.done = True
            coid = state.order.client_order_id
            events.append(entry(OrderAck(client_order_id=coid, status="filled",
                                         exchange_order_id=_exchange_id(coid),
                                         filled=state.filled)))
    return events


def _price(paper: PaperAdapter, state: _Progress, candle: Candle,
           events: list[Event]) -> Decimal | None:
    """The price the order fills at on this candle, None if it does not (a stop's trigger
    is recorded in ``events``)."""
    order, market = state.order, state.market
    buy = order.side == "buy"
    if order.order_type in STOP_TYPES and not state.triggered:
        stop = order.stop_price
        assert stop is not None
        if not (candle.high >= stop if buy else candle.low <= stop):
            return None
        state.triggered = True
        events.append(entry(OrderAck(client_order_id=order.client_order_id, status="open",
                                     exchange_order_id=_exchange_id(order.client_order_id),
                                     triggered=format_ts(candle.close_time))))
        if order.order_type == "stop_limit":
            return None
        start = max(stop, candle.open) if buy else min(stop, candle.open)
        return _slipped(paper, market, start, buy)
    if order.order_type == "stop_market":
        return _slipped(paper, market, candle.open, buy)
    limit = order.limit_price
    assert limit is not None
    tick = market.price_step
    if tick:
        through = candle.low <= limit - tick if buy else candle.high >= limit + tick
    else:
        through = candle.low < limit if buy else candle.high > limit
    return limit if through else None


def _slipped(paper: PaperAdapter, market: Market, price: Decimal, buy: bool) -> Decimal:
    slip = price * paper.slippage_bps / _BPS
    return market.round_price(price + slip, ROUND_CEILING) if buy else \
        market.round_price(price - slip, ROUND_FLOOR)


def _amount(paper: PaperAdapter, state: _Progress, candle: Candle, price: Decimal,
            cash: Decimal, held: Decimal, fraction: Decimal) -> Decimal | None:
    """The amount this candle fills (None: nothing that the market takes)."""
    market = state.market
    with localcontext(EXACT):
        cap = candle.volume * fraction
        left = state.order.amount - state.filled
    amount = market.round_amount(min(left, cap))
    if state.order.side == "sell":
        amount = min(amount, market.round_amount(held))
    elif paper.cost(amount, price) > cash:
        amount = market.round_amount(paper.affordable(cash, price))
    if market.violation(amount, price):
        return None
    return amount


def _fill(paper: PaperAdapter, state: _Progress, amount: Decimal, price: Decimal,
          quote: str) -> tuple[Fill, Decimal]:
    """The Fill of ``amount`` at ``price``, and the cash it moves (buys: cost, sells: minus
    the proceeds net of the fee)."""
    order = state.order
    with localcontext(EXACT):
        notional = amount * price
        fee = notional * paper.fee_rate
        state.filled += amount
        moved = notional + fee if order.side == "buy" else fee - notional
    state.fills += 1
    coid = order.client_order_id
    return Fill(client_order_id=coid, fill_id=f"{coid}-{state.fills}", symbol=order.symbol,
                side=order.side, amount=amount, price=price, fee=fee,
                fee_currency=quote), moved


def _exchange_id(client_order_id: str) -> str:
    return "paper-" + client_order_id[3:]
