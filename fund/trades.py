"""Trades and trading P&L of one actor, folded from its journal.

:class:`Trades` is a projection (``apply(seq, kind, ts, payload)``, see
:mod:`fund.projections`): it hands every entry to the books, :class:`fund.ledger.Ledger`,
and reads, around each fill, what the books did — so the positions, average costs, fees
and realised P&L here are the ledger's own, not a second ledger's. Money stays exact
(Decimal); only the display (fund.display) rounds.

The convention is the ledger's, **average cost** (``docs/metrics.md`` defines every
figure):

* a **round trip** is a sell: it closes that amount of the position, bought at the
  position's average cost (a partial close is a round trip of the part sold). Its
  **realised P&L** is ``(sell price − average cost) × amount − fees``, where the fees are
  the sell's own plus the buys' fees on the amount sold (the buy fees of a position are
  spread over its units, and leave with the units sold). A **win** is a round trip whose
  realised P&L, fees included, is above zero; the **win rate** is wins / round trips.
* per asset: **realised** (before fees) is ``Σ (sell price − average cost) × amount`` over
  the sells — the ledger's ``realized_pnl``; **unrealised** is ``held × (last price −
  average cost)``; **fees** are every fee of the asset's fills (in the quote currency, as
  the books count them); **net P&L** = realised + unrealised − fees.

Summed over the assets, the net P&L is the NAV's change that is not money in or out
(nor the fund's own management and performance fees): every fill moves the cash by
its notional and fee, and the average cost carries each buy's cost into a sale or the
position held.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from fund.canonical import loads, parse_ts
from fund.journal.base import Entry
from fund.ledger import Ledger
from fund.markets import Market
from fund.messages import DEPOSIT, FILL, OBSERVATION, START, VALUATION
from fund.money import EXACT
from fund.projections import fold

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeFill:
    """One fill: its notional (amount × price) and fee; for a sell, what it realised."""

    seq: int
    ts: str
    symbol: str
    side: str
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    notional: Decimal
    cost: Decimal | None = None  # a sell: the position's average cost it sold at
    realised: Decimal | None = None  # a sell: (price − cost) × amount, before fees

    @property
    def at(self) -> float:
        """Epoch seconds."""
        return parse_ts(self.ts).timestamp()


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundTrip:
    """A sell and the part of the position it closed, at the position's average cost."""

    seq: int  # the sell's entry
    symbol: str
    opened: str  # when the position was opened (its first buy since it was last flat)
    closed: str  # the sell's time
    amount: Decimal
    entry_price: Decimal  # the average cost of the units sold
    exit_price: Decimal
    gross: Decimal  # (exit − entry) × amount
    fees: Decimal  # the sell's fee and the buys' fees on the amount sold
    flat: bool  # the sell closed the whole position

    @property
    def pnl(self) -> Decimal:
        """Realised P&L, fees included."""
        with localcontext(EXACT):
            return self.gross - self.fees

    @property
    def cost(self) -> Decimal:
        """What the units sold cost: amount × average cost (fees apart)."""
        with localcontext(EXACT):
            return self.amount * self.entry_price

    @property
    def ret(self) -> float | None:
        """Realised P&L over the cost of the units sold (None at zero cost)."""
        cost = self.cost
        return float(self.pnl / cost) if cost else None

    @property
    def win(self) -> bool:
        """Whether the round trip made money, fees included."""
        return self.pnl > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetPnL:
    """One asset's trading: what is held, P&L realised and unrealised, fees, volumes."""

    symbol: str
    held: Decimal
    avg_cost: Decimal
    mark: Decimal | None  # the last price (None: never priced)
    realised: Decimal  # before fees
    unrealised: Decimal
    fees: Decimal
    bought: Decimal  # notional
    sold: Decimal  # notional
    fills: int
    round_trips: int
    wins: int

    @property
    def net(self) -> Decimal:
        """Realised + unrealised − fees."""
        with localcontext(EXACT):
            return self.realised + self.unrealised - self.fees


