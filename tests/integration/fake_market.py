"""A market that moves, as both fake exchanges see it: recorded candles served on the
exchange's clock, and the rules by which a working order meets the price.

A fake exchange (:mod:`tests.integration.fake_exchange`, :mod:`tests.integration.fake_okx`)
holds a :class:`History` of the candle series a test served. Before it answers a request it
*runs the market* up to its clock (:meth:`History.due`): every candle that closed since the
last run is handed, oldest first, to the venue's matcher as a :class:`Tick`, and the last
price becomes the last closed candle's close. A test's ``move(symbol, price)`` is a tick
too, of one price. The matching rules, the same on both venues:

* a resting **buy limit fills when the market trades below it** (a candle's low under the
  limit), a sell limit when it trades above; a touch only at the limit is not enough — the
  queue ahead of the order takes it. It fills at its limit price, as a maker;
* a **stop triggers when the market reaches it**: rising (a buy stop-loss, a sell
  take-profit) when the high reaches the stop, falling when the low does; it triggers at
  the stop, or at the candle's open when the candle opened beyond it (a gap);
* a candle only meets orders placed at or before its open (an order does not see the
  trading that came before it).
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

D = Decimal
UNITS = {"m": 60_000, "h": 3_600_000, "H": 3_600_000, "d": 86_400_000, "D": 86_400_000,
         "w": 604_800_000, "W": 604_800_000}


def span_ms(timeframe: str) -> int:
    """The length of a candle: binance's intervals (``5m``, ``1h``, ``1d``) and OKX's bars
    (``5m``, ``1H``, ``6Hutc``, ``1Dutc``); ``ValueError`` for any other (months)."""
    bar = timeframe.removesuffix("utc")
    if len(bar) < 2 or bar[-1] not in UNITS or not bar[:-1].isdigit():
        raise ValueError(f"no such timeframe {timeframe!r}")
    return int(bar[:-1]) * UNITS[bar[-1]]


@dataclass(frozen=True)
class Tick:
    """One move of the market: a candle's open, high and low, or one price (all three).
    ``opened``: the candle's open time, after which placed orders do not see it (None: a
    price set now, seen by every order)."""

    open: Decimal
    high: Decimal
    low: Decimal
    opened: int | None = None

    @classmethod
    def at(cls, price: Decimal) -> Tick:
        """The market trading at one price, now."""
        return cls(price, price, price)

    def sees(self, placed_ms: int) -> bool:
        """Whether an order placed at ``placed_ms`` was there for this move."""
        return self.opened is None or placed_ms <= self.opened


def crosses(buy: bool, limit: Decimal, tick: Tick) -> bool:
    """Whether the market traded through a resting limit (a touch is not enough)."""
    return tick.low < limit if buy else tick.high > limit


def trigger(rising: bool, stop: Decimal, tick: Tick) -> Decimal | None:
    """The price at which a stop triggers on this move (None: it does not): the stop, or
    the open when the market opened beyond it. ``rising``: it waits for the price to rise
    to the stop (a buy stop-loss, a sell take-profit), else to fall to it."""
    if rising:
        return max(stop, tick.open) if tick.high >= stop else None
    return min(stop, tick.open) if tick.low <= stop else None


def marketable(buy: bool, limit: Decimal | None, last: Decimal | None) -> bool:
    """Whether an order would take at the last price (a limit at the price takes)."""
    if last is None or last <= 0:
        return False
    return limit is None or (last <= limit if buy else last >= limit)


@dataclass
class History:
    """Recorded candle series by (symbol, span), and how far the market has run on each
    symbol. A row is ``[open ms, open, high, low, close, volume]`` (numbers as strings),
    oldest first."""

    series: dict[tuple[str, int], tuple[list[int], list[list[Any]]]] = field(
        default_factory=dict)
    ran: dict[str, int] = field(default_factory=dict)  # symbol -> closes run up to (ms)

    def serve(self, symbol: str, timeframe: str, rows: list[list[Any]]) -> None:
        """Serve this series for ``symbol`` at ``timeframe``."""
        self.series[(symbol, span_ms(timeframe))] = ([int(row[0]) for row in rows], rows)

    def served(self, symbol: str, span: int) -> tuple[list[int], list[list[Any]]] | None:
        """The series of ``symbol`` at ``span`` (open times, rows), if one is served."""
        return self.series.get((symbol, span))

    @staticmethod
    def shown(row: list[Any], span: int, now: int) -> tuple[list[Any], bool]:
        """A row as the exchange shows it at ``now``, and whether it is closed: the candle
        still forming is served half-formed (its close so far is its open, half its
        volume)."""
        opened = int(row[0])
        if opened + span <= now:
            return [opened, *row[1:6]], True
        first, last = row[1], row[4]
        return [opened, first, max(first, last, key=D), min(first, last, key=D), first,
                format(D(row[5]) / 2, "f")], False

    def due(self, now: int) -> list[tuple[str, Tick, Decimal]]:
        """The candles closed since the market last ran, up to ``now``, as (symbol, tick,
        close), oldest first per symbol; each symbol runs on its finest series."""
        finest: dict[str, int] = {}
        for symbol, span in self.series:
            finest[symbol] = min(span, finest.get(symbol, span))
        out: list[tuple[str, Tick, Decimal]] = []
        for symbol, span in sorted(finest.items()):
            opens, rows = self.series[(symbol, span)]
            since = self.ran.get(symbol)
            start = 0 if since is None else bisect_right(opens, since - span)
            stop = bisect_right(opens, now - span)
            for row in rows[start:stop]:
                out.append((symbol, Tick(D(row[1]), D(row[2]), D(row[3]), int(row[0])),
                            D(row[4])))
            if stop > start:
                self.ran[symbol] = opens[stop - 1] + span
        return out


class MovingMarket:
    """What both fakes mix in to move their market: :meth:`move` and :meth:`run_market`.
    The fake holds ``lock`` and ``history``, and says which symbols it lists, where its
    last prices are, and how a move meets its working orders (``_match``)."""

    lock: threading.Lock
    history: History

    def now_ms(self) -> int:
        """The exchange's clock, in milliseconds."""
        raise NotImplementedError

    def _listed(self, symbol: str) -> bool:
        raise NotImplementedError

    def _prices(self) -> dict[str, Decimal | None]:
        raise NotImplementedError

    def _match(self, symbol: str, tick: Tick) -> None:
        raise NotImplementedError

    def move(self, symbol: str, price: Any) -> None:
        """The market trades at ``price`` now (``symbol``: the exchange's id): the last price,
        and every working order it reaches is matched at once."""
        with self.lock, localcontext() as ctx:
            ctx.prec = 200  # the books are exact
            self._run_market()
            self._prices()[symbol] = D(price)
            self._match(symbol, Tick.at(D(price)))

    def run_market(self) -> None:
        """Run the served history up to the exchange's clock (every request does first)."""
        with self.lock, localcontext() as ctx:
            ctx.prec = 200
            self._run_market()

    def _run_market(self) -> None:
        """Meet the working orders with every candle closed since the last run, oldest
        first; the last price becomes the last closed candle's close."""
        for symbol, tick, close in self.history.due(self.now_ms()):
            if self._listed(symbol):
                self._match(symbol, tick)
                self._prices()[symbol] = close
