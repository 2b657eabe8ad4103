"""A Binance-compatible fake spot exchange on loopback, for ccxt integration tests.

``with FakeExchange() as venue:`` serves the endpoints ccxt's binance client calls on
127.0.0.1 (a free port) from daemon threads; point the client at ``venue.url``. State
(symbols, last prices, balances, fee rate) is set by the test; every request and every
order placed is recorded. Faults, consumed one request at a time:

* :meth:`FakeExchange.fail_next` — the next N requests answer 429 (binance -1003), 418
  or 503, without touching the books
* :meth:`FakeExchange.hang_next_order` — the next ``POST /api/v3/order`` is booked, then
  its response is held back ``seconds`` (beyond the client's timeout)
* ``max_fill`` — market orders fill at most this quantity (the rest expires)
* :meth:`FakeExchange.serve_raw` — answer a path with these bytes until reset (garbage)

Market data: :meth:`FakeExchange.set_book` sets what ``GET /api/v3/depth`` serves for a
symbol (served as given, in the given order; by default one level at the last price each
side), :meth:`FakeExchange.set_candles` what ``GET /api/v3/klines`` serves (by default one
closed one-minute candle at the last price).

Fees are charged in the quote asset at ``fee_rate`` (as with a quote-asset fee setting),
so a buy needs ``qty × price × (1 + fee_rate)`` of quote.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

D = Decimal
NOW_MS = 1_700_000_000_000
INSUFFICIENT = "Account has insufficient balance for requested action."
NO_LIQUIDITY = "Order book liquidity is less than LOT_SIZE filter minimum quantity."
STEP, TICK, MIN_NOTIONAL, FEE_RATE = D("0.00001"), D("0.01"), D("5"), D("0.001")
SIGNED = {"/api/v3/account", "/api/v3/order", "/api/v3/openOrders", "/api/v3/allOrders",
          "/api/v3/myTrades"}


@dataclass(frozen=True)
class Symbol:
    """One spot pair and its filters."""

    base: str
    quote: str
    step: Decimal = STEP
    tick: Decimal = TICK
    min_qty: Decimal = STEP
    min_notional: Decimal = MIN_NOTIONAL


@dataclass(frozen=True)
class Request:
    """A request as the fake saw it."""

    method: str
    path: str
    params: dict[str, str]
    api_key: str | None


class VenueError(Exception):
    """A binance error answer: HTTP status, code and message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


@dataclass
class Book:
    """The venue's state; guarded by :attr:`FakeExchange.lock`."""

    prices: dict[str, Decimal | None]
    balances: dict[str, Decimal]
    fee_rate: Decimal = FEE_RATE
    max_fill: Decimal | None = None
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    depth: dict[str, tuple[list[list[str]], list[list[str]], int | None]] = field(
        default_factory=dict)
    candles: dict[str, list[list[Any]]] = field(default_factory=dict)
    raw: dict[str, tuple[int, bytes]] = field(default_factory=dict)


def fmt(value: Decimal) -> str:
    """Format a decimal as binance does (plain notation)."""
    return format(value, "f")


def default_symbols() -> dict[str, Symbol]:
    """BTCUSDT and ETHUSDT with binance's real filters."""
    return {"BTCUSDT": Symbol("BTC", "USDT"),
            "ETHUSDT": Symbol("ETH", "USDT", step=D("0.0001"), min_notional=D("5"))}


