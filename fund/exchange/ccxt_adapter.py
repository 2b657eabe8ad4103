"""Live trading through ccxt: orders placed on a real (or test) exchange.

Numbers cross the ccxt boundary as strings (``exchange.number = str``) and become
``Decimal`` here, so amounts, prices and fees are exactly what the exchange reported.

**An order is sent once.** Its client order id never reaches the exchange a second time:
an answer that proves the exchange refused the order (a validation error, insufficient
funds, a bad symbol, an expired signature) is a final rejection; any other outcome — a
timeout, a dropped connection, HTTP 5xx, binance's -1006 "execution status unknown", even
a 429 (a proxy may have passed the order on) — leaves the order's fate unknown. It is
recorded as an *ambiguous* rejection carrying ``valid_until``: the moment after which the
exchange can no longer accept it (orders are signed with a short ``recvWindow``, and the
measured clock offset and a margin are added). Reconciliation (fund/reconcile.py) looks the
order up by client order id, and only after that moment may it call the order dropped.

**What the exchange said is kept.** The body of every HTTP answer to a request about an
order — the placement, and each lookup's requests (``fetch_order``, or open and closed
orders; then the order's trades or the account's trades), retries and error answers
included — is taken as ccxt receives it (its ``on_rest_response`` hook, the text ccxt then
keeps as ``last_http_response``, but per thread: one adapter serves every actor of a
daemon, side by side), every secret blanked out (binance's 401 echoes the API key). The
answers travel with the events they produced (:class:`fund.exchange.base.Answered`); the
runtime stores each as a blob, in the same batch as the event, and lists the digests, in
request order, under the event's ``raw``:

* the placement's answer (normally one) is on every event the placement produced: its
  OrderAck and each Fill, or its OrderRejected — a refusal, an IOC order that ended
  unfilled, or an ambiguous outcome with an error body (a timeout or a dropped connection
  has no answer, and lists none). Where the placement's answer holds only the order's ids
  (OKX's; ``fills_in_placement`` in fund/exchange/venues.py), the order and its trades are
  read back at once, and those answers follow the placement's on the same events;
* a lookup's answers (the order, then its trades; with a failed attempt's answer before
  the one retried) are on every event that lookup reported: the current OrderAck and each
  new Fill;
* a rejection made before anything was sent (the order breaks a limit, the markets cannot
  be loaded) lists none: nothing was asked about the order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import ccxt  # type: ignore[import-untyped]

from fund import secrets
from fund.canonical import format_ts
from fund.exchange.base import LIVE, Adapter, Answered, Event, NoEvents, PlacedOrder
from fund.exchange.venues import Venue, order_kind, order_request, venue
from fund.ledger import PortfolioView
from fund.markets import Market
from fund.messages import FILL, ORDER_ACK, STOP_TYPES, Fill, OrderAck, OrderRejected, entry
from fund.money import isolated

DEFAULT_VALIDITY_MS = 5_000
"""How long after signing the exchange may still accept an order (binance's recvWindow)."""

_REFUSALS = (ccxt.InvalidOrder, ccxt.InsufficientFunds, ccxt.BadRequest,
             ccxt.AuthenticationError, ccxt.NotSupported, ccxt.ArgumentsRequired,
             ccxt.OperationRejected, ccxt.InvalidNonce)
"""Errors that prove the exchange refused a request without acting on it."""
_OFFSET_TTL_S = 600.0  # the clock offset is measured again after this long


class VenueUnreachable(Exception):
    """The exchange did not answer within the retries (the message is redacted)."""


class VenueRefused(Exception):
    """The exchange answered a request with an error (the message is redacted)."""


def proves_refusal(exc: BaseException, duplicates: Collection[str] = ("duplicate order",)
                   ) -> bool:
    """Whether an error answer to an order placement proves the order does not exist
    (``duplicates``: how the exchange says the client order id is taken, lower case)."""
    text = str(exc).lower()
    if isinstance(exc, ccxt.DuplicateOrderId) or any(d in text for d in duplicates):
        return False  # an order with this client id exists: look it up
    return isinstance(exc, _REFUSALS)


class CcxtAdapter(Adapter):
    """Place orders on an exchange through a ccxt client; report acks, fills, rejections.

    Market orders take what the book gives; limit orders are immediate-or-cancel, like the
    paper adapter's. Sells are capped at the amount held; amounts and prices are rounded to
    both the exchange's and the configured market's steps, and minimums are checked before
    anything is sent. What differs between exchanges (the client order id's field, ccxt's
    options, whether the placement's answer carries the fills) is read from
    :mod:`fund.exchange.venues`. The credentials (key, secret, and the passphrase or user
    id where the exchange needs one) are handed to ccxt and nowhere else, and blanked out
    of every text that leaves the adapter.
    """

    capabilities = LIVE

    def __init__(self, *, exchange_id: str, api_key: str, secret: str,
                 password: str | None = None, uid: str | None = None,
                 urls: Mapping[str, str] | None = None,
                 options: Mapping[str, Any] | None = None, retries: int = 3,
                 backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep,
                 timeout_ms: int = 10_000, enable_rate_limit: bool = True,
                 validity_ms: int = DEFAULT_VALIDITY_MS,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if exchange_id not in ccxt.exchanges:
            raise ValueError(f"ccxt has no exchange {exchange_id!r}")
        self.venue: Venue = venue(exchange_id)
        merged = {**self.venue.options, **(options or {})}
        if self.venue.validity_option:
            merged[self.venue.validity_option] = validity_ms
        else:
            validity_ms = self.venue.fixed_validity_ms or validity_ms
        self.exchange_id = exchange_id
        credentials = {"apiKey": api_key, "secret": secret, "password": password, "uid": uid}
        given = [v for v in credentials.values() if v]
        secrets.register(*given)
        self._exchange: Any = getattr(ccxt, exchange_id)({
            **{k: v for k, v in credentials.items() if v is not None}, "timeout": timeout_ms,
            "enableRateLimit": enable_rate_limit, "options": merged})
        if merged.get("fetchCurrencies") is False:  # okx's client asks, with keys, regardless
            self._exchange.has = {**self._exchange.has, "fetchCurrencies": False}
        self._exchange.number = str  # exact decimals from the wire, never floats
        self._exchange.on_rest_response = self._heard  # every HTTP answer's body, raw
        self._listening = threading.local()  # the answers of this thread's order request
        self._redact = tuple(given)
        self._urls = dict(urls or {})
        if self._urls:
            rewrite_urls(self._exchange.urls, self._urls)
        self.retries, self.backoff, self._sleep = retries, backoff, sleep
        self.validity = timedelta(milliseconds=validity_ms)
        self._clock, self._monotonic = clock, monotonic
        self._offset: tuple[float, timedelta] | None = None  # (measured at, offset)
        self._markets: dict[str, Market] | None = None

    def __repr__(self) -> str:
        return f"CcxtAdapter(exchange_id={self.exchange_id!r}, urls={self._urls!r})"

    # --- markets and account ------------------------------------------------------------

    @isolated  # ccxt rewrites the Decimal context: keep it from leaking
    def markets(self) -> dict[str, Market]:
        """Load the exchange's markets once; return them by symbol with their steps and limits."""
        if self._markets is None:
            raw = self._call(lambda: self._exchange.load_markets())
            self._markets = {sym: to_market(m, self._exchange.precisionMode)
                             for sym, m in raw.items()}
        return self._markets

    @isolated
    def balances(self) -> dict[str, Decimal]:
        """The account's total per currency (free plus held in orders), exact."""
        raw = self._call(lambda: self._exchange.fetch_balance())
        return {currency: Decimal(str(amount)) for currency, amount
                in sorted((raw.get("total") or {}).items()) if amount not in (None, "")}

    def clock_offset(self) -> timedelta:
        """The exchange's clock minus ours (zero if it cannot be measured), re-measured every
        ten minutes: the server's time against the midpoint of the request."""
        now = self._monotonic()
        if self._offset is not None and now - self._offset[0] < _OFFSET_TTL_S:
            return self._offset[1]
        offset = timedelta(0)
        if self._exchange.has.get("fetchTime"):
            try:
                sent = self._clock()
                server = int(self._exchange.fetch_time())
                back = self._clock()
                middle = sent + (back - sent) / 2
                offset = datetime.fromtimestamp(server / 1000, UTC) - middle
            except (ccxt.BaseError, TypeError, ValueError):
                offset = timedelta(0)
        self._offset = (now, offset)
        return offset

    def settles_after(self, sent: datetime) -> datetime:
        """The moment after which an order signed at ``sent`` (our clock) can no longer be
        accepted: the validity window, the clock offset if the exchange runs behind, and a
        second of margin."""
        behind = max(-self.clock_offset(), timedelta(0))
        return sent + self.validity + behind + timedelta(seconds=1)

    # --- orders ---------------------------------------------------------------------------

    @isolated  # ccxt rewrites the Decimal context: keep it from leaking
    def submit(self, order: PlacedOrder, portfolio: PortfolioView) -> list[Event]:
        coid = order.client_order_id
        if order.intent.order_type == "cancel":
            return self._cancel(order)
        try:
            prepared = self._prepare(order, portfolio)
        except VenueUnreachable as exc:
            return [self._reject(coid, f"exchange unreachable: {exc}", "adapter")]
        except (VenueRefused, ccxt.BaseError) as exc:
            return [self._reject(coid, self._say(exc), "adapter")]
        if isinstance(prepared, str):
            return [self._reject(coid, prepared, "adapter")]
        amount, price, stop = prepared
        try:
            venue_coid = self.venue.client_id(coid)
        except ValueError as exc:
            return [self._reject(coid, str(exc), "adapter")]
        return self._place(order, venue_coid, amount, price, stop)

    @isolated  # ccxt rewrites the Decimal context: keep it from leaking
    def order_events(self, symbol: str, client_order_id: str,
                     known_fill_ids: Collection[str]) -> list[Event]:
        """Return the order's current ack and its fills not in ``known_fill_ids``.

        Empty when the exchange has no order with this client id (an order under another
        id is never taken for it); raises :class:`VenueUnreachable` (or
        :class:`VenueRefused`) when it cannot be asked.
        """
        self.markets()  # loaded first, so that the order's answers are the only ones heard
        with self._hearing() as heard:
            found = self._call(lambda: self._find(symbol, client_order_id))
            if found is None:
                return NoEvents(heard)  # what said "no such order" is kept
            trades = self._call(lambda: self._trades(found))
        events = self._events(client_order_id, found, trades)
        return _answered([e for e in events
                          if e[0] != FILL or e[1]["fill_id"] not in known_fill_ids], heard)

    def _prepare(self, order: PlacedOrder,
                 portfolio: PortfolioView) -> tuple[Decimal, Decimal | None, Decimal | None] | str:
        """Round the order to both markets and check the limits; a reason if it breaks one."""
        intent, local = order.intent, order.market
        refused = self.venue.refusal(order_kind(intent))
        if refused:
            return refused
        venue = self.markets().get(intent.symbol)
        if venue is None:
            return f"{intent.symbol} is not traded on {self.exchange_id}"
        amount = intent.amount
        if intent.side == "sell":
            amount = min(amount, portfolio.holding(intent.symbol))
        if amount <= 0:
            return f"amount {amount} is not positive" + (
                " (nothing held)" if intent.side == "sell" else "")
        amount = local.round_amount(Decimal(self._exchange.amount_to_precision(
            intent.symbol, _num(amount))))
        price = stop = None
        if intent.order_type in ("limit", "stop_limit"):
            if intent.limit_price is None or intent.limit_price <= 0:
                return f"{intent.order_type} order without a positive limit price"
            price = Decimal(self._exchange.price_to_precision(intent.symbol,
                                                              _num(intent.limit_price)))
        if intent.order_type in STOP_TYPES:
            if intent.stop_price is None or intent.stop_price <= 0:
                return f"{intent.order_type} order without a positive stop price"
            stop = Decimal(self._exchange.price_to_precision(intent.symbol,
                                                             _num(intent.stop_price)))
        observed = portfolio.prices.get(intent.symbol) or intent.reference_price
        check = _notional_price(intent.side, price or stop, observed)
        for mkt in (local, venue):
            problem = (mkt.violation(amount, check) if check is not None
                       else replace(mkt, min_notional=None).violation(amount, Decimal(0)))
            if problem:
                return problem
        return amount, price, stop

    def _place(self, order: PlacedOrder, venue_coid: str, amount: Decimal,
               price: Decimal | None, stop: Decimal | None) -> list[Event]:
        """Send the order once; an answer that is not a proof of refusal is ambiguous."""
        intent, coid = order.intent, order.client_order_id
        ccxt_type, params = order_request(intent)
        params[self.venue.client_id_param] = venue_coid
        if stop is not None:
            params["stopLossPrice"] = _num(stop)  # binance: STOP_LOSS(_LIMIT), both sides
        sent = self._clock()
        events: list[Event]
        try:
            with self._hearing() as heard:
                response = self._exchange.create_order(
                    intent.symbol, ccxt_type, intent.side, _num(amount),
                    None if price is None else _num(price), params)
                if not self.venue.fills_in_placement:
                    return _answered(self._read_back(order, response, sent), heard)
            events = self._placed_events(order, response, response.get("trades") or [])
        except ccxt.BaseError as exc:
            refused = proves_refusal(exc, self.venue.duplicates)
            events = [self._reject(coid, self._say(exc), "exchange") if refused
                      else self._unknown(coid, self._say(exc), sent)]
        except Exception as exc:  # noqa: BLE001 - an answer ccxt could not parse: fate unknown
            events = [self._unknown(coid, self._say(exc), sent)]
        return _answered(events, heard)

    def _cancel(self, order: PlacedOrder) -> list[Event]:
        """Cancel the working order a cancel intent names, then read that order back.

        Its events come first (fills not journaled yet, then its final ack: ``canceled``,
        with what filled and what did not), then the cancel's own: ``closed`` when the
        order ended cancelled, a rejection when it had filled first or could not be read
        (it stays working in the journal and the next lookup settles it). A cancel is never
        ambiguous: whatever it did, the order's own state says.
        """
        coid, target, symbol = order.client_order_id, order.intent.cancels or "", \
            order.intent.symbol
        try:
            wanted = self.venue.client_id(target)
            self.markets()  # loaded first, so that the order's answers are the only ones heard
        except ValueError as exc:
            return [self._reject(coid, str(exc), "adapter")]
        except (VenueUnreachable, VenueRefused) as exc:
            return [self._reject(coid, f"cancel of {target} not sent: {exc}", "adapter")]
        said = ""
        with self._hearing() as heard:
            try:
                self._exchange.cancel_order(None, symbol, {self.venue.lookup_param: wanted})
            except ccxt.BaseError as exc:  # not working any more, or not confirmed
                said = f" ({self._say(exc)})"
            try:
                found = self._call(lambda: self._find(symbol, target))
                trades = self._call(lambda: self._trades(found)) if found else []
            except (VenueUnreachable, VenueRefused) as exc:
                return _answered([self._reject(
                    coid, f"cancel of {target} not confirmed{said}: {exc}; the order is "
                          "looked up again at the next wake", "exchange")], heard)
        if found is None:
            return _answered([self._reject(coid, f"cancel: the exchange has no order "
                                                 f"{target}{said}", "exchange")], heard)
        (_, ack), *fills = self._events(target, found, trades)
        events = [e for e in fills if e[1]["fill_id"] not in order.known_fills]
        amount, filled = _dec(found.get("amount")), _dec(found.get("filled")) or Decimal(0)
        if ack["status"] in ("canceled", "expired"):
            events += [entry(OrderAck(
                client_order_id=target, exchange_order_id=ack["exchange_order_id"],
                status="canceled", filled=filled,
                remaining=None if amount is None else amount - filled,
                reason=f"canceled by {coid}")),
                entry(OrderAck(client_order_id=coid, exchange_order_id=ack["exchange_order_id"],
                               status="closed"))]
        else:
            events += [(ORDER_ACK, ack), self._reject(
                coid, f"cancel: order {target} is {ack['status']} on the exchange{said}",
                "exchange")]
        return _answered(events, heard)

    def _read_back(self, order: PlacedOrder, placed: Mapping[str, Any],
                   sent: datetime) -> list[Event]:
        """Events of an order whose placement answer holds only its ids (OKX's): look the
        order and its trades up; if they cannot be read, its fate is left to reconciliation."""
        coid = order.client_order_id
        try:
            found = self._call(lambda: self._find(order.intent.symbol, coid))
            if found is not None:
                trades = self._call(lambda: self._trades(found))
                return self._placed_events(order, found, trades)
            reason = "not found when looked up"
        except (VenueUnreachable, VenueRefused) as exc:
            reason = f"its fills could not be read: {exc}"
        return [self._unknown(coid, f"placed as order {placed.get('id')}, {reason}", sent)]

    def _unknown(self, coid: str, reason: str, sent: datetime) -> Event:
        """The rejection of an order whose fate is unknown, to be settled by looking it up."""
        try:
            until = self.settles_after(sent)
        except Exception:  # noqa: BLE001 - a failed clock measurement must not lose the order
            until = sent + self.validity + timedelta(seconds=1)
        return entry(OrderRejected(client_order_id=coid, reason=f"fate unknown: {reason}",
                                   source="exchange", ambiguous=True,
                                   valid_until=format_ts(until)))

    def _placed_events(self, order: PlacedOrder, response: Mapping[str, Any],
                       trades: list[Mapping[str, Any]]) -> list[Event]:
        """Events of a placed order; one that ended with nothing filled is a rejection."""
        filled = _dec(response.get("filled")) or Decimal(0)
        status = response.get("status")
        if filled == 0 and status in ("canceled", "expired", "rejected"):
            intent, kind = order.intent, order_kind(order.intent)
            what = (f"limit {intent.limit_price} not marketable: {kind[6:]} order"
                    if kind in ("limit:IOC", "limit:FOK") else
                    f"limit {intent.limit_price} would have taken: post-only order"
                    if kind == "limit:PO" else f"{kind} order")
            reason = f"{what} {response.get('id')} {status} unfilled"
            return [self._reject(order.client_order_id, reason, "exchange")]
        return self._events(order.client_order_id, response, trades)

    def _events(self, coid: str, response: Mapping[str, Any],
                trades: list[Mapping[str, Any]]) -> list[Event]:
        """Map a ccxt order (and its trades) to an OrderAck and one Fill per trade."""
        oid = str(response.get("id"))
        amount = _dec(response.get("amount"))
        filled = _dec(response.get("filled")) or Decimal(0)
        events: list[Event] = [entry(OrderAck(
            client_order_id=coid, exchange_order_id=oid,
            status=_status(response.get("status"), filled, amount)))]
        symbol, side = str(response.get("symbol")), str(response.get("side"))
        quote = symbol.partition("/")[2]
        for t in trades:
            events.append(entry(_fill(coid, symbol, side, str(t.get("id")), t.get("amount"),
                                      t.get("price"), t.get("fee"), quote)))
        if not trades and filled > 0:
            fee = response.get("fee")
            events.append(entry(_fill(coid, symbol, side, f"{oid}-filled-{filled}", filled,
                                      response.get("average") or response.get("price"),
                                      fee, quote)))
        return events

    def _find(self, symbol: str, coid: str) -> Mapping[str, Any] | None:
        """Look an order up by client order id; None when the exchange has none (an order
        answered under another id is never taken for it)."""
        ex, wanted = self._exchange, self.venue.client_id(coid)
        if ex.has.get("fetchOrder"):
            try:
                found = ex.fetch_order(None, symbol, {self.venue.lookup_param: wanted})
            except ccxt.OrderNotFound:
                return None
            return found if str(found.get("clientOrderId")) == wanted else None
        orders = list(ex.fetch_open_orders(symbol))
        if ex.has.get("fetchClosedOrders"):
            orders += ex.fetch_closed_orders(symbol)
        return next((o for o in orders if o.get("clientOrderId") == wanted), None)

    def _trades(self, found: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Return the trades of an order that was looked up (its own, if it carries them)."""
        if found.get("trades"):
            return list(found["trades"])
        if not _dec(found.get("filled")):
            return []
        ex, oid, symbol = self._exchange, found.get("id"), found.get("symbol")
        if ex.has.get("fetchOrderTrades"):
            return list(ex.fetch_order_trades(oid, symbol))
        if ex.has.get("fetchMyTrades"):
            return [t for t in ex.fetch_my_trades(symbol) if str(t.get("order")) == str(oid)]
        return []

    # --- errors ---------------------------------------------------------------------------

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run a read-only request, retrying what may pass (network errors, 5xx, -1006,
        rate limits) with backoff; anything else is a :class:`VenueRefused`."""
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff * 2 ** (attempt - 1))
            try:
                return fn()
            except ccxt.OperationFailed as exc:  # network errors, -1006, 429: ask again
                last = self._say(exc)
            except ccxt.BaseError as exc:
                raise VenueRefused(self._say(exc)) from None
        raise VenueUnreachable(last)

    def _say(self, exc: BaseException) -> str:
        """One line about an error, with any credential blanked out."""
        text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(
            exc).__name__
        return self._hide(text)[:300]

    def _hide(self, text: str) -> str:
        """The text with this adapter's credentials, and every registered secret, blanked."""
        for secret in self._redact:
            text = text.replace(secret, secrets.MASK)
        return secrets.redact(text)

    # --- the exchange's answers -------------------------------------------------------------

    def _heard(self, code: Any, reason: Any, url: Any, method: Any, headers: Any, body: str,
               *request: Any) -> str:
        """ccxt's hook on every HTTP answer: keep its body (redacted) if this thread is
        listening, and give ccxt the stripped text it expects."""
        heard: list[bytes] | None = getattr(self._listening, "answers", None)
        if heard is not None:
            heard.append(self._hide(body).encode())
        return body.strip()

    @contextmanager
    def _hearing(self) -> Iterator[list[bytes]]:
        """Collect the answers to the requests this thread makes in the block, in order
        (kept when the block raises: an error answer is an answer)."""
        heard: list[bytes] = []
        self._listening.answers = heard
        try:
            yield heard
        finally:
            self._listening.answers = None

    def _reject(self, coid: str, reason: str, source: str) -> Event:
        return entry(OrderRejected(client_order_id=coid, reason=reason, source=source))


def _answered(events: list[Event], answers: Sequence[bytes]) -> list[Event]:
    """The events, each carrying the answers they were made from (unchanged without)."""
    if not answers:
        return events
    return [(kind, Answered(payload, answers)) for kind, payload in events]


def rewrite_urls(urls: dict[str, Any], overrides: Mapping[str, str]) -> None:
    """Point a ccxt client's API URLs at other hosts, keeping their paths.

    ``overrides`` maps a host to replace to its new base: the key ``"api"`` stands for
    the host of the client's main (public) API, any other key is an origin such as
    ``"https://api.binance.com"``. A testnet is ``{"api": "https://testnet.binance.vision"}``.
    """
    api = urls["api"]
    hosts = {_origin(_main_api(api)) if key == "api" else _origin(key): base.rstrip("/")
             for key, base in overrides.items()}

    def walk(node: dict[str, Any]) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value)
            elif isinstance(value, str) and _origin(value) in hosts:
                node[key] = hosts[_origin(value)] + value[len(_origin(value)):]

    if isinstance(api, str):
        urls["api"] = hosts.get(_origin(api), _origin(api)) + api[len(_origin(api)):]
    else:
        walk(api)


def to_market(raw: Mapping[str, Any], precision_mode: int) -> Market:
    """Build an agentfund Market from a ccxt market (steps under TICK_SIZE precision)."""
    precision, limits = raw.get("precision") or {}, raw.get("limits") or {}

    def step(value: Any) -> Decimal | None:
        number = _dec(value)
        if number is None or precision_mode == ccxt.TICK_SIZE:
            return number
        return Decimal(1).scaleb(-int(number))  # DECIMAL_PLACES: a count of digits

    return Market(symbol=raw["symbol"], base=raw["base"], quote=raw["quote"],
                  amount_step=step(precision.get("amount")),
                  price_step=step(precision.get("price")),
                  min_amount=_dec((limits.get("amount") or {}).get("min")),
                  min_notional=_dec((limits.get("cost") or {}).get("min")))


def _main_api(api: Mapping[str, Any]) -> str:
    for value in ([api.get("public")] if "public" in api else []) + list(api.values()):
        if isinstance(value, str):
            return value
    raise ValueError("the client has no API URL to override")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _notional_price(side: str, limit: Decimal | None,
                    observed: Decimal | None) -> Decimal | None:
    """The lowest price the order may plausibly fill at, to check the minimum notional."""
    if limit is None:
        return observed
    return min(limit, observed) if side == "buy" and observed else limit


def _status(status: Any, filled: Decimal, amount: Decimal | None) -> str:
    if status == "closed" or (amount is not None and 0 < amount <= filled):
        return "filled"
    if status == "open":
        return "partially_filled" if filled > 0 else "open"
    # done on the exchange: a partly filled order that ended is final, not still working
    return "expired" if filled > 0 else "canceled"


def _fill(coid: str, symbol: str, side: str, fill_id: str, amount: Any, price: Any,
          fee: Mapping[str, Any] | None, quote: str) -> Fill:
    fee = fee or {}
    return Fill(client_order_id=coid, fill_id=fill_id, symbol=symbol, side=side,
                amount=_dec(amount) or Decimal(0), price=_dec(price) or Decimal(0),
                fee=_dec(fee.get("cost")) or Decimal(0),
                fee_currency=fee.get("currency") or quote)


def _dec(value: Any) -> Decimal | None:
    """A ccxt number (string, or float from a client left at floats) as a Decimal."""
    return None if value is None or value == "" else Decimal(str(value))


def _num(value: Decimal) -> str:
    """A Decimal as ccxt takes an amount or price without going through a float."""
    return format(value, "f")
