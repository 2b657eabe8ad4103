"""What each exchange agentfund trades on live can do, in one place.

The ccxt adapter reads it to build its client and its requests (the field that carries the
client order id, the one that finds an order by it, ccxt's options, how long a signed
request stays valid); ``fund run --live`` reads it to refuse, before anything is sent, a
strategy whose order types the exchange cannot take and a credential the environment does
not hold. Paper trading reads public prices from any ccxt exchange; live trading is
supported on the exchanges listed in :data:`VENUES` (docs/daemon.md says how to add one).

An *order kind* is an order type, with its time in force after a colon where it has one:
``market``, ``limit:IOC``, ``limit:GTC``, ``limit:FOK``, ``limit:PO`` (post-only),
``stop_market``, ``stop_limit:GTC``. A strategy declares the kinds it may send
(:meth:`fund.strategy.Strategy.order_types`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fund.messages import OrderIntent

CREDENTIALS: Mapping[str, str] = MappingProxyType({
    "apiKey": "the API key", "secret": "the API secret",
    "password": "the API passphrase", "uid": "the account's user id"})
"""ccxt's name of each credential an exchange may need, and what it is."""

ORDER_TYPES = ("market", "limit", "stop_market", "stop_limit")
TIMES_IN_FORCE = ("GTC", "IOC", "FOK", "PO")
"""Good till cancelled, immediate or cancel, fill or kill, post-only (maker only)."""


def order_kind(intent: OrderIntent) -> str:
    """The kind of an order a strategy returns (a limit without a time in force is
    immediate-or-cancel; a stop-limit without one is good till cancelled); ``cancel`` for a
    cancel, which every listed exchange takes."""
    if intent.order_type in ("market", "stop_market", "cancel"):
        return intent.order_type
    default = "IOC" if intent.order_type == "limit" else "GTC"
    return f"{intent.order_type}:{intent.time_in_force or default}"


def order_request(intent: OrderIntent) -> tuple[str, dict[str, Any]]:
    """ccxt's order type and unified parameters for an intent, before the client order id
    and the stop price (a string at the market's precision) are added: ccxt turns them into
    each exchange's own (binance: LIMIT_MAKER, STOP_LOSS, STOP_LOSS_LIMIT; OKX: post_only,
    fok, ioc)."""
    order_type, _, tif = order_kind(intent).partition(":")
    params: dict[str, Any] = {}
    if tif == "PO":
        params["postOnly"] = True
    elif tif:
        params["timeInForce"] = tif
    return ("market" if order_type in ("market", "stop_market") else "limit"), params


class UnsupportedVenue(ValueError):
    """Live trading is not supported on this exchange (the message lists those it is)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Venue:
    """One exchange's capabilities, as the adapter and config validation read them."""

    exchange_id: str
    client_id_param: str  # the placement's request field carrying our client order id
    lookup_param: str  # the order query's field that finds an order by that id
    client_id_pattern: str  # the client order ids the exchange accepts (a regex)
    order_types: frozenset[str]
    times_in_force: frozenset[str]
    market_buy_cost: bool  # a market buy is sized in quote (its cost), not in base
    fills_in_placement: bool  # the placement's answer carries the order's fills
    credentials: tuple[str, ...]  # ccxt's names: apiKey, secret, password, uid
    duplicates: tuple[str, ...]  # how its error says the client order id is taken (lower case)
    options: Mapping[str, Any] = field(default_factory=dict)  # ccxt options
    validity_option: str | None = None  # the ccxt option bounding a signed request's life
    fixed_validity_ms: int | None = None  # or the exchange's own, fixed bound

    def client_id(self, client_order_id: str) -> str:
        """Our client order id as this exchange takes it (OKX: letters and digits only)."""
        venue_id = client_order_id
        if not re.fullmatch(self.client_id_pattern, venue_id):
            venue_id = re.sub(r"[^A-Za-z0-9]", "", client_order_id)
        if not re.fullmatch(self.client_id_pattern, venue_id):
            raise ValueError(f"client order id {client_order_id!r} cannot be sent to "
                             f"{self.exchange_id}")
        return venue_id

    def kinds(self) -> tuple[str, ...]:
        """Every order kind the exchange takes, in a fixed order."""
        found: list[str] = []
        for order_type in ORDER_TYPES:
            if order_type not in self.order_types:
                continue
            if order_type in ("market", "stop_market"):
                found.append(order_type)
            else:
                found += [f"{order_type}:{tif}" for tif in TIMES_IN_FORCE
                          if tif in self.times_in_force and self._pairs(order_type, tif)]
        return tuple(found)

    def refusal(self, kind: str) -> str | None:
        """Why the exchange cannot take orders of this kind (None if it can)."""
        order_type, _, tif = kind.partition(":")
        if order_type == "cancel":
            return None  # every listed exchange cancels by client order id
        if order_type not in ORDER_TYPES:
            return f"{kind!r} is not an order kind ({', '.join(ORDER_TYPES)}, with :TIF)"
        if order_type not in self.order_types:
            return f"{self.exchange_id} cannot take {order_type} orders"
        if tif and (tif not in self.times_in_force or not self._pairs(order_type, tif)):
            return f"{self.exchange_id} cannot take {order_type} orders with time in force {tif}"
        return None

    @staticmethod
    def _pairs(order_type: str, tif: str) -> bool:
        """Whether a time in force applies to an order type (post-only: to limits only)."""
        return order_type != "market" and (tif != "PO" or order_type == "limit")