@dataclass(frozen=True, slots=True, kw_only=True)
class Ohlcv:
    """Candles of one market (floats: for charts), by open time in epoch seconds."""

    symbol: str
    times: tuple[float, ...]
    open: tuple[float, ...]
    high: tuple[float, ...]
    low: tuple[float, ...]
    close: tuple[float, ...]
    volume: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.times)


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeBook:
    """Everything the Trades page and the report's trades section show about one actor."""

    quote: str
    markets: Mapping[str, Market]
    fills: tuple[TradeFill, ...]
    round_trips: tuple[RoundTrip, ...]
    assets: tuple[AssetPnL, ...]
    candles: Mapping[str, Ohlcv] = field(default_factory=dict)

    def _sum(self, name: str) -> Decimal:
        with localcontext(EXACT):
            return sum((getattr(a, name) for a in self.assets), ZERO)

    @property
    def realised(self) -> Decimal:
        """Realised P&L over every asset, before fees."""
        return self._sum("realised")

    @property
    def unrealised(self) -> Decimal:
        """Unrealised P&L of the positions held, at the last prices."""
        return self._sum("unrealised")

    @property
    def fees(self) -> Decimal:
        """Every fee paid on fills."""
        return self._sum("fees")

    @property
    def net(self) -> Decimal:
        """Realised + unrealised − fees: the trading P&L."""
        with localcontext(EXACT):
            return self.realised + self.unrealised - self.fees

    @property
    def traded(self) -> Decimal:
        """Traded notional: Σ amount × price over every fill."""
        with localcontext(EXACT):
            return sum((f.notional for f in self.fills), ZERO)

    @property
    def wins(self) -> int:
        """Round trips that made money, fees included."""
        return sum(1 for trip in self.round_trips if trip.win)

    @property
    def win_rate(self) -> float | None:
        """Wins / round trips (None without a round trip)."""
        return self.wins / len(self.round_trips) if self.round_trips else None


def turnover(traded: Decimal, nav: Sequence[float]) -> float:
    """Traded notional / mean total assets over the end-of-wake points (as summary.json)."""
    values = [v for v in nav if math.isfinite(v)]
    mean = sum(values) / len(values) if values else 0.0
    return float(traded) / mean if mean else 0.0


@dataclass(slots=True)
class _Asset:
    """What is folded per asset beside the ledger's position."""

    opened: str = ""
    open_fees: Decimal = ZERO  # buy fees of the units still held
    realised: Decimal = ZERO
    fees: Decimal = ZERO
    bought: Decimal = ZERO
    sold: Decimal = ZERO
    fills: int = 0
    round_trips: int = 0
    wins: int = 0


@dataclass(slots=True)
class Trades:
    """A projection: the fills, round trips and P&L per asset of one actor's stream.

    Fold it over the stream (:func:`fund.projections.fold`), then take :meth:`book`.
    Entries other than Start, Fill and Observation are handed to the books too (cash moves
    with deposits and valuations), but only the fills change what is shown here.
    Observations that record candles (the ``ohlcv`` oracle) are kept for the price charts.
    """

    ledger: Ledger | None = None
    markets: dict[str, Market] = field(default_factory=dict)
    symbols: list[str] = field(default_factory=list)
    fills: list[TradeFill] = field(default_factory=list)
    round_trips: list[RoundTrip] = field(default_factory=list)
    assets: dict[str, _Asset] = field(default_factory=dict)
    bars: dict[str, dict[float, tuple[float, float, float, float, float]]] = field(
        default_factory=dict)

    def apply(self, seq: int, kind: str, ts: str, payload: Mapping[str, Any]) -> None:
        """Fold one decoded entry."""
        if kind == START:
            self.ledger = Ledger(quote=str(payload["quote"]))
            for market in payload.get("markets", ()):
                rules = {k: v for k, v in market.items() if k != "symbol" and v is not None}
                self.markets[market["symbol"]] = Market.parse(market["symbol"], rules)
                self.symbols.append(market["symbol"])
            return
        if self.ledger is None:
            raise ValueError("the stream does not begin with a Start entry")
        if kind == FILL:
            self._fill(seq, ts, payload)
            return
        if kind == OBSERVATION:
            self._candles(payload.get("data"))
        self.ledger.apply(kind, payload)

    def _fill(self, seq: int, ts: str, payload: Mapping[str, Any]) -> None:
        assert self.ledger is not None
        symbol, side = str(payload["symbol"]), str(payload["side"])
        amount, price = Decimal(payload["amount"]), Decimal(payload["price"])
        fee = Decimal(payload["fee"])
        position = self.ledger.positions.get(symbol)
        held = position.amount if position else ZERO
        cost = position.avg_cost if position else ZERO
        self.ledger.apply(FILL, payload)  # refuses what the books refuse (a sell of more)
        asset = self.assets.setdefault(symbol, _Asset())
        if symbol not in self.symbols:
            self.symbols.append(symbol)
        with localcontext(EXACT):
            notional = amount * price
            asset.fees += fee
            asset.fills += 1
            if side == "buy":
                if not held:
                    asset.opened = ts
                asset.open_fees += fee
                asset.bought += notional
                self.fills.append(TradeFill(seq=seq, ts=ts, symbol=symbol, side=side,
                                            amount=amount, price=price, fee=fee,
                                            fee_currency=str(payload.get("fee_currency", "")),
                                            notional=notional))
                return
            gross = (price - cost) * amount
            share = asset.open_fees if amount == held else asset.open_fees * amount / held
            asset.open_fees -= share
            asset.realised += gross
            asset.sold += notional
            trip = RoundTrip(seq=seq, symbol=symbol, opened=asset.opened or ts, closed=ts,
                             amount=amount, entry_price=cost, exit_price=price, gross=gross,
                             fees=share + fee, flat=amount == held)
        asset.round_trips += 1
        asset.wins += trip.win
        self.round_trips.append(trip)
        self.fills.append(TradeFill(seq=seq, ts=ts, symbol=symbol, side=side, amount=amount,
                                    price=price, fee=fee,
                                    fee_currency=str(payload.get("fee_currency", "")),
                                    notional=notional, cost=cost, realised=gross))

    def _candles(self, data: Any) -> None:
        if not isinstance(data, Mapping) or not isinstance(data.get("candles"), Mapping):
            return
        for symbol, rows in data["candles"].items():
            bars = self.bars.setdefault(str(symbol), {})
            for row in rows if isinstance(rows, list) else ():
                try:
                    bars[parse_ts(row["time"]).timestamp()] = (
                        float(row["open"]), float(row["high"]), float(row["low"]),
                        float(row["close"]), float(row.get("volume") or 0))
                except (KeyError, TypeError, ValueError):
                    continue  # a candle without its figures is not drawn

    def book(self, marks: Mapping[str, Decimal] | None = None) -> TradeBook:
        """The fills, round trips and P&L per asset, unrealised P&L at ``marks`` (the last
        prices; by default the last the books saw: observed, or else the last fill's)."""
        ledger = self.ledger or Ledger(quote="")
        prices = dict(ledger.prices)
        prices.update(marks or {})
        assets = []
        for symbol in self.symbols:
            folded = self.assets.get(symbol)
            if folded is None:
                continue
            position = ledger.positions.get(symbol)
            held = position.amount if position else ZERO
            avg = position.avg_cost if position else ZERO
            mark = prices.get(symbol)
            with localcontext(EXACT):
                unrealised = held * (mark - avg) if held and mark is not None else ZERO
            assets.append(AssetPnL(symbol=symbol, held=held, avg_cost=avg, mark=mark,
                                   realised=folded.realised, unrealised=unrealised,
                                   fees=folded.fees, bought=folded.bought, sold=folded.sold,
                                   fills=folded.fills, round_trips=folded.round_trips,
                                   wins=folded.wins))
        candles = {}
        for symbol, bars in self.bars.items():
            times = sorted(bars)
            rows = [bars[t] for t in times]
            candles[symbol] = Ohlcv(symbol=symbol, times=tuple(times),
                                    open=tuple(r[0] for r in rows),
                                    high=tuple(r[1] for r in rows),
                                    low=tuple(r[2] for r in rows),
                                    close=tuple(r[3] for r in rows),
                                    volume=tuple(r[4] for r in rows))
        return TradeBook(quote=ledger.quote, markets=dict(self.markets), fills=tuple(self.fills),
                         round_trips=tuple(self.round_trips), assets=tuple(assets),
                         candles=candles)


