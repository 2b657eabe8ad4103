"""A grid on closed candles, with resting limit orders and a protective stop.

The example of the resting intents (docs/strategies.md): GTC (or post-only) limits that
rest on the book, a stop-market order, and cancels. Fills follow the one fill model of
fund/exchange/resting.py, in backtests and on the paper exchange alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import Any

from pydantic import ConfigDict

from fund.markets import Market
from fund.messages import Decision, OrderIntent, TimeInForce
from fund.strategy import Context, OracleSpec, Strategy, register

ZERO = Decimal(0)


@dataclass(frozen=True, kw_only=True)
class GridParams:
    """The grid: ``levels`` buy limits below the centre and as many sell limits above it,
    ``spacing`` apart (a fraction of the centre price), each worth ``order_notional`` of
    the quote currency (sells: at most what is held); a stop-market sell of the rest of
    the holding (what the sells do not offer: an exchange holds back what a resting sell
    offers, so one coin cannot be offered twice) one more spacing below the lowest buy
    (``stop`` false: none). ``timeframe``
    and ``candles``: the closed candles read at each wake (enough to cover the time
    between two wakes, or candles in between are never matched). ``post_only``: place the
    limits post-only instead of GTC."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    symbol: str
    levels: int = 3
    spacing: Decimal = Decimal("0.01")
    order_notional: Decimal = Decimal(100)
    stop: bool = True
    post_only: bool = False
    timeframe: str = "5m"
    candles: int = 24

    def __post_init__(self) -> None:
        if "/" not in self.symbol:
            raise ValueError(f"symbol {self.symbol!r} is not a BASE/QUOTE market")
        if not 1 <= self.levels <= 50:
            raise ValueError("levels must be 1 to 50")
        if not ZERO < self.spacing < Decimal("0.5"):
            raise ValueError("spacing must be above 0 and below 0.5")
        if self.order_notional <= 0:
            raise ValueError("order_notional must be positive")


@register
class Grid(Strategy[GridParams, None]):
    """Keep a grid of resting limits around the price; re-centre it when the price leaves.

    At each wake, with ``p`` the last closed candle's close: while orders are working and
    ``p`` is within the grid (between its lowest and highest price), hold. Otherwise
    cancel every working order and place a new grid centred on ``p``: buy limits at
    ``p × (1 − k × spacing)`` and sell limits at ``p × (1 + k × spacing)`` for k = 1 ..
    levels (prices rounded to the tick: buys down, sells up; amounts to the lot), sells
    only as far as the holding goes, then the stop-market sell of what the sells leave of
    the holding at ``p × (1 − (levels + 1) × spacing)``.
    """

    name = "grid"
    Params = GridParams

    def symbols(self) -> tuple[str, ...]:
        return (self.params.symbol,)

    def oracles(self) -> tuple[OracleSpec, ...]:
        return (OracleSpec(name="candles", kind="ohlcv", options={
            "symbols": self.symbols(), "timeframe": self.params.timeframe,
            "candles": self.params.candles}),)

    def order_types(self) -> tuple[str, ...]:
        limits = "limit:PO" if self.params.post_only else "limit:GTC"
        return (limits, "stop_market") if self.params.stop else (limits,)

    def on_wake(self, state: None, ctx: Context) -> tuple[None, Decision]:
        p = self.params
        price = ctx.prices("candles").get(p.symbol)
        if price is None:
            return state, Decision(rule="no_price")
        working = [o for o in ctx.orders.values() if o.symbol == p.symbol]
        limits = [o.limit_price for o in working if o.limit_price is not None]
        if working and limits and min(limits) <= price <= max(limits):
            return state, Decision(rule="hold", reasons={"price": price,
                                                         "working": len(working)})
        cancels = tuple(OrderIntent(symbol=o.symbol, side="buy" if o.side == "buy" else "sell",
                                    amount=o.remaining, order_type="cancel",
                                    cancels=o.client_order_id) for o in working)
        grid = self._grid(price, ctx.markets[p.symbol], ctx.portfolio.holding(p.symbol))
        reasons: dict[str, Any] = {"price": price, "cancelled": len(cancels),
                                   "placed": len(grid)}
        return state, Decision(rule="recentre", reasons=reasons, intents=cancels + grid)

    def _grid(self, price: Decimal, market: Market, held: Decimal) -> tuple[OrderIntent, ...]:
        p = self.params
        tif: TimeInForce = "PO" if p.post_only else "GTC"
        intents: list[OrderIntent] = []
        left = held
        for k in range(1, p.levels + 1):
            below = market.round_price(price * (1 - k * p.spacing), ROUND_DOWN)
            above = market.round_price(price * (1 + k * p.spacing), ROUND_CEILING)
            buy = market.round_amount(p.order_notional / below)
            if not market.violation(buy, below):
                intents.append(OrderIntent(symbol=p.symbol, side="buy", amount=buy,
                                           order_type="limit", limit_price=below,
                                           time_in_force=tif))
            sell = market.round_amount(min(p.order_notional / above, left))
            if not market.violation(sell, above):
                left -= sell
                intents.append(OrderIntent(symbol=p.symbol, side="sell", amount=sell,
                                           order_type="limit", limit_price=above,
                                           time_in_force=tif))
        stop = market.round_price(price * (1 - (p.levels + 1) * p.spacing), ROUND_DOWN)
        if p.stop and not market.violation(market.round_amount(left), stop):
            intents.append(OrderIntent(symbol=p.symbol, side="sell",
                                       amount=market.round_amount(left),
                                       order_type="stop_market", stop_price=stop))
        return tuple(intents)