VENUES: Mapping[str, Venue] = MappingProxyType({
    "binance": Venue(
        exchange_id="binance", client_id_param="newClientOrderId",
        lookup_param="origClientOrderId", client_id_pattern=r"[.A-Z:/a-z0-9_-]{1,36}",
        order_types=frozenset(ORDER_TYPES), times_in_force=frozenset(TIMES_IN_FORCE),
        market_buy_cost=False, fills_in_placement=True, credentials=("apiKey", "secret"),
        duplicates=("duplicate order",),  # -2010, among open orders
        options=MappingProxyType({"fetchMarkets": {"types": ["spot"]},
                                  "fetchCurrencies": False, "fetchMargins": False}),
        validity_option="recvWindow"),
    "okx": Venue(
        # stop orders are OKX "algo" orders: another endpoint, their own ids and lookups,
        # not wired into the adapter yet, so they are refused at start
        exchange_id="okx", client_id_param="clOrdId", lookup_param="clOrdId",
        client_id_pattern=r"[A-Za-z0-9]{1,32}", order_types=frozenset({"market", "limit"}),
        times_in_force=frozenset(TIMES_IN_FORCE), market_buy_cost=False,
        fills_in_placement=False, credentials=("apiKey", "secret", "password"),
        duplicates=("duplicated clordid",),  # sCode 51016, which ccxt raises as InvalidOrder
        options=MappingProxyType({"fetchMarkets": {"types": ["spot"]},
                                  "fetchCurrencies": False,
                                  "createOrder": "privatePostTradeOrder",
                                  "tgtCcy": "base_ccy"}),
        fixed_validity_ms=30_000),  # OKX refuses a request stamped 30 s before it (50102)
})
"""The exchanges agentfund trades on live, by ccxt id."""


def venue(exchange_id: str) -> Venue:
    """The capabilities of an exchange; :class:`UnsupportedVenue` if it is not listed."""
    found = VENUES.get(exchange_id)
    if found is None:
        raise UnsupportedVenue(f"live trading on {exchange_id!r} is not supported (only on "
                               f"{', '.join(VENUES)}: see docs/daemon.md, adding an exchange)")
    return found


def ccxt_options(exchange_id: str) -> dict[str, Any]:
    """ccxt options for a client of this exchange (none for an exchange not listed)."""
    listed = VENUES.get(exchange_id)
    return dict(listed.options) if listed else {}


def capabilities_table() -> str:
    """The capabilities of every listed exchange, as a Markdown table (for the docs)."""
    rows = ["| exchange | credentials | client order id | order kinds | market buy sized by "
            "| fills read from | request valid for |",
            "|---|---|---|---|---|---|---|"]
    for v in VENUES.values():
        valid = (f"`order_validity_ms` (ccxt `{v.validity_option}`)" if v.validity_option
                 else f"{(v.fixed_validity_ms or 0) // 1000} s, fixed")
        rows.append(
            f"| `{v.exchange_id}` | {', '.join(CREDENTIALS[c] for c in v.credentials)} "
            f"| `{v.client_id_param}` (`{v.client_id_pattern}`) "
            f"| {', '.join(f'`{k}`' for k in v.kinds())} "
            f"| {'cost (quote)' if v.market_buy_cost else 'amount (base)'} "
            f"| {'the placement answer' if v.fills_in_placement else 'a lookup after it'} "
            f"| {valid} |")
    return "\n".join(rows)