def trades_of(entries: Iterable[Entry], marks: Mapping[str, Decimal] | None = None
              ) -> TradeBook:
    """Fold an actor's entries (its stream from the Start entry) into its trade book."""
    trades = Trades()
    fold(entries, trades)
    return trades.book(marks)


_KEPT = frozenset((START, FILL, DEPOSIT, VALUATION))  # what the trade book reads whole
_CANDLES = '"candles":'  # in an observation's text: it may record candles (a key, quoted)


def trading_fold(trades: Trades) -> Callable[[int, str, str, dict[str, Any]], None]:
    """Fold into ``trades`` the entries that change its book: the Start, the fills, the
    money in or out (the books' cash) and the observations that record candles. An
    observation's prices are left out: they only mark the positions, and the book is
    marked with the snapshot's own books' last prices (as the report does), which saw
    every observation."""
    apply = trades.apply

    def step(seq: int, kind: str, ts: str, payload: dict[str, Any]) -> None:
        if kind in _KEPT:
            apply(seq, kind, ts, payload)
        elif kind == OBSERVATION:
            data = payload.get("data")
            if isinstance(data, dict) and "candles" in data:
                apply(seq, kind, ts, payload)

    return step


def trading_stored(trades: Trades) -> Callable[[Sequence[Entry]], None]:
    """:func:`trading_fold` over stored entries (a writer's ``on_stored``): only the
    entries it may read are decoded (an observation's canonical text names a
    ``"candles"`` key, or it has none)."""
    step = trading_fold(trades)

    def stored(entries: Sequence[Entry]) -> None:
        for seq, kind, ts, text in _wanted(entries):
            step(seq, kind, ts, loads(text))

    return stored


def _wanted(entries: Sequence[Entry]) -> Iterator[tuple[int, str, str, str]]:
    for entry in entries:
        kind = entry.kind
        if kind in _KEPT or (kind == OBSERVATION and _CANDLES in entry.payload):
            yield entry.seq, kind, entry.ts, entry.payload
