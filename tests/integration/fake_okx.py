"""An OKX-compatible fake spot exchange on loopback: OKX v5 REST as ccxt's okx client calls it.

``with FakeOkx() as venue:`` serves, on 127.0.0.1, what agentfund's adapter and price oracle
ask OKX (``load_markets``, ``fetch_time``, ``fetch_ticker(s)``, ``fetch_balance``,
``fetch_ohlcv``, ``create_order``, ``cancel_order``, ``fetch_order``,
``fetch_open_orders``/``fetch_closed_orders``, ``fetch_my_trades``/``fetch_order_trades``),
and its API differs from binance's the way OKX's does:

* **Signed with a passphrase.** A private request carries ``OK-ACCESS-KEY``,
  ``OK-ACCESS-SIGN``, ``OK-ACCESS-TIMESTAMP`` and ``OK-ACCESS-PASSPHRASE``; the signature is
  checked as OKX checks it (base64 HMAC-SHA256 of timestamp + method + path and query +
  body, with the secret), and a wrong passphrase, key or signature is refused with OKX's
  code (50105, 50111, 50113). A request stamped more than 30 s from the exchange's clock
  is refused (50102): OKX has no recvWindow, so an order held up on the way that long
  never lands.
* **Its own names.** Instruments are ``BTC-USDT``, the client order id is ``clOrdId``
  (letters and digits, at most 32: anything else is 51000), numbers are strings, every
  answer is an envelope ``{"code": "0", "msg": "", "data": [...]}``, and an error is a
  code in it (an order's in ``sCode``), mostly with HTTP 200.
* **A placement answers with ids only**: the fills are read with ``GET trade/order`` and
  ``GET trade/fills-history``; lists come newest first, ``limit`` at most 100, and
  ``after``/``before`` page by id, as OKX pages them.
* **Its clock moves**: times are its clock (the wall clock plus ``skew_ms``) when it answers.
* **It fails like OKX**: :meth:`FakeOkx.fail_next` answers 429 (50011), 500 (50026) or a
  bare 503; :meth:`FakeOkx.inject` gives order placements a :class:`Fault` (the binance
  fake's), before or after the order is booked; ``max_fill`` caps each fill.
* **Orders rest, as on OKX** (the matching rules, shared with the binance fake, are in
  :mod:`tests.integration.fake_market`). ``ordType`` ``limit`` (good till cancelled) away
  from the market rests (``live``) and fills later at its price, as a maker (``execType``
  M), when the market trades through it (:meth:`FakeOkx.move`, or a series served with
  :meth:`FakeOkx.serve_history` as the clock passes each close), partly
  (``partially_filled``) when ``max_fill`` caps a fill. ``fok`` fills whole or is
  ``canceled`` with nothing filled; ``ioc`` and ``market`` cancel what they leave.
  ``post_only`` that would take is *accepted* (sCode 0) and at once ``canceled`` with
  ``cancelSource`` "31" — what OKX does with a post-only order crossing the book (its order
  channel and order lookups report the auto-cancel; the placement itself succeeds) — so a
  client learns it from the lookup, not from the placement. ``cancelSource`` is "1" for a
  user's cancel, "13" for a FOK not filled whole, "14" for the rest of an IOC or market
  order. Stop orders are OKX *algo* orders (another endpoint): not faked.
* **Working orders lock funds**: ``frozenBal``/``ordFrozen`` in the balance (a buy its size
  at its price with the fee, a sell its size), ``availBal`` the rest; an order needing more
  than is available is refused (sCode 51008).
* **Cancels answer as OKX does**: ``POST trade/cancel-order`` (``instId`` with ``ordId`` or
  ``clOrdId``) answers ``[{clOrdId, ordId, sCode "0", sMsg ""}]``; an order filled,
  cancelled or unknown is code "1" with sCode 51400 in ``data`` (ccxt: OrderNotFound). A
  partly filled order's fills stay.
* **Candles**: ``GET market/candles`` and ``market/history-candles`` (``bar`` 1m, 5m, 1H,
  6Hutc …, ``after``/``before`` by open time, ``limit`` ≤ 300) serve the series newest first
  as ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]``, the candle still forming at
  the clock half-formed with ``confirm`` "0" (both endpoints serve the whole series: the
  real one splits recent and older candles between them).

Fees are charged in the quote currency at ``fee_rate`` (as the binance fake charges them),
so the shared adapter contract computes the same exact numbers on both fakes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import re
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.integration.fake_exchange import Fault, Reply, Request, fmt, wall_ms
from tests.integration.fake_market import (
    History,
    MovingMarket,
    Tick,
    crosses,
    marketable,
    span_ms,
)

D = Decimal
FEE_RATE = D("0.001")
LOT, TICK, MIN_SIZE = D("0.00000001"), D("0.1"), D("0.00001")  # OKX's BTC-USDT
WINDOW_MS = 30_000  # OKX refuses a request whose timestamp is further than this from its clock
CLIENT_ID = re.compile(r"[A-Za-z0-9]{1,32}")
ORDER_TYPES = ("market", "limit", "post_only", "fok", "ioc")
IMMEDIATE = ("market", "fok", "ioc")  # what they leave unfilled is cancelled at once
WORKING = ("live", "partially_filled")
CANCEL_FAILED = "Order cancellation failed as the order has been filled, canceled or does not exist"
CANCEL_SOURCES = {"user": "1", "fok": "13", "ioc": "14", "market": "14", "post_only": "31"}
"""Why OKX cancelled an order (``cancelSource``): by the user; a FOK not filled whole; what
an IOC or market order left; a post-only order that would have taken."""
ERRORS = {  # HTTP status -> (OKX code, message) for fail_next and Fault("status", ...)
    429: ("50011", "Too Many Requests"),
    500: ("50026", "System error. Try again later."),
    503: ("50013", "Systems are busy. Please try again later."),
}


@dataclass(frozen=True)
class Instrument:
    """One spot instrument and its sizes (OKX has no minimum notional)."""

    base: str
    quote: str
    lot: Decimal = LOT
    tick: Decimal = TICK
    min_size: Decimal = MIN_SIZE


def default_instruments() -> dict[str, Instrument]:
    """BTC-USDT and ETH-USDT with OKX's real sizes."""
    return {"BTC-USDT": Instrument("BTC", "USDT"),
            "ETH-USDT": Instrument("ETH", "USDT", lot=D("0.000001"), tick=D("0.01"),
                                   min_size=D("0.0001"))}


