"""An OKX-compatible fake spot exchange on loopback: OKX v5 REST as ccxt's okx client calls it.

``with FakeOkx() as venue:`` serves, on 127.0.0.1, what agentfund's adapter and price oracle
ask OKX (``load_markets``, ``fetch_time``, ``fetch_ticker(s)``, ``fetch_balance``,
``create_order``, ``fetch_order``, ``fetch_open_orders``/``fetch_closed_orders``,
``fetch_my_trades``/``fetch_order_trades``), and its API differs from binance's the way
OKX's does:

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
  fake's), before or after the order is booked; ``max_fill`` caps market fills.

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

D = Decimal
FEE_RATE = D("0.001")
LOT, TICK, MIN_SIZE = D("0.00000001"), D("0.1"), D("0.00001")  # OKX's BTC-USDT
WINDOW_MS = 30_000  # OKX refuses a request whose timestamp is further than this from its clock
CLIENT_ID = re.compile(r"[A-Za-z0-9]{1,32}")
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


class FakeOkx:
    """A ThreadingHTTPServer speaking enough of OKX's v5 REST API for ccxt's okx client."""

    def __init__(self, accounts: dict[str, tuple[str, str]] | None = None, *,
                 instruments: dict[str, Instrument] | None = None,
                 clock: Callable[[], int] = wall_ms, skew_ms: int = 0) -> None:
        """``accounts``: API key -> (secret, passphrase) of the keys it knows."""
        self.accounts = dict(accounts or {})
        self.instruments = instruments or default_instruments()
        self.clock, self.skew_ms = clock, skew_ms
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
        """Forget orders, trades, requests and faults; set prices (by instrument id, such as
        ``BTC-USDT``), balances and fees."""
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

    def order(self, client_order_id: str) -> dict[str, Any]:
        """Return the booked order with this client id (as OKX would list it)."""
        with self.lock:
            return next(self._order_json(o) for o in self.book.orders.values()
                        if o["clOrdId"] == client_order_id)

    def fills(self, client_order_id: str) -> list[dict[str, Any]]:
        """Return the fills of the order with this client id, oldest first."""
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
        if abs(self.now_ms() - signed_ms) > WINDOW_MS:
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
            ("GET", "/api/v5/account/balance"): self._balance,
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
        details = [{"ccy": ccy, "eq": fmt(v), "cashBal": fmt(v), "availBal": fmt(v),
                    "availEq": fmt(v), "frozenBal": "0", "ordFrozen": "0", "uTime": now}
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
        if params.get("tdMode") != "cash" or (kind == "market" and side == "buy"
                                              and params.get("tgtCcy") != "base_ccy"):
            raise refuse("51000", "Parameter tdMode error")
        limit = D(params["px"]) if kind != "market" else None
        if size < spec.min_size or size % spec.lot != 0:
            raise refuse("51020", "Your order should meet or exceed the minimum order amount.")
        if limit is not None and (limit <= 0 or limit % spec.tick != 0):
            raise refuse("51006", "Order price is not within the price limit.")
        last = self.book.prices.get(inst)
        marketable = last is not None and last > 0 and (
            limit is None or (last <= limit if side == "buy" else last >= limit))
        if kind == "market" and not marketable:
            raise refuse("51131", "Insufficient liquidity")
        need = size * (limit or last or D(0)) * (1 + self.book.fee_rate) if side == "buy" \
            else size
        have = self.book.balances.get(spec.quote if side == "buy" else spec.base, D(0))
        if need > have:
            raise refuse("51008", f"Order failed. Insufficient "
                                  f"{spec.quote if side == 'buy' else spec.base} balance in "
                                  "account.")
        now = self.now_ms()
        o: dict[str, Any] = {"instId": inst, "ordId": str(next(self._ids)), "clOrdId": coid,
                             "side": side, "ordType": kind, "px": limit, "sz": size,
                             "accFillSz": D(0), "quote": D(0), "fee": D(0), "state": "live",
                             "cTime": now, "uTime": now, "fillTime": None}
        self.book.orders[o["ordId"]] = o
        self.placed.append(coid)
        if marketable and last is not None and kind != "post_only":
            self._fill(spec, o, last)
        if o["state"] in ("live", "partially_filled") and kind in ("market", "ioc", "fok"):
            o["state"] = "canceled"  # the rest of a market or IOC order is cancelled
        return {"clOrdId": coid, "ordId": o["ordId"], "tag": "", "ts": str(now),
                "sCode": "0", "sMsg": "Order placed"}

    def _fill(self, spec: Instrument, o: dict[str, Any], price: Decimal) -> None:
        size = o["sz"] if self.book.max_fill is None else min(o["sz"], self.book.max_fill)
        if o["ordType"] == "fok" and size < o["sz"]:
            return
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
            "posSide": "net", "execType": "T", "feeCcy": spec.quote, "fee": fmt(-fee),
            "ts": str(now), "fillTime": str(now)})
        o["accFillSz"], o["quote"], o["fee"] = size, notional, fee
        o["state"] = "filled" if size == o["sz"] else "partially_filled"
        o["uTime"] = o["fillTime"] = now

    def _order_json(self, o: dict[str, Any]) -> dict[str, Any]:
        spec = self.instruments[o["instId"]]
        filled = o["accFillSz"]
        average = fmt(o["quote"] / filled) if filled else ""
        return {"instType": "SPOT", "instId": o["instId"], "ordId": o["ordId"],
                "clOrdId": o["clOrdId"], "tag": "", "px": fmt(o["px"]) if o["px"] else "",
                "sz": fmt(o["sz"]), "ordType": o["ordType"], "side": o["side"],
                "posSide": "net", "tdMode": "cash", "tgtCcy": "base_ccy",
                "accFillSz": fmt(filled), "fillPx": average, "fillSz": fmt(filled),
                "avgPx": average, "state": o["state"], "feeCcy": spec.quote,
                "fee": fmt(-o["fee"]), "rebateCcy": spec.base, "rebate": "0",
                "fillTime": str(o["fillTime"] or ""), "cTime": str(o["cTime"]),
                "uTime": str(o["uTime"]), "category": "normal", "reduceOnly": "false",
                "cancelSource": "", "source": "", "lever": "", "pnl": "0"}


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
