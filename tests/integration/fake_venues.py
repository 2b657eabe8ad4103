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

from fund.exchange.ccxt_adapter import CcxtAdapter
from tests.integration.fake_exchange import FakeExchange, Fault
from tests.integration.fake_okx import FakeOkx

D = Decimal
API_KEY = "test-key-Zq81kVd0aPq7"
SECRET = "test-secret-Hs92mXc4eLw1"
PASSPHRASE = "test-pass-Rt55wQ"
EXCHANGES = ("binance", "okx")
FEE_RATE = D("0.001")


@dataclass(frozen=True)
class Trade:
    """One trade of an order, as the exchange recorded it."""

    trade_id: str
    amount: Decimal
    price: Decimal
    fee: Decimal


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
            return [Trade(str(t["id"]), D(t["qty"]), D(t["price"]), D(t["commission"]))
                    for t in self.fake.order(venue_coid)["fills"]]
        return [Trade(t["tradeId"], D(t["fillSz"]), D(t["fillPx"]), -D(t["fee"]))
                for t in self.fake.fills(venue_coid)]


@contextmanager
def fake_venue(exchange_id: str) -> Iterator[FakeVenue]:
    """Run the fake of this exchange for the block."""
    if exchange_id == "binance":
        with FakeExchange() as binance:
            yield FakeVenue("binance", binance, lambda s: s.replace("/", ""))
    else:
        with FakeOkx({API_KEY: (SECRET, PASSPHRASE)}) as okx:
            yield FakeVenue("okx", okx, lambda s: s.replace("/", "-"))