@dataclass(frozen=True)
class OkxRequest(Request):
    """A request, with what its signature covers: the path and query as sent, the body, the
    headers."""

    target: str = ""
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class OkxError(Exception):
    """An OKX error answer: HTTP status, code, message (and the order's own, in sCode)."""

    def __init__(self, code: str, msg: str, status: int = 200,
                 data: list[dict[str, Any]] | None = None) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status, self.data = code, msg, status, data or []


@dataclass
class Books:
    """The venue's state; guarded by :attr:`FakeOkx.lock`."""

    prices: dict[str, Decimal | None]
    balances: dict[str, Decimal]
    fee_rate: Decimal = FEE_RATE
    max_fill: Decimal | None = None
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # by ordId
    trades: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, tuple[int, bytes]] = field(default_factory=dict)


class FakeOkx(MovingMarket):
    """A ThreadingHTTPServer speaking enough of OKX's v5 REST API for ccxt's okx client."""

    def __init__(self, accounts: dict[str, tuple[str, str]] | None = None, *,
                 instruments: dict[str, Instrument] | None = None,
                 clock: Callable[[], int] = wall_ms, skew_ms: int = 0,
                 signing_clock: Callable[[], int] | None = None) -> None:
        """``accounts``: API key -> (secret, passphrase) of the keys it knows; ``clock``: the
        exchange's time; ``signing_clock``: the one request stamps are judged by, when it
        is not the same (a fake replaying history on a simulated clock, signed at wall
        time)."""
        self.accounts = dict(accounts or {})
        self.instruments = instruments or default_instruments()
        self.clock, self.skew_ms, self.signing_clock = clock, skew_ms, signing_clock
        self.history = History()
        self.lock = threading.Lock()
        self.book = Books(prices={}, balances={})
        self.requests: list[OkxRequest] = []
        self.replies: deque[tuple[Request, int, bytes]] = deque(maxlen=1000)
        self.placed: list[str] = []  # client order ids, once per order ever booked
        self.faults: deque[tuple[int, str | None]] = deque()
        self.order_faults: deque[Fault] = deque()
        self.release = threading.Event()
        self._ids = itertools.count(600_000_000_000_000_001)
        self.reset()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Return the base URL (``http://127.0.0.1:PORT``)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def now_ms(self) -> int:
        """The exchange's clock, in milliseconds."""
        return self.clock() + self.skew_ms

    def __enter__(self) -> FakeOkx:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    # --- what tests set and read ------------------------------------------------------------

    def reset(self, *, prices: dict[str, Decimal | None] | None = None,
              balances: dict[str, Decimal] | None = None, fee_rate: Decimal = FEE_RATE,
              max_fill: Decimal | None = None) -> None:
        """Forget orders, trades, requests, faults and served history; set prices (by
        instrument id, such as ``BTC-USDT``), balances and fees."""
        with self.lock:
            self.book = Books(prices=dict(prices or {"BTC-USDT": D("40000"),
                                                     "ETH-USDT": D("2000")}),
                              balances=dict(balances or {"USDT": D("100000")}),
                              fee_rate=fee_rate, max_fill=max_fill)
            self.requests.clear()
            self.replies.clear()
            self.placed.clear()
            self.faults.clear()
            self.order_faults.clear()
            self.history = History()

    def fail_next(self, status: int, times: int = 1, *, path: str | None = None) -> None:
        """Answer the next ``times`` requests (to ``path``, if given) with ``status``."""
        with self.lock:
            self.faults.extend([(status, path)] * times)

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` order placements."""
        with self.lock:
            self.order_faults.extend([fault] * times)

    def serve_raw(self, path: str, body: bytes, status: int = 200) -> None:
        """Answer every request for ``path`` with these bytes (until the next reset)."""
        with self.lock:
            self.book.raw[path] = (status, body)

    def posts(self) -> list[OkxRequest]:
        """Return the order placements received (accepted or not)."""
        return [r for r in self.requests if (r.method, r.path) == ("POST", "/api/v5/trade/order")]

    def serve_history(self, inst: str, timeframe: str, rows: list[list[Any]]) -> None:
        """Serve this recorded series from ``GET market/candles`` (and ``history-candles``)
        for ``inst`` (``BTC-USDT``) at ``timeframe`` (``5m``, ``1h``/``1H``): rows of [open
        ms, open, high, low, close, volume] (strings), oldest first. Nothing opening after
        the exchange's clock is served, the candle forming at it is served half-formed with
        ``confirm`` "0", and the market runs on it (see :mod:`fake_market`)."""
        with self.lock:
            self.history.serve(inst, timeframe, rows)

    def frozen(self, ccy: str) -> Decimal:
        """What the working orders hold of ``ccy`` (``frozenBal``): a buy its remaining size
        at its price with the fee, a sell its size."""
        held = D(0)
        for o in self.book.orders.values():
            if o["state"] not in WORKING:
                continue
            spec, remaining = self.instruments[o["instId"]], o["sz"] - o["accFillSz"]
            if o["side"] == "buy" and ccy == spec.quote:
                held += remaining * o["px"] * (1 + self.book.fee_rate)
            elif o["side"] == "sell" and ccy == spec.base:
                held += remaining
        return held

    def orders(self) -> list[dict[str, Any]]:
        """Every booked order, oldest first, as :meth:`order` returns one."""
        self.run_market()
        with self.lock:
            return [self._order_json(o) for o in self.book.orders.values()]

    def order(self, client_order_id: str) -> dict[str, Any]:
        """Return the booked order with this client id (as OKX would list it)."""
        self.run_market()
        with self.lock:
            return next(self._order_json(o) for o in self.book.orders.values()
                        if o["clOrdId"] == client_order_id)

    def fills(self, client_order_id: str) -> list[dict[str, Any]]:
        """Return the fills of the order with this client id, oldest first."""
        self.run_market()
        with self.lock:
            return [dict(t) for t in self.book.trades if t["clOrdId"] == client_order_id]

    def replied(self, method: str, path: str, **params: str) -> list[bytes]:
        """The bodies sent in answer to ``method path`` requests with these parameters."""
        return [body for request, _, body in list(self.replies)
                if (request.method, request.path) == (method, path)
                and all(request.params.get(k) == v for k, v in params.items())]

    # --- answering ---------------------------------------------------------------------------

    def answer(self, request: OkxRequest) -> Reply:
        """Record and answer a request (the HTTP handler's one call)."""
        with self.lock:
            self.requests.append(request)
            if self.faults and self.faults[0][1] in (None, request.path):
                status, _ = self.faults.popleft()
                return _error_reply(status)
            is_order = (request.method, request.path) == ("POST", "/api/v5/trade/order")
            fault = self.order_faults.popleft() if is_order and self.order_faults else None
        if fault is not None and fault.when == "before":
            if fault.kind == "drop":
                return Reply(drop=True)
            if fault.kind == "status":
                return _error_reply(fault.status, fault)
            if self.release.wait(fault.seconds):  # held up on the way: processed late...
                return Reply(drop=True)  # ...unless the exchange is shutting down
        reply = self._process(request)
        if fault is None or fault.when == "before":
            return reply
        if fault.kind == "drop":
            return Reply(drop=True)
        if fault.kind == "hang":
            return Reply(reply.status, reply.body, hang=fault.seconds)
        return _error_reply(fault.status, fault)

    def _process(self, request: OkxRequest) -> Reply:
        with self.lock, localcontext() as ctx:
            ctx.prec = 200  # the books are exact: no balance or fee is rounded
            try:
                if "/private/" in _kind(request.path):
                    self._check_signed(request)
                if request.path in self.book.raw:
                    status, raw = self.book.raw[request.path]
                    return Reply(status, raw)
                self._run_market()
                data = self.route(request.method, request.path, request.params)
            except OkxError as err:
                return Reply(err.status, {"code": err.code, "msg": err.msg, "data": err.data})
            return Reply(200, {"code": "0", "msg": "", "data": data})

    def _check_signed(self, request: OkxRequest) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        key = headers.get("ok-access-key", "")
        if not key:
            raise OkxError("50103", 'Request header "OK-ACCESS-KEY" cannot be empty.', 401)
        if key not in self.accounts:
            raise OkxError("50111", "Invalid OK-ACCESS-KEY.", 401)
        secret, passphrase = self.accounts[key]
        if not headers.get("ok-access-passphrase"):
            raise OkxError("50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.',
                           401)
        if headers["ok-access-passphrase"] != passphrase:
            raise OkxError("50105", "Invalid OK-ACCESS-PASSPHRASE.", 401)
        stamp = headers.get("ok-access-timestamp", "")
        try:
            signed_ms = int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                            * 1000)
        except ValueError:
            raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP.", 401) from None
        now = self.signing_clock() if self.signing_clock is not None else self.now_ms()
        if abs(now - signed_ms) > WINDOW_MS:
            raise OkxError("50102", "Timestamp request expired.", 401)
        prehash = stamp + request.method + request.target + request.body
        expected = base64.b64encode(hmac.new(secret.encode(), prehash.encode(),
                                             hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, headers.get("ok-access-sign", "")):
            raise OkxError("50113", "Invalid signature.", 401)

    # --- endpoints, called with the lock held ----------------------------------------------

    def route(self, method: str, path: str, params: dict[str, str]) -> list[Any]:
        """Answer one request with its ``data``; raise OkxError for an OKX error."""
        handlers: dict[tuple[str, str], Callable[[], list[Any]]] = {
            ("GET", "/api/v5/public/time"): lambda: [{"ts": str(self.now_ms())}],
            ("GET", "/api/v5/public/instruments"): lambda: self._instruments(params),
            ("GET", "/api/v5/market/ticker"): lambda: [self._ticker(params.get("instId", ""))],
            ("GET", "/api/v5/market/tickers"): lambda: [
                self._ticker(inst) for inst in self.instruments],
            ("GET", "/api/v5/market/candles"): lambda: self._candles(params),
            ("GET", "/api/v5/market/history-candles"): lambda: self._candles(params),
            ("GET", "/api/v5/account/balance"): self._balance,
            ("POST", "/api/v5/trade/cancel-order"): lambda: [self._cancel(params)],
            ("POST", "/api/v5/trade/order"): lambda: [self._place(params)],
            ("GET", "/api/v5/trade/order"): lambda: [self._order_json(self._find(params))],
            ("GET", "/api/v5/trade/orders-pending"): lambda: self._orders(params, done=False),
            ("GET", "/api/v5/trade/orders-history"): lambda: self._orders(params, done=True),
            ("GET", "/api/v5/trade/fills-history"): lambda: self._fills(params),
        }
        handler = handlers.get((method, path))
        if handler is None:
            raise OkxError("50000", f"no route {method} {path}", 404)
        return handler()

    def _instruments(self, params: dict[str, str]) -> list[dict[str, Any]]:
        if params.get("instType") != "SPOT":
            return []
        return [{"instType": "SPOT", "instId": inst, "baseCcy": i.base, "quoteCcy": i.quote,
                 "settleCcy": "", "ctVal": "", "ctMult": "", "ctValCcy": "", "optType": "",
                 "stk": "", "listTime": "1606468572000", "expTime": "", "lever": "",
                 "tickSz": fmt(i.tick), "lotSz": fmt(i.lot), "minSz": fmt(i.min_size),
                 "ctType": "", "alias": "", "state": "live", "maxLmtSz": "9999999999",
                 "maxMktSz": "1000000", "uly": "", "instFamily": "", "category": "1"}
                for inst, i in self.instruments.items()]

    def _ticker(self, inst: str) -> dict[str, Any]:
        if inst not in self.instruments:
            raise OkxError("51001", "Instrument ID does not exist.")
        last = fmt(self.book.prices.get(inst) or D(0))
        return {"instType": "SPOT", "instId": inst, "last": last, "lastSz": "0.01",
                "askPx": last, "askSz": "1", "bidPx": last, "bidSz": "1", "open24h": last,
                "high24h": last, "low24h": last, "volCcy24h": "0", "vol24h": "0",
                "ts": str(self.now_ms()), "sodUtc0": last, "sodUtc8": last}

    def _balance(self) -> list[dict[str, Any]]:
        now = str(self.now_ms())
        details = [{"ccy": ccy, "eq": fmt(v), "cashBal": fmt(v),
                    "availBal": fmt(v - self.frozen(ccy)), "availEq": fmt(v - self.frozen(ccy)),
                    "frozenBal": fmt(self.frozen(ccy)), "ordFrozen": fmt(self.frozen(ccy)),
                    "uTime": now}
                   for ccy, v in self.book.balances.items()]
        return [{"uTime": now, "totalEq": "0", "details": details}]

    def _find(self, params: dict[str, str]) -> dict[str, Any]:
        for o in self.book.orders.values():
            if o["instId"] == params.get("instId") and (
                    o["ordId"] == params.get("ordId") or o["clOrdId"] == params.get("clOrdId")):
                return o
        raise OkxError("51603", "Order does not exist")

    def _orders(self, params: dict[str, str], *, done: bool) -> list[dict[str, Any]]:
        rows = [o for o in self.book.orders.values()
                if (o["state"] in ("filled", "canceled")) == done
                and o["instId"] == params.get("instId", o["instId"])]
        return [self._order_json(o) for o in _page(rows, "ordId", params)]

    def _fills(self, params: dict[str, str]) -> list[dict[str, Any]]:
        rows = [t for t in self.book.trades
                if t["instId"] == params.get("instId", t["instId"])
                and t["ordId"] == params.get("ordId", t["ordId"])]
        return [dict(t) for t in _page(rows, "billId", params)]

    def _place(self, params: dict[str, str]) -> dict[str, Any]:
        inst, coid = params.get("instId", ""), params.get("clOrdId", "")

        def refuse(code: str, msg: str) -> OkxError:
            return OkxError("1", "All operations failed", data=[{
                "clOrdId": coid, "ordId": "", "sCode": code, "sMsg": msg, "tag": "",
                "ts": str(self.now_ms())}])

        spec = self.instruments.get(inst)
        if spec is None:
            raise refuse("51001", "Instrument ID does not exist.")
        if not CLIENT_ID.fullmatch(coid):
            raise refuse("51000", "Parameter clOrdId error")
        if any(o["clOrdId"] == coid for o in self.book.orders.values()):
            raise refuse("51016", "Duplicated clOrdId")
        kind, side, size = params.get("ordType", ""), params.get("side", ""), D(params["sz"])
        refusal = _refusal(spec, params)
        if refusal is not None:
            raise refuse(*refusal)
        limit = D(params["px"]) if kind != "market" else None
        last = self.book.prices.get(inst)
        takes = marketable(side == "buy", limit, last)
        if kind == "market" and not takes:
            raise refuse("51131", "Insufficient liquidity")
        ccy = spec.quote if side == "buy" else spec.base
        need = size * (limit or last or D(0)) * (1 + self.book.fee_rate) if side == "buy" \
            else size
        if need > self.book.balances.get(ccy, D(0)) - self.frozen(ccy):
            raise refuse("51008", f"Order failed. Insufficient {ccy} balance in account.")
        now = self.now_ms()
        o: dict[str, Any] = {"instId": inst, "ordId": str(next(self._ids)), "clOrdId": coid,
                             "side": side, "ordType": kind, "px": limit, "sz": size,
                             "accFillSz": D(0), "quote": D(0), "fee": D(0), "state": "live",
                             "cTime": now, "uTime": now, "fillTime": None, "cancelSource": ""}
        self.book.orders[o["ordId"]] = o
        self.placed.append(coid)
        if takes and kind == "post_only":  # accepted, then cancelled: it would have taken
            self._end(o, "post_only")
        elif takes and last is not None:
            self._take(spec, o, last)
        elif kind in IMMEDIATE:
            self._end(o, kind)
        return {"clOrdId": coid, "ordId": o["ordId"], "tag": "", "ts": str(now),
                "sCode": "0", "sMsg": "Order placed"}

    def _cancel(self, params: dict[str, str]) -> dict[str, Any]:
        o = next((o for o in self.book.orders.values() if o["instId"] == params.get("instId")
                  and (o["ordId"] == params.get("ordId") or o["clOrdId"] == params.get(
                      "clOrdId"))), None)
        now = str(self.now_ms())
        if o is None or o["state"] not in WORKING:
            raise OkxError("1", "All operations failed", data=[{
                "clOrdId": params.get("clOrdId", ""), "ordId": params.get("ordId", ""),
                "sCode": "51400", "sMsg": CANCEL_FAILED, "ts": now}])
        self._end(o, "user")
        return {"clOrdId": o["clOrdId"], "ordId": o["ordId"], "sCode": "0", "sMsg": "",
                "ts": now}

    def _end(self, o: dict[str, Any], why: str) -> None:
        """Cancel what is left of an order, saying why (OKX's ``cancelSource``)."""
        o["state"], o["cancelSource"], o["uTime"] = "canceled", CANCEL_SOURCES[why], \
            self.now_ms()

    def _listed(self, symbol: str) -> bool:
        return symbol in self.instruments

    def _prices(self) -> dict[str, Decimal | None]:
        return self.book.prices

    def _match(self, inst: str, tick: Tick) -> None:
        """Meet every working order of ``inst`` with this move, oldest first."""
        spec = self.instruments[inst]
        for o in list(self.book.orders.values()):
            if o["instId"] == inst and o["state"] in WORKING and tick.sees(o["cTime"]) \
                    and crosses(o["side"] == "buy", o["px"], tick):
                self._fill(spec, o, o["px"], maker=True)

    def _take(self, spec: Instrument, o: dict[str, Any], price: Decimal) -> None:
        """Fill as a taker at ``price`` (a FOK all of it or none); a market, IOC or FOK
        order is then cancelled for what is left."""
        cap = self.book.max_fill
        if o["ordType"] != "fok" or cap is None or cap >= o["sz"] - o["accFillSz"]:
            self._fill(spec, o, price, maker=False)
        if o["state"] in WORKING and o["ordType"] in IMMEDIATE:
            self._end(o, o["ordType"])

    def _fill(self, spec: Instrument, o: dict[str, Any], price: Decimal, *,
              maker: bool) -> None:
        remaining = o["sz"] - o["accFillSz"]
        size = remaining if self.book.max_fill is None else min(remaining, self.book.max_fill)
        notional = size * price
        fee = notional * self.book.fee_rate
        sign = 1 if o["side"] == "buy" else -1
        bal = self.book.balances
        bal[spec.base] = bal.get(spec.base, D(0)) + sign * size
        bal[spec.quote] = bal.get(spec.quote, D(0)) - sign * notional - fee
        now = self.now_ms()
        number = len(self.book.trades) + 1
        self.book.trades.append({
            "instType": "SPOT", "instId": o["instId"], "tradeId": str(700_000_000 + number),
            "ordId": o["ordId"], "clOrdId": o["clOrdId"], "billId": str(800_000_000 + number),
            "tag": "", "fillPx": fmt(price), "fillSz": fmt(size), "side": o["side"],
            "posSide": "net", "execType": "M" if maker else "T", "feeCcy": spec.quote,
            "fee": fmt(-fee), "ts": str(now), "fillTime": str(now)})
        o["accFillSz"] += size
        o["quote"] += notional
        o["fee"] += fee
        o["state"] = "filled" if o["accFillSz"] == o["sz"] else "partially_filled"
        o["uTime"] = o["fillTime"] = now

    def _candles(self, params: dict[str, str]) -> list[list[str]]:
        """Candles newest first: ``after`` (older than), ``before`` (newer than), ``limit``
        (default 100, at most 300), none opening after the clock; ``confirm`` "0" for the
        one still forming."""
        inst = params.get("instId", "")
        if inst not in self.instruments:
            raise OkxError("51001", "Instrument ID does not exist.")
        try:
            span = span_ms(params.get("bar", "1m"))
        except ValueError:
            raise OkxError("51000", "Parameter bar error") from None
        now = self.now_ms()
        series = self.history.served(inst, span)
        if series is None:  # one closed candle at the last price
            last = fmt(self.book.prices.get(inst) or D(0))
            opened = now // span * span - span
            series = ([opened], [[opened, last, last, last, last, "1"]])
        rows = [row for row in series[1] if int(row[0]) <= now
                and int(row[0]) < int(params.get("after", now + 1))
                and int(row[0]) > int(params.get("before", -1))]
        out = []
        for row in reversed(rows[-min(int(params.get("limit", "100")), 300):]):
            shown, closed = History.shown(row, span, now)
            quote = fmt(D(shown[5]) * D(shown[4]))
            out.append([str(shown[0]), *shown[1:6], quote, quote, "1" if closed else "0"])
        return out

    def _order_json(self, o: dict[str, Any]) -> dict[str, Any]:
        spec = self.instruments[o["instId"]]
        filled = o["accFillSz"]
        average = fmt(o["quote"] / filled) if filled else ""
        mine = [t for t in self.book.trades if t["ordId"] == o["ordId"]] if filled else []
        last = mine[-1] if mine else None
        return {"instType": "SPOT", "instId": o["instId"], "ordId": o["ordId"],
                "clOrdId": o["clOrdId"], "tag": "", "px": fmt(o["px"]) if o["px"] else "",
                "sz": fmt(o["sz"]), "ordType": o["ordType"], "side": o["side"],
                "posSide": "net", "tdMode": "cash", "tgtCcy": "base_ccy",
                "accFillSz": fmt(filled), "fillPx": last["fillPx"] if last else "",
                "fillSz": last["fillSz"] if last else "0", "tradeId": last["tradeId"]
                if last else "", "avgPx": average, "state": o["state"], "feeCcy": spec.quote,
                "fee": fmt(-o["fee"]), "rebateCcy": spec.base, "rebate": "0",
                "fillTime": str(o["fillTime"] or ""), "cTime": str(o["cTime"]),
                "uTime": str(o["uTime"]), "category": "normal", "reduceOnly": "false",
                "cancelSource": o["cancelSource"], "source": "", "lever": "", "pnl": "0"}


def _refusal(spec: Instrument, params: dict[str, str]) -> tuple[str, str] | None:
    """What OKX answers (sCode, sMsg) to an order it will not book for its form."""
    kind, size = params.get("ordType", ""), D(params["sz"])
    if kind not in ORDER_TYPES:
        return "51000", "Parameter ordType error"
    if params.get("tdMode") != "cash" or (kind == "market" and params.get("side") == "buy"
                                          and params.get("tgtCcy") != "base_ccy"):
        return "51000", "Parameter tdMode error"
    if size < spec.min_size or size % spec.lot != 0:
        return "51020", "Your order should meet or exceed the minimum order amount."
    limit = D(params["px"]) if kind != "market" else None
    if limit is not None and (limit <= 0 or limit % spec.tick != 0):
        return "51006", "Order price is not within the price limit."
    return None


def _kind(path: str) -> str:
    """``/public/`` or ``/private/``: what OKX requires of a path."""
    return "/public/" if path.startswith(("/api/v5/public/", "/api/v5/market/")) \
        else "/private/"


def _page(rows: list[dict[str, Any]], key: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Rows newest first, from after ``after`` (older) or before ``before`` (newer), at
    most ``limit`` (default and maximum 100), as OKX pages its lists."""
    rows = sorted(rows, key=lambda r: int(r[key]), reverse=True)
    if "after" in params:
        rows = [r for r in rows if int(r[key]) < int(params["after"])]
    if "before" in params:
        rows = [r for r in rows if int(r[key]) > int(params["before"])]
    return rows[:min(int(params.get("limit", "100")), 100)]


def _error_reply(status: int, fault: Fault | None = None) -> Reply:
    code, msg = ERRORS.get(status, ("50026", "System error. Try again later."))
    if fault is not None and fault.code is not None:
        code = str(fault.code)
    if fault is not None and fault.msg:
        msg = fault.msg
    if status == 503 and fault is None:
        return Reply(503, b"Service Unavailable")  # a load balancer's bare page
    return Reply(status, {"code": code, "msg": msg, "data": []})


def _handler(venue: FakeOkx) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            split = urlsplit(self.path)
            params = dict(parse_qsl(split.query))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            if body:
                with contextlib.suppress(ValueError, AttributeError):
                    params.update({k: str(v) for k, v in json.loads(body).items()})
            request = OkxRequest(self.command, split.path, params,
                                 self.headers.get("OK-ACCESS-KEY"), venue.now_ms(),
                                 target=self.path, body=body, headers=dict(self.headers))
            reply = venue.answer(request)
            if reply.drop:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.hang:
                venue.release.wait(reply.hang)
            data = reply.body if isinstance(reply.body, bytes) else json.dumps(
                reply.body).encode()
            venue.replies.append((request, reply.status, data))
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout)

    return Handler
