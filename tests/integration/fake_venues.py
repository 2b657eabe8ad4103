"""One face for both fake exchanges, so that the adapter's contract tests run on each.

A :class:`FakeVenue` wraps a running fake (binance's or OKX's) and speaks in ccxt symbols
(``BTC/USDT``): it sets prices and balances, injects faults, builds the real
:class:`~fund.exchange.ccxt_adapter.CcxtAdapter` with the real ccxt client of that
exchange pointed at the fake, and reads the exchange's own records of an order (its id,
its trades) in a common shape, to compare with what the adapter reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agentfund.oracles.exchange_prices import public_client
from fund.exchange.ccxt_adapter import CcxtAdapter
from tests.integration.fake_exchange import FakeExchange, Fault, wall_ms
from tests.integration.fake_okx import FakeOkx

D = Decimal
API_KEY = "test-key-Zq81kVd0aPq7"
SECRET = "test-secret-Hs92mXc4eLw1"
PASSPHRASE = "test-pass-Rt55wQ"
EXCHANGES = ("binance", "okx")
FEE_RATE = D("0.001")
STATUSES = {"NEW": "open", "live": "open", "PARTIALLY_FILLED": "partially_filled",
            "partially_filled": "partially_filled", "FILLED": "filled", "filled": "filled",
            "CANCELED": "canceled", "canceled": "canceled", "EXPIRED": "expired",
            "EXPIRED_IN_MATCH": "expired"}
"""An order's status on either exchange, in agentfund's words (an order ack's status)."""


@dataclass(frozen=True)
class Trade:
    """One trade of an order, as the exchange recorded it."""

    trade_id: str
    amount: Decimal
    price: Decimal
    fee: Decimal
    maker: bool = False


@dataclass(frozen=True)
class OrderState:
    """One order as the exchange holds it, in a common shape. ``status``: open,
    partially_filled, filled, canceled or expired (the exchange's own in ``raw_status``)."""

    client_id: str
    order_id: str
    symbol: str
    side: str  # buy or sell
    status: str
    raw_status: str
    amount: Decimal
    filled: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    trades: tuple[Trade, ...]


@dataclass
class FakeVenue:
    """A running fake exchange, addressed in ccxt symbols."""

    exchange_id: str
    fake: Any  # FakeExchange | FakeOkx
    market_id: Callable[[str], str]

    def reset(self, *, prices: dict[str, Decimal | None] | None = None,
              balances: dict[str, Decimal] | None = None, fee_rate: Decimal = FEE_RATE,
              max_fill: Decimal | None = None) -> None:
        """Forget everything; set prices (by ccxt symbol), balances and the fee rate."""
        prices = prices if prices is not None else {"BTC/USDT": D("40000"),
                                                    "ETH/USDT": D("2000")}
        self.fake.reset(prices={self.market_id(s): p for s, p in prices.items()},
                        balances=balances or {"USDT": D("100000"), "BTC": D("2")},
                        fee_rate=fee_rate, max_fill=max_fill)

    def move(self, symbol: str, price: Decimal | str) -> None:
        """The market trades at ``price`` now: working orders it reaches are matched."""
        self.fake.move(self.market_id(symbol), price)

    def serve_history(self, symbol: str, timeframe: str, rows: list[list[Any]]) -> None:
        """Serve a candle series (rows of [open ms, open, high, low, close, volume], strings,
        oldest first) at ``timeframe`` (``1m``, ``5m``, ``1h``): the candles endpoint pages
        it and the market runs on it as the exchange's clock passes each close."""
        self.fake.serve_history(self.market_id(symbol), timeframe, rows)

    def cap_fills(self, amount: Decimal | None) -> None:
        """Let each fill take at most ``amount`` (None: all there is)."""
        with self.fake.lock:
            self.fake.book.max_fill = amount

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        """(free, locked by working orders) of ``asset``."""
        self.fake.run_market()
        with self.fake.lock:
            held = (self.fake.locked(asset) if self.exchange_id == "binance"
                    else self.fake.frozen(asset))
            return self.fake.book.balances.get(asset, D(0)) - held, held

    def order(self, venue_coid: str) -> OrderState:
        """The order with this client id, as the exchange holds it now."""
        return self._state(self.fake.order(venue_coid))

    def orders(self) -> list[OrderState]:
        """Every order the exchange booked, as it holds them now, oldest first."""
        return [self._state(raw) for raw in self.fake.orders()]

    def open_orders(self) -> list[OrderState]:
        """The orders still working (open or partly filled), oldest first."""
        return [s for s in self.orders() if s.status in ("open", "partially_filled")]

    def _state(self, raw: dict[str, Any]) -> OrderState:
        if self.exchange_id == "binance":
            coid, stop = raw["clientOrderId"], D(raw.get("stopPrice", "0"))
            return OrderState(
                client_id=coid, order_id=str(raw["orderId"]),
                symbol=self._symbol(raw["symbol"]), side=raw["side"].lower(),
                status=STATUSES[raw["status"]], raw_status=raw["status"],
                amount=D(raw["origQty"]), filled=D(raw["executedQty"]),
                limit_price=D(raw["price"]) or None, stop_price=stop or None,
                trades=tuple(self.trades(coid)))
        return OrderState(
            client_id=raw["clOrdId"], order_id=raw["ordId"], symbol=self._symbol(raw["instId"]),
            side=raw["side"], status=STATUSES[raw["state"]], raw_status=raw["state"],
            amount=D(raw["sz"]), filled=D(raw["accFillSz"]),
            limit_price=D(raw["px"]) if raw["px"] else None, stop_price=None,
            trades=tuple(self.trades(raw["clOrdId"])))

    def _symbol(self, market_id: str) -> str:
        names = self.fake.symbols if self.exchange_id == "binance" else self.fake.instruments
        spec = names[market_id]
        return f"{spec.base}/{spec.quote}"

    def client(self) -> Any:
        """The real ccxt client of this exchange, keyed, on the fake (numbers as strings)."""
        client = public_client(self.exchange_id, urls={"api": self.fake.url}, rate_limit=False)
        client.apiKey, client.secret = API_KEY, SECRET
        if self.exchange_id == "okx":
            client.password = PASSPHRASE
            client.has = {**client.has, "fetchCurrencies": False}  # it asks, keyed, otherwise
        return client

    def adapter(self, **kwargs: Any) -> CcxtAdapter:
        """The real adapter, with the real ccxt client of this exchange, on the fake."""
        password = PASSPHRASE if self.exchange_id == "okx" else None
        return CcxtAdapter(exchange_id=self.exchange_id, api_key=API_KEY, secret=SECRET,
                           password=password, urls={"api": self.fake.url},
                           enable_rate_limit=False, **kwargs)

    def inject(self, fault: Fault) -> None:
        """Give the next order placement this fault."""
        self.fake.inject(fault)

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status``."""
        self.fake.fail_next(status, times)

    @property
    def placed(self) -> list[str]:
        """The client order ids of the orders the exchange booked (as it holds them)."""
        return list(self.fake.placed)

    def sent(self) -> list[str]:
        """The client order id of every order placement received, in order."""
        field = "newClientOrderId" if self.exchange_id == "binance" else "clOrdId"
        return [r.params.get(field, "") for r in self.fake.posts()]

    def order_id(self, venue_coid: str) -> str:
        """The exchange's id of the order with this client id."""
        order = self.fake.order(venue_coid)
        return str(order["orderId"] if self.exchange_id == "binance" else order["ordId"])

    def trades(self, venue_coid: str) -> list[Trade]:
        """The trades of the order with this client id, as the exchange recorded them."""
        if self.exchange_id == "binance":
            return [Trade(str(t["id"]), D(t["qty"]), D(t["price"]), D(t["commission"]),
                          t["isMaker"]) for t in self.fake.order(venue_coid)["fills"]]
        return [Trade(t["tradeId"], D(t["fillSz"]), D(t["fillPx"]), -D(t["fee"]),
                      t["execType"] == "M") for t in self.fake.fills(venue_coid)]


@contextmanager
def fake_venue(exchange_id: str, *, clock: Callable[[], int] = wall_ms,
               signing_clock: Callable[[], int] | None = None) -> Iterator[FakeVenue]:
    """Run the fake of this exchange for the block, on ``clock`` (its market data, orders
    and trades are stamped with it; signed requests are judged by ``signing_clock`` when
    given: wall time, for a fake on a simulated clock)."""
    if exchange_id == "binance":
        with FakeExchange(clock=clock, signing_clock=signing_clock) as binance:
            yield FakeVenue("binance", binance, lambda s: s.replace("/", ""))
    else:
        with FakeOkx({API_KEY: (SECRET, PASSPHRASE)}, clock=clock,
                     signing_clock=signing_clock) as okx:
            yield FakeVenue("okx", okx, lambda s: s.replace("/", "-"))
