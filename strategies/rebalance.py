"""Target-weight rebalancing with a drift band."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict

from fund.messages import Decision, OrderIntent
from fund.strategy import Context, OracleSpec, Strategy, ordered_pairs, register

ZERO = Decimal(0)


@dataclass(frozen=True, kw_only=True)
class RebalanceParams:
    """Targets and trading thresholds of the rebalancer.

    ``weights``: each market (``BASE/QUOTE``) with its target fraction of NAV, in trading
    order (a TOML table keeps the order it is written in); the rest stays in the quote
    currency. ``band``: trade an asset only when its drift is at least this fraction of
    NAV. ``min_notional``: and at least this much quote currency. ``book_depth``: when
    above 0, also record each market's order book (this many levels a side) at every wake,
    and the paper exchange fills market orders by walking it (live daemons only: there are
    no historical books to backtest on).
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    weights: Annotated[tuple[tuple[str, Decimal], ...], BeforeValidator(ordered_pairs)]
    band: Decimal = Decimal("0.01")
    min_notional: Decimal = ZERO
    book_depth: int = 0

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("weights must name at least one market")
        symbols = [symbol for symbol, _ in self.weights]
        if len(set(symbols)) != len(symbols):
            raise ValueError("weights name a market twice")
        for symbol, weight in self.weights:
            if "/" not in symbol:
                raise ValueError(f"weights: {symbol!r} is not a BASE/QUOTE market")
            if not ZERO <= weight <= 1:
                raise ValueError(f"weights: {symbol} weight {weight} is outside 0..1")
        if sum(weight for _, weight in self.weights) > 1:
            raise ValueError("weights add up to more than 1")
        if self.band < 0 or self.min_notional < 0:
            raise ValueError("band and min_notional must not be negative")
        if not 0 <= self.book_depth <= 5000:
            raise ValueError("book_depth must be 0 (no order book) to 5000 levels")


@register
class Rebalance(Strategy[RebalanceParams, None]):
    """Bring each asset back to its target weight when it drifts past the band.

    At each wake, with NAV valued at this wake's prices before trading: an asset trades
    when |target − holding| × price ≥ max(band × NAV, min_notional). Sells go first, then
    buys, each in listed order; buys are scaled down to the cash the sells leave (fees
    included), and a buy scaled below the threshold is dropped. In a fund with investors,
    the cash it must pay out soon (``ctx.cash_required``: queued redemptions, fees owed)
    is kept out: targets are weights of NAV minus that cash, and buys never spend it.
    """

    name = "rebalance"
    Params = RebalanceParams

    def symbols(self) -> tuple[str, ...]:
        return tuple(symbol for symbol, _ in self.params.weights)

    def oracles(self) -> tuple[OracleSpec, ...]:
        """Prices; with ``book_depth``, the order books the paper exchange walks too."""
        prices = super().oracles()
        if not self.params.book_depth:
            return prices
        return (*prices, OracleSpec(name="book", kind="order_book", options={
            "symbols": self.symbols(), "depth": self.params.book_depth}))

    def on_wake(self, state: None, ctx: Context) -> tuple[None, Decision]:
        prices = ctx.prices()
        held = ctx.portfolio.positions
        unpriced = [s for s, _ in self.params.weights if s not in prices and held.get(s)]
        if unpriced or not prices:
            return state, Decision(rule="hold", reasons={"unpriced": unpriced or "all"})
        nav = ctx.portfolio.cash
        for symbol, amount in held.items():
            if amount:
                nav += amount * prices[symbol]
        threshold = max(self.params.band * nav, self.params.min_notional)
        # cash the fund must pay out soon (redemptions, fees) is not invested
        invested = max(nav - ctx.cash_required, ZERO) if ctx.cash_required else nav
        drift: dict[str, Decimal] = {}
        sells: list[OrderIntent] = []
        buys: list[tuple[str, Decimal, Decimal]] = []
        for symbol, weight in self.params.weights:
            price = prices.get(symbol)
            if price is None:
                continue
            delta = weight * invested / price - held.get(symbol, ZERO)
            value = delta * price
            drift[symbol] = value
            if delta and abs(value) >= threshold:
                if delta < 0:
                    sells.append(OrderIntent(symbol=symbol, side="sell", amount=-delta,
                                             reference_price=price))
                else:
                    buys.append((symbol, delta, price))
        intents, scaled = self._fund_buys(ctx, sells, buys, threshold)
        reasons: dict[str, Any] = {"nav": nav, "threshold": threshold, "drift": drift}
        if ctx.cash_required:
            reasons["cash_required"] = ctx.cash_required
        if scaled:
            reasons["scaled_to_cash"] = scaled
        return state, Decision(rule="rebalance" if intents else "hold", reasons=reasons,
                               intents=intents)

    @staticmethod
    def _fund_buys(ctx: Context, sells: list[OrderIntent],
                   buys: list[tuple[str, Decimal, Decimal]],
                   threshold: Decimal) -> tuple[tuple[OrderIntent, ...], list[str]]:
        """Append buys after the sells, each scaled down to the cash still available."""
        fee = ctx.terms.fee_rate
        cash = ctx.portfolio.cash - ctx.cash_required if ctx.cash_required else \
            ctx.portfolio.cash
        for sell in sells:
            cash += sell.amount * sell.reference_price * (1 - fee)  # type: ignore[operator]
        intents = list(sells)
        scaled: list[str] = []
        for symbol, amount, price in buys:
            if amount * price * (1 + fee) > cash:
                amount = cash / (price * (1 + fee))
                scaled.append(symbol)
                if amount * price < threshold:
                    continue
            cash -= amount * price * (1 + fee)
            intents.append(OrderIntent(symbol=symbol, side="buy", amount=amount,
                                       reference_price=price))
        return tuple(intents), scaled