class FakeExchange:
    """A ThreadingHTTPServer speaking enough of binance's spot REST API for ccxt."""

    def __init__(self, symbols: dict[str, Symbol] | None = None) -> None:
        self.symbols = symbols or default_symbols()
        self.lock = threading.Lock()
        self.book = Book(prices={}, balances={})
        self.requests: list[Request] = []
        self.placed: list[str] = []  # client order ids, once per order ever booked
        self.faults: deque[int] = deque()
        self.hangs: deque[float] = deque()
        self.release = threading.Event()
        self.walk: tuple[random.Random, Decimal] | None = None
        self._ids = itertools.count(1)
        self.reset()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Return the base URL (``http://127.0.0.1:PORT``)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeExchange:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def reset(self, *, prices: dict[str, Decimal | None] | None = None,
              balances: dict[str, Decimal] | None = None, fee_rate: Decimal = FEE_RATE,
              max_fill: Decimal | None = None) -> None:
        """Forget orders, trades, requests and faults; set prices, balances and fees."""
        with self.lock:
            self.book = Book(prices=dict(prices or {"BTCUSDT": D("40000"), "ETHUSDT": D("2000")}),
                             balances=dict(balances or {"USDT": D("100000")}),
                             fee_rate=fee_rate, max_fill=max_fill)
            self.requests.clear()
            self.placed.clear()
            self.faults.clear()
            self.hangs.clear()

    def set_book(self, symbol: str, *, bids: list[tuple[Any, Any]], asks: list[tuple[Any, Any]],
                 time_ms: int | None = None) -> None:
        """Serve this book for ``symbol`` (binance id, ``BTCUSDT``): rows of (price, qty),
        as given; ``time_ms`` is sent as ``T`` (spot binance sends none)."""
        def rows(levels: list[tuple[Any, Any]]) -> list[list[str]]:
            return [[v if isinstance(v, str) else fmt(D(v)) for v in row] for row in levels]
        with self.lock:
            self.book.depth[symbol] = (rows(bids), rows(asks), time_ms)

    def set_candles(self, symbol: str, rows: list[tuple[Any, ...]]) -> None:
        """Serve these klines for ``symbol``: rows of (open ms, open, high, low, close,
        volume), oldest first; the close time is derived from the requested interval."""
        with self.lock:
            self.book.candles[symbol] = [
                [row[0], *(v if isinstance(v, str) else fmt(D(v)) for v in row[1:])]
                for row in rows]

    def serve_raw(self, path: str, body: bytes, status: int = 200) -> None:
        """Answer every request for ``path`` with these bytes (until the next reset)."""
        with self.lock:
            self.book.raw[path] = (status, body)

    def random_walk(self, seed: int, bps: int) -> None:
        """Move every price up to ``bps`` basis points at each ticker request (seeded)."""
        with self.lock:
            self.walk = (random.Random(seed), Decimal(bps) / 10_000)

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` (429, 418 or 503)."""
        with self.lock:
            self.faults.extend([status] * times)

    def hang_next_order(self, seconds: float) -> None:
        """Book the next order, then hold its response back ``seconds``."""
        with self.lock:
            self.hangs.append(seconds)

    def posts(self) -> list[Request]:
        """Return the order placements received (accepted or not)."""
        return [r for r in self.requests if r.method == "POST" and r.path == "/api/v3/order"]

    def order(self, client_order_id: str) -> dict[str, Any]:
        """Return the booked order with this client id."""
        with self.lock:
            return next(o for o in self.book.orders.values()
                        if o["clientOrderId"] == client_order_id)

    def answer(self, request: Request) -> tuple[int, Any, float]:
        """Record and answer a request: status, JSON body, seconds to hold the answer."""
        with self.lock, localcontext() as ctx:
            ctx.prec = 200  # the books are exact: no balance or fee is rounded
            self.requests.append(request)
            try:
                if self.faults:
                    raise VenueError(self.faults.popleft(), -1003, "Too many requests; current "
                                     "limit is 6000 request weight per 1 MINUTE.")
                if request.path in SIGNED and not request.api_key:
                    raise VenueError(401, -2014, "API-key format invalid.")
                if request.path in self.book.raw:
                    status, raw = self.book.raw[request.path]
                    return status, raw, 0.0
                body = self.route(request.method, request.path, request.params)
            except VenueError as err:
                return err.status, {"code": err.code, "msg": err.msg}, 0.0
            hang = self.hangs.popleft() if request.method == "POST" and self.hangs else 0.0
            return 200, body, hang

    # --- endpoints, called with the lock held ---------------------------------------------

    def route(self, method: str, path: str, params: dict[str, str]) -> Any:
        """Answer one request; raise VenueError for a binance error."""
        handlers: dict[tuple[str, str], Callable[[], Any]] = {
            ("GET", "/api/v3/ping"): lambda: {},
            ("GET", "/api/v3/time"): lambda: {"serverTime": NOW_MS},
            ("GET", "/api/v3/exchangeInfo"): self._exchange_info,
            ("GET", "/api/v3/ticker/24hr"): lambda: self._ticker(params),
            ("GET", "/api/v3/klines"): lambda: self._klines(params),
            ("GET", "/api/v3/depth"): lambda: self._depth(params),
            ("GET", "/api/v3/account"): self._account,
            ("POST", "/api/v3/order"): lambda: self._place(params),
            ("GET", "/api/v3/order"): lambda: _order_json(self._find(params)),
            ("DELETE", "/api/v3/order"): lambda: self._cancel(params),
            ("GET", "/api/v3/openOrders"): lambda: [
                _order_json(o) for o in self.book.orders.values()
                if o["status"] in ("NEW", "PARTIALLY_FILLED")
                and o["symbol"] == params.get("symbol", o["symbol"])],
            ("GET", "/api/v3/allOrders"): lambda: [
                _order_json(o) for o in self.book.orders.values()
                if o["symbol"] == params.get("symbol")],
            ("GET", "/api/v3/myTrades"): lambda: [
                t for t in self.book.trades if t["symbol"] == params.get("symbol")
                and str(t["orderId"]) == params.get("orderId", str(t["orderId"]))],
        }
        handler = handlers.get((method, path))
        if handler is None:
            raise VenueError(404, -1000, f"no route {method} {path}")
        return handler()

    def _exchange_info(self) -> dict[str, Any]:
        return {"timezone": "UTC", "serverTime": NOW_MS, "rateLimits": [],
                "exchangeFilters": [], "symbols": [_symbol_json(k, s)
                                                   for k, s in self.symbols.items()]}

    def _ticker(self, params: dict[str, str]) -> Any:
        if self.walk is not None:
            rng, size = self.walk
            for sym, price in self.book.prices.items():
                if price:
                    move = Decimal(str(rng.uniform(-1, 1))).quantize(Decimal("0.0001")) * size
                    tick = self.symbols[sym].tick
                    self.book.prices[sym] = max(tick, (price * (1 + move) / tick).quantize(
                        Decimal(1)) * tick)

        def one(sym: str) -> dict[str, Any]:
            last = fmt(self.book.prices.get(sym) or D(0))
            return {"symbol": sym, "lastPrice": last, "bidPrice": last, "askPrice": last,
                    "openPrice": last, "highPrice": last, "lowPrice": last, "volume": "0",
                    "quoteVolume": "0", "openTime": NOW_MS - 86_400_000, "closeTime": NOW_MS,
                    "priceChange": "0", "priceChangePercent": "0", "count": 0}
        if "symbol" in params:
            return one(params["symbol"])
        return [one(sym) for sym in self.symbols]

    def _depth(self, params: dict[str, str]) -> dict[str, Any]:
        sym = params.get("symbol", "")
        if sym not in self.symbols:
            raise VenueError(400, -1121, "Invalid symbol.")
        limit = int(params.get("limit", "100"))
        last = self.book.prices.get(sym)
        level = [[fmt(last), "1000"]] if last else []
        bids, asks, stamp = self.book.depth.get(sym, (level, level, None))
        body: dict[str, Any] = {"lastUpdateId": 1000 + len(self.requests),
                                "bids": bids[:limit], "asks": asks[:limit]}
        if stamp is not None:
            body["T"] = stamp
        return body

    def _klines(self, params: dict[str, str]) -> list[list[Any]]:
        rows = self.book.candles.get(params.get("symbol", ""))
        if rows is not None:
            interval = params.get("interval", "1m")
            span = int(interval[:-1]) * {"m": 60_000, "h": 3_600_000, "d": 86_400_000}[
                interval[-1]]
            limit = int(params.get("limit", "500"))
            return [[*row, row[0] + span - 1, "0", 1, "0", "0", "0"] for row in rows[-limit:]]
        last = fmt(self.book.prices.get(params.get("symbol", "")) or D(0))
        return [[NOW_MS - 60_000, last, last, last, last, "1", NOW_MS - 1, last, 1, "0", "0",
                 "0"]]

    def _account(self) -> dict[str, Any]:
        return {"makerCommission": 10, "takerCommission": 10, "canTrade": True,
                "accountType": "SPOT", "updateTime": NOW_MS, "permissions": ["SPOT"],
                "balances": [{"asset": a, "free": fmt(v), "locked": "0"}
                             for a, v in self.book.balances.items()]}

    def _find(self, params: dict[str, str]) -> dict[str, Any]:
        for o in self.book.orders.values():
            if (str(o["orderId"]) == params.get("orderId")
                    or o["clientOrderId"] == params.get("origClientOrderId")):
                return o
        raise VenueError(400, -2013, "Order does not exist.")

    def _cancel(self, params: dict[str, str]) -> dict[str, Any]:
        o = self._find(params)
        if o["status"] not in ("NEW", "PARTIALLY_FILLED"):
            raise VenueError(400, -2011, "Unknown order sent.")
        o["status"] = "CANCELED"
        return _order_json(o)

    def _place(self, params: dict[str, str]) -> dict[str, Any]:
        sym, coid = params.get("symbol", ""), params.get("newClientOrderId", "")
        spec = self.symbols.get(sym)
        if spec is None:
            raise VenueError(400, -1121, "Invalid symbol.")
        if any(o["clientOrderId"] == coid for o in self.book.orders.values()):
            raise VenueError(400, -2010, "Duplicate order sent.")
        side, kind = params["side"], params["type"]
        qty = D(params["quantity"])
        limit = D(params["price"]) if kind == "LIMIT" else None
        _check_filters(spec, qty, limit, self.book.prices.get(sym))
        last = self.book.prices.get(sym)
        marketable = last is not None and last > 0 and (
            limit is None or (last <= limit if side == "BUY" else last >= limit))
        if kind == "MARKET" and not marketable:
            raise VenueError(400, -2010, NO_LIQUIDITY)
        self._check_funds(spec, side, qty, limit or last or D(0))
        o: dict[str, Any] = {
            "symbol": sym, "orderId": next(self._ids), "clientOrderId": coid, "side": side,
            "type": kind, "price": limit or D(0), "origQty": qty, "executedQty": D(0),
            "quote": D(0), "status": "NEW", "timeInForce": params.get("timeInForce", "GTC"),
            "fills": []}
        self.book.orders[o["orderId"]] = o
        self.placed.append(coid)
        if marketable and last is not None:
            self._fill(spec, o, last)
        if o["status"] in ("NEW", "PARTIALLY_FILLED") and (
                kind == "MARKET" or o["timeInForce"] in ("IOC", "FOK")):
            o["status"] = "EXPIRED"
        return _order_json(o, full=True)

    def _check_funds(self, spec: Symbol, side: str, qty: Decimal, price: Decimal) -> None:
        bal = self.book.balances
        need = (qty * price * (1 + self.book.fee_rate) if side == "BUY" else qty)
        if need > bal.get(spec.quote if side == "BUY" else spec.base, D(0)):
            raise VenueError(400, -2010, INSUFFICIENT)

    def _fill(self, spec: Symbol, o: dict[str, Any], price: Decimal) -> None:
        qty = o["origQty"] if self.book.max_fill is None else min(o["origQty"],
                                                                  self.book.max_fill)
        notional = qty * price
        fee = notional * self.book.fee_rate
        bal = self.book.balances
        sign = 1 if o["side"] == "BUY" else -1
        bal[spec.base] = bal.get(spec.base, D(0)) + sign * qty
        bal[spec.quote] = bal.get(spec.quote, D(0)) - sign * notional - fee
        trade = {"symbol": o["symbol"], "id": 1000 + len(self.book.trades),
                 "orderId": o["orderId"], "orderListId": -1, "price": fmt(price),
                 "qty": fmt(qty), "quoteQty": fmt(notional), "commission": fmt(fee),
                 "commissionAsset": spec.quote, "time": NOW_MS, "isBuyer": sign == 1,
                 "isMaker": False, "isBestMatch": True}
        self.book.trades.append(trade)
        o["fills"].append(trade)
        o["executedQty"], o["quote"] = qty, notional
        o["status"] = "FILLED" if qty == o["origQty"] else "PARTIALLY_FILLED"


def _check_filters(spec: Symbol, qty: Decimal, limit: Decimal | None,
                   last: Decimal | None) -> None:
    if qty < spec.min_qty or qty % spec.step != 0:
        raise VenueError(400, -1013, "Filter failure: LOT_SIZE")
    if limit is not None and (limit <= 0 or limit % spec.tick != 0):
        raise VenueError(400, -1013, "Filter failure: PRICE_FILTER")
    price = limit if limit is not None else last
    if price is not None and qty * price < spec.min_notional:
        raise VenueError(400, -1013, "Filter failure: NOTIONAL")


def _symbol_json(sym: str, s: Symbol) -> dict[str, Any]:
    return {
        "symbol": sym, "status": "TRADING", "baseAsset": s.base, "baseAssetPrecision": 8,
        "quoteAsset": s.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "icebergAllowed": True,
        "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True,
        "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False, "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_MAKER"],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": fmt(s.tick), "maxPrice": "1000000",
             "tickSize": fmt(s.tick)},
            {"filterType": "LOT_SIZE", "minQty": fmt(s.min_qty), "maxQty": "9000000",
             "stepSize": fmt(s.step)},
            {"filterType": "NOTIONAL", "minNotional": fmt(s.min_notional),
             "applyMinToMarket": True, "maxNotional": "9000000000", "applyMaxToMarket": False,
             "avgPriceMins": 5},
        ],
    }


def _order_json(o: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    body = {"symbol": o["symbol"], "orderId": o["orderId"], "orderListId": -1,
            "clientOrderId": o["clientOrderId"], "price": fmt(o["price"]),
            "origQty": fmt(o["origQty"]), "executedQty": fmt(o["executedQty"]),
            "cummulativeQuoteQty": fmt(o["quote"]), "status": o["status"],
            "timeInForce": o["timeInForce"], "type": o["type"], "side": o["side"],
            "workingTime": NOW_MS, "selfTradePreventionMode": "NONE"}
    if full:
        body["transactTime"] = NOW_MS
        body["fills"] = [{"price": t["price"], "qty": t["qty"], "commission": t["commission"],
                          "commissionAsset": t["commissionAsset"], "tradeId": t["id"]}
                         for t in o["fills"]]
    else:
        body.update({"time": NOW_MS, "updateTime": NOW_MS, "isWorking": True,
                     "stopPrice": "0", "icebergQty": "0", "origQuoteOrderQty": "0"})
    return body


def _handler(venue: FakeExchange) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def _serve(self) -> None:
            split = urlsplit(self.path)
            params = dict(parse_qsl(split.query))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                params.update(parse_qsl(self.rfile.read(length).decode()))
            request = Request(self.command, split.path, params,
                              self.headers.get("X-MBX-APIKEY"))
            status, body, hang = venue.answer(request)
            if hang:
                venue.release.wait(hang)
            self._send(status, body)

        def _send(self, status: int, body: Any) -> None:
            data = (body if isinstance(body, bytes)
                    else b"Service Unavailable" if status == 503 else json.dumps(body).encode())
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout)

    return Handler
