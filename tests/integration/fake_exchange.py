"""A Binance-compatible fake spot exchange on loopback, for ccxt integration tests.

``with FakeExchange() as venue:`` serves the endpoints ccxt's binance client calls on
127.0.0.1 (a free port) from daemon threads; point the client at ``venue.url``. It is meant
to be no kinder than the real venue:

* **Its clock moves.** Every time it sends — a ticker's ``closeTime``, ``serverTime``, an
  order's ``transactTime``, a trade's ``time``, the default candle — is its own clock at
  the moment of the answer: the wall clock plus ``skew_ms`` (a clock ahead of the client's
  by a few hundred milliseconds is common), or any ``clock`` a test passes.
* **Signed requests expire.** An order is booked only if it is processed within its
  ``recvWindow`` of the ``timestamp`` it was signed with (binance -1021 otherwise), so an
  order held up on the way lands late — or never.
* **Balances move with fills**, fees are charged in the quote asset at ``fee_rate`` (a buy
  needs ``qty × price × (1 + fee_rate)`` of quote), trades are listed by ``myTrades``.
* **It fails the way binance fails**, one request at a time:

  - :meth:`FakeExchange.fail_next` — the next N requests (any path, or one path) answer
    429 (-1003), 418, 503 or 500, without touching the books;
  - :meth:`FakeExchange.inject` — a :class:`Fault` for the next order placements, *before*
    the order is booked (it never exists) or *after* (it exists, the answer is lost): an
    HTTP error with a binance body (500 -1006 "execution status unknown", 429 …), a hang
    (held ``seconds``, then — before — processed late, as a request stuck on the way is),
    or a dropped connection;
  - :meth:`FakeExchange.chaos` — such faults at random, on a share of the placements;
  - :meth:`FakeExchange.hang_next_order` — book the next order, hold its answer back;
  - :meth:`FakeExchange.hold_next` — answer the next request to a path, its real answer,
    late (a slow ``exchangeInfo`` at a client's start);
  - ``max_fill`` — each fill takes at most this quantity (the rest of a market, IOC or
    FOK order expires — a FOK fills whole or not at all —; a resting order keeps working);
  - :meth:`FakeExchange.serve_raw` — answer a path with these bytes until reset (garbage);
  - :meth:`FakeExchange.refuse_key` — answer 401 (-2015) to that API key, echoing it in the
    message as binance does.
* **Orders rest and stop orders wait, as on binance** (the rules, shared with the OKX fake,
  are in :mod:`tests.integration.fake_market`). ``LIMIT`` GTC away from the market rests
  (``NEW``) and fills later, at its limit and as a maker, when the market trades through it
  (:meth:`FakeExchange.move`, or a served series as the clock passes each candle's close):
  partly (``PARTIALLY_FILLED``) when ``max_fill`` caps a fill. ``LIMIT_MAKER`` that would
  take is refused (-2010 "Order would immediately match and take."). ``STOP_LOSS`` /
  ``TAKE_PROFIT`` (``_LIMIT``) wait untriggered (``NEW``, ``isWorking`` false, ``stopPrice``
  set; one that would trigger at once is refused, -2010), then fill at the market or become
  a limit at their price. A working order locks its funds (``locked`` in the account: a
  buy its quantity at its price with the fee, a sell its quantity): an order needing more
  than is free is refused (-2010 insufficient balance). ``DELETE order`` cancels a working
  order (its fills stay) with binance's answer; anything else is -2011 "Unknown order
  sent.". exchangeInfo lists binance's seven spot order types.
* **It keeps what it said**: :meth:`FakeExchange.replied` returns the bodies it sent in
  answer to a path (the last thousand answers), to compare with what a client recorded.

Market data: :meth:`FakeExchange.set_book` sets what ``GET /api/v3/depth`` serves for a
symbol (served as given, in the given order; by default one level at the last price each
side), :meth:`FakeExchange.set_candles` what ``GET /api/v3/klines`` serves (by default the
last closed one-minute candle, at the last price). :meth:`FakeExchange.serve_history` makes
klines serve a recorded series as binance does (and the market run on it: the last price
is the last closed candle's close): ``startTime``/``endTime`` (open times, both
inclusive), at most 1000 candles a page, nothing opening after the exchange's clock, and the
candle still forming at that clock served half-formed (binance serves it: a downloader must
drop it). :meth:`FakeExchange.script` answers a path's next requests with a given
:class:`Reply` — a 429 with ``Retry-After``, a dropped connection — after letting some pass.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal, localcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from tests.integration.fake_market import (
    History,
    MovingMarket,
    Tick,
    crosses,
    marketable,
    span_ms,
    trigger,
)

D = Decimal
NOW_MS = 1_700_000_000_000  # a fixed instant, for tests that pass ``clock=frozen(NOW_MS)``
INSUFFICIENT = "Account has insufficient balance for requested action."
NO_LIQUIDITY = "Order book liquidity is less than LOT_SIZE filter minimum quantity."
UNKNOWN_STATUS = ("An unexpected response was received from the message bus. Execution "
                  "status unknown.")
WOULD_TAKE = "Order would immediately match and take."
WOULD_TRIGGER = "Stop price would trigger immediately."
STEP, TICK, MIN_NOTIONAL, FEE_RATE = D("0.00001"), D("0.01"), D("5"), D("0.001")
ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
               "TAKE_PROFIT_LIMIT")
PRICED = ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")  # carry a limit
AT_MARKET = ("MARKET", "STOP_LOSS", "TAKE_PROFIT")  # fill at the market, the rest expires
WORKING = ("NEW", "PARTIALLY_FILLED")
SIGNED = {"/api/v3/account", "/api/v3/order", "/api/v3/openOrders", "/api/v3/allOrders",
          "/api/v3/myTrades"}
ERROR_BODIES = {  # status -> (binance code, message)
    429: (-1003, "Too many requests; current limit is 6000 request weight per 1 MINUTE."),
    418: (-1003, "Way too many requests; IP banned until 1700000100000."),
    500: (-1006, UNKNOWN_STATUS),
    503: (-1001, "Internal error; unable to process your request. Please try again."),
}


def wall_ms() -> int:
    """The wall clock in milliseconds (the fake's default clock, before skew)."""
    return time.time_ns() // 1_000_000


def frozen(ms: int) -> Callable[[], int]:
    """A clock that stands still at ``ms`` (for tests of fixed instants)."""
    return lambda: ms


@dataclass(frozen=True)
class Fault:
    """One fault for an order placement (``POST /api/v3/order``).

    ``when``: ``before`` the order is booked (it never exists, unless a hang lets it land
    late) or ``after`` (it exists; the answer is lost or wrong). ``kind``: ``status`` answers
    ``status`` with binance's body for it (``code``/``msg`` override), ``hang`` holds the
    request ``seconds`` (before: then processes it, late), ``drop`` closes the connection
    without an answer.
    """

    kind: Literal["status", "hang", "drop"]
    when: Literal["before", "after"]
    status: int = 500
    seconds: float = 30.0
    code: int | None = None
    msg: str | None = None

    def body(self) -> dict[str, Any]:
        code, msg = ERROR_BODIES.get(self.status, (-1000, "An unknown error occurred."))
        return {"code": self.code if self.code is not None else code, "msg": self.msg or msg}


FAULTS = tuple(Fault(kind, when, status) for when in ("before", "after")  # type: ignore[arg-type]
               for kind, status in (("status", 500), ("status", 429), ("hang", 0),
                                    ("drop", 0)))
"""Every fault kind, before and after booking: what the fault-injection suite runs."""


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
    at_ms: int = 0


@dataclass(frozen=True)
class Reply:
    """How to answer a request: status and body, after holding it; or drop the connection."""

    status: int = 200
    body: Any = None
    hang: float = 0.0
    drop: bool = False
    headers: tuple[tuple[str, str], ...] = ()


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


class FakeExchange(MovingMarket):
    """A ThreadingHTTPServer speaking enough of binance's spot REST API for ccxt."""

    def __init__(self, symbols: dict[str, Symbol] | None = None, *,
                 clock: Callable[[], int] = wall_ms, skew_ms: int = 0,
                 signing_clock: Callable[[], int] | None = None) -> None:
        """``clock``: the exchange's time (its market data, orders and trades are stamped
        with it); ``signing_clock``: the one signed requests are judged by, when it is not
        the same (a fake replaying history on a simulated clock, signed at wall time)."""
        self.symbols = symbols or default_symbols()
        self.clock = clock
        self.signing_clock = signing_clock
        self.skew_ms = self._skew = skew_ms
        self.lock = threading.Lock()
        self.book = Book(prices={}, balances={})
        self.requests: list[Request] = []
        self.replies: deque[tuple[Request, int, bytes]] = deque(maxlen=1000)  # as sent
        self.placed: list[str] = []  # client order ids, once per order ever booked
        self.faults: deque[tuple[int, str | None]] = deque()  # (status, path or any)
        self.order_faults: deque[Fault] = deque()
        self.faulted: list[tuple[str, Fault]] = []  # (client order id, fault) as applied
        self.holds: deque[tuple[str, float]] = deque()  # (path, seconds): hold_next
        self.refused_keys: set[str] = set()
        self.on_order: Callable[[Request], None] | None = None  # called as an order arrives
        self.release = threading.Event()
        self.walk: tuple[random.Random, Decimal] | None = None
        self.chaos_rng: tuple[random.Random, float, tuple[Fault, ...]] | None = None
        self._ids = itertools.count(1)
        self.history = History()
        self.scripted: list[list[Any]] = []  # [path, requests to let pass, times, reply]
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
        """Forget orders, trades, requests, faults and served history; set prices, balances
        and fees."""
        with self.lock:
            self.book = Book(prices=dict(prices or {"BTCUSDT": D("40000"), "ETHUSDT": D("2000")}),
                             balances=dict(balances or {"USDT": D("100000")}),
                             fee_rate=fee_rate, max_fill=max_fill)
            self.requests.clear()
            self.replies.clear()
            self.placed.clear()
            self.faults.clear()
            self.order_faults.clear()
            self.faulted.clear()
            self.holds.clear()
            self.refused_keys.clear()
            self.chaos_rng = None
            self.skew_ms = self._skew
            self.history = History()

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

    def serve_history(self, symbol: str, interval: str, rows: list[list[Any]]) -> None:
        """Serve this recorded series from ``GET /api/v3/klines`` for ``symbol`` (binance id)
        at ``interval``: rows of [open ms, open, high, low, close, volume] (strings), oldest
        first; paged as binance pages (see the module docstring)."""
        with self.lock:
            self.history.serve(symbol, interval, rows)

    def _listed(self, symbol: str) -> bool:
        return symbol in self.symbols

    def _prices(self) -> dict[str, Decimal | None]:
        return self.book.prices

    def _match(self, sym: str, tick: Tick) -> None:
        """Meet every working order of ``sym`` with this move, oldest first."""
        spec = self.symbols[sym]
        for o in list(self.book.orders.values()):
            if o["symbol"] != sym or o["status"] not in WORKING or not tick.sees(o["time"]):
                continue
            buy = o["side"] == "BUY"
            if o["stop"] is not None:
                at = trigger(buy == o["type"].startswith("STOP"), o["stop"], tick)
                if at is None:
                    continue
                o["stop"], o["workingTime"] = None, self.now_ms()
                if o["type"] in AT_MARKET or marketable(buy, o["price"], at):
                    self._take(spec, o, at)
            elif o["type"] in PRICED and crosses(buy, o["price"], tick):
                self._fill(spec, o, o["price"], maker=True)

    def script(self, path: str, reply: Reply, *, after: int = 0, times: int = 1) -> None:
        """Let ``after`` requests to ``path`` pass, then answer the next ``times`` with
        ``reply`` (a status with headers, or ``drop=True``)."""
        with self.lock:
            self.scripted.append([path, after, times, reply])

    def _scripted(self, request: Request) -> Reply | None:
        for item in self.scripted:
            if item[0] != request.path:
                continue
            if item[1] > 0:
                item[1] -= 1
                return None
            item[2] -= 1
            if item[2] <= 0:
                self.scripted.remove(item)
            return item[3]  # type: ignore[no-any-return]
        return None

    def _history_klines(self, params: dict[str, str]) -> list[list[Any]] | None:
        span = span_ms(params.get("interval", "1m"))
        series = self.history.served(params.get("symbol", ""), span)
        if series is None:
            return None
        from bisect import bisect_left, bisect_right

        opens, rows = series
        now = self.now_ms()
        last = min(int(params.get("endTime", now)), now)
        limit = min(int(params.get("limit", "500")), 1000)
        stop = bisect_right(opens, last)
        start = (bisect_left(opens, int(params["startTime"])) if "startTime" in params
                 else max(0, stop - limit))
        page = []
        for row in rows[start:min(stop, start + limit)]:
            shown, _ = History.shown(row, span, now)
            page.append([*shown, shown[0] + span - 1, "0", 1, "0", "0", "0"])
        return page

    def serve_raw(self, path: str, body: bytes, status: int = 200) -> None:
        """Answer every request for ``path`` with these bytes (until the next reset)."""
        with self.lock:
            self.book.raw[path] = (status, body)

    def random_walk(self, seed: int, bps: int) -> None:
        """Move every price up to ``bps`` basis points at each ticker request (seeded)."""
        with self.lock:
            self.walk = (random.Random(seed), Decimal(bps) / 10_000)

    def fail_next(self, status: int, times: int = 1, *, path: str | None = None) -> None:
        """Answer the next ``times`` requests (to ``path``, if given: others pass meanwhile)
        with ``status`` (429, 418, 500 or 503)."""
        with self.lock:
            self.faults.extend([(status, path)] * times)

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` order placements."""
        with self.lock:
            self.order_faults.extend([fault] * times)

    def chaos(self, seed: int, rate: float, faults: tuple[Fault, ...] = FAULTS) -> None:
        """From now on, give each order placement one of ``faults`` with chance ``rate``."""
        with self.lock:
            self.chaos_rng = (random.Random(seed), rate, faults)

    def hang_next_order(self, seconds: float) -> None:
        """Book the next order, then hold its response back ``seconds``."""
        self.inject(Fault("hang", "after", seconds=seconds))

    def hold_next(self, path: str, seconds: float) -> None:
        """Hold the next answer to ``path`` back ``seconds``, then send it as it is."""
        with self.lock:
            self.holds.append((path, seconds))

    def refuse_key(self, api_key: str) -> None:
        """Answer signed requests made with ``api_key`` with 401, echoing the key."""
        with self.lock:
            self.refused_keys.add(api_key)

    def replied(self, method: str, path: str, **params: str) -> list[bytes]:
        """The bodies sent in answer to ``method path`` requests with these parameters
        (among others), oldest first."""
        return [body for request, _, body in list(self.replies)
                if (request.method, request.path) == (method, path)
                and all(request.params.get(k) == v for k, v in params.items())]

    def posts(self) -> list[Request]:
        """Return the order placements received (accepted or not)."""
        return [r for r in self.requests if r.method == "POST" and r.path == "/api/v3/order"]

    def orders(self) -> list[dict[str, Any]]:
        """Every booked order, oldest first, as :meth:`order` returns one."""
        self.run_market()
        with self.lock:
            return list(self.book.orders.values())

    def order(self, client_order_id: str) -> dict[str, Any]:
        """Return the booked order with this client id (the market run up to the clock)."""
        self.run_market()
        with self.lock:
            return next(o for o in self.book.orders.values()
                        if o["clientOrderId"] == client_order_id)

    def answer(self, request: Request) -> Reply:
        """Record and answer a request (the HTTP handler's one call)."""
        reply = self._answer(request)
        with self.lock:
            hold = next((h for h in self.holds if h[0] == request.path), None)
            if hold is None:
                return reply
            self.holds.remove(hold)
        return replace(reply, hang=reply.hang + hold[1])

    def _answer(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append(request)
            scripted = self._scripted(request)
            if scripted is not None:
                return scripted
            if self.faults and self.faults[0][1] in (None, request.path):
                status, _ = self.faults.popleft()
                return Reply(status, _error_body(status))
            fault = self._order_fault(request)
            if fault is not None:
                self.faulted.append((request.params.get("newClientOrderId", ""), fault))
        if fault is not None and fault.when == "before":
            if fault.kind == "drop":
                return Reply(drop=True)
            if fault.kind == "status":
                return Reply(fault.status, fault.body())
            if self.release.wait(fault.seconds):  # held up on the way: processed late...
                return Reply(drop=True)  # ...unless the exchange is shutting down
        if self.on_order is not None and request.path == "/api/v3/order" and \
                request.method == "POST":
            self.on_order(request)
        reply = self._process(request)
        if fault is None or fault.when == "before":
            return reply
        if fault.kind == "drop":
            return Reply(drop=True)
        if fault.kind == "hang":
            return Reply(reply.status, reply.body, hang=fault.seconds)
        return Reply(fault.status, fault.body())

    def _order_fault(self, request: Request) -> Fault | None:
        if request.method != "POST" or request.path != "/api/v3/order":
            return None
        if self.order_faults:
            return self.order_faults.popleft()
        if self.chaos_rng is not None:
            rng, rate, faults = self.chaos_rng
            if rng.random() < rate:
                return rng.choice(faults)
        return None

    def _process(self, request: Request) -> Reply:
        with self.lock, localcontext() as ctx:
            ctx.prec = 200  # the books are exact: no balance or fee is rounded
            try:
                if request.path in SIGNED:
                    self._check_signed(request)
                if request.path in self.book.raw:
                    status, raw = self.book.raw[request.path]
                    return Reply(status, raw)
                self._run_market()
                body = self.route(request.method, request.path, request.params)
            except VenueError as err:
                return Reply(err.status, {"code": err.code, "msg": err.msg})
            return Reply(200, body)

    def _check_signed(self, request: Request) -> None:
        key = request.api_key
        if not key:
            raise VenueError(401, -2014, "API-key format invalid.")
        if key in self.refused_keys:
            raise VenueError(401, -2015, f"Invalid API-key {key}, IP, or permissions for "
                                         "action, request ip: 127.0.0.1")
        stamp = request.params.get("timestamp")
        if stamp is None:
            return
        window = int(request.params.get("recvWindow", "5000"))
        now = self.signing_clock() if self.signing_clock is not None else self.now_ms()
        if int(stamp) > now + 1000 or now - int(stamp) > window:
            raise VenueError(400, -1021, "Timestamp for this request is outside of the "
                                         "recvWindow.")

    # --- endpoints, called with the lock held ---------------------------------------------

    def route(self, method: str, path: str, params: dict[str, str]) -> Any:
        """Answer one request; raise VenueError for a binance error."""
        handlers: dict[tuple[str, str], Callable[[], Any]] = {
            ("GET", "/api/v3/ping"): lambda: {},
            ("GET", "/api/v3/time"): lambda: {"serverTime": self.now_ms()},
            ("GET", "/api/v3/exchangeInfo"): self._exchange_info,
            ("GET", "/api/v3/ticker/24hr"): lambda: self._ticker(params),
            ("GET", "/api/v3/klines"): lambda: self._klines(params),
            ("GET", "/api/v3/depth"): lambda: self._depth(params),
            ("GET", "/api/v3/account"): self._account,
            ("POST", "/api/v3/order"): lambda: self._place(params),
            ("GET", "/api/v3/order"): lambda: self._order_json(self._find(params)),
            ("DELETE", "/api/v3/order"): lambda: self._cancel(params),
            ("GET", "/api/v3/openOrders"): lambda: [
                self._order_json(o) for o in self.book.orders.values()
                if o["status"] in WORKING
                and o["symbol"] == params.get("symbol", o["symbol"])],
            ("GET", "/api/v3/allOrders"): lambda: [
                self._order_json(o) for o in self.book.orders.values()
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
        return {"timezone": "UTC", "serverTime": self.now_ms(), "rateLimits": [],
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
        now = self.now_ms()

        def one(sym: str) -> dict[str, Any]:
            last = fmt(self.book.prices.get(sym) or D(0))
            return {"symbol": sym, "lastPrice": last, "bidPrice": last, "askPrice": last,
                    "openPrice": last, "highPrice": last, "lowPrice": last, "volume": "0",
                    "quoteVolume": "0", "openTime": now - 86_400_000, "closeTime": now,
                    "priceChange": "0", "priceChangePercent": "0", "count": 0}
        if "symbol" in params:
            return one(params["symbol"])
        if "symbols" in params:
            return [one(sym) for sym in json.loads(params["symbols"]) if sym in self.symbols]
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
        recorded = self._history_klines(params)
        if recorded is not None:
            return recorded
        rows = self.book.candles.get(params.get("symbol", ""))
        if rows is not None:
            interval = params.get("interval", "1m")
            span = int(interval[:-1]) * {"m": 60_000, "h": 3_600_000, "d": 86_400_000}[
                interval[-1]]
            limit = int(params.get("limit", "500"))
            return [[*row, row[0] + span - 1, "0", 1, "0", "0", "0"] for row in rows[-limit:]]
        last = fmt(self.book.prices.get(params.get("symbol", "")) or D(0))
        opened = self.now_ms() // 60_000 * 60_000 - 60_000  # the last closed minute
        return [[opened, last, last, last, last, "1", opened + 59_999, last, 1, "0", "0", "0"]]

    def _account(self) -> dict[str, Any]:
        return {"makerCommission": 10, "takerCommission": 10, "canTrade": True,
                "accountType": "SPOT", "updateTime": self.now_ms(), "permissions": ["SPOT"],
                "balances": [{"asset": a, "free": fmt(v - self.locked(a)),
                              "locked": fmt(self.locked(a))}
                             for a, v in self.book.balances.items()]}

    def locked(self, asset: str) -> Decimal:
        """What the working orders hold of ``asset``: a buy its remaining quantity at its
        price (the stop's, for a stop at the market) with the fee, a sell its quantity."""
        held = D(0)
        for o in self.book.orders.values():
            if o["status"] not in WORKING:
                continue
            spec, remaining = self.symbols[o["symbol"]], o["origQty"] - o["executedQty"]
            if o["side"] == "BUY" and asset == spec.quote:
                price = o["price"] or o["stopPrice"] or self.book.prices.get(o["symbol"]) or 0
                held += remaining * price * (1 + self.book.fee_rate)
            elif o["side"] == "SELL" and asset == spec.base:
                held += remaining
        return held

    def _find(self, params: dict[str, str]) -> dict[str, Any]:
        for o in self.book.orders.values():
            if (str(o["orderId"]) == params.get("orderId")
                    or o["clientOrderId"] == params.get("origClientOrderId")):
                return o
        raise VenueError(400, -2013, "Order does not exist.")

    def _cancel(self, params: dict[str, str]) -> dict[str, Any]:
        try:
            o = self._find(params)
        except VenueError:
            raise VenueError(400, -2011, "Unknown order sent.") from None
        if o["status"] not in WORKING:
            raise VenueError(400, -2011, "Unknown order sent.")
        o["status"], o["updateTime"] = "CANCELED", self.now_ms()
        body = {"symbol": o["symbol"], "origClientOrderId": o["clientOrderId"],
                "orderId": o["orderId"], "orderListId": -1,
                "clientOrderId": params.get("newClientOrderId") or f"cancel{o['orderId']:018d}",
                "transactTime": self.now_ms(), "price": fmt(o["price"]),
                "origQty": fmt(o["origQty"]), "executedQty": fmt(o["executedQty"]),
                "cummulativeQuoteQty": fmt(o["quote"]), "status": "CANCELED",
                "timeInForce": o["timeInForce"], "type": o["type"], "side": o["side"],
                "selfTradePreventionMode": "NONE"}
        if o["stopPrice"]:
            body["stopPrice"] = fmt(o["stopPrice"])
        return body

    def _place(self, params: dict[str, str]) -> dict[str, Any]:
        sym, coid = params.get("symbol", ""), params.get("newClientOrderId", "")
        spec = self.symbols.get(sym)
        if spec is None:
            raise VenueError(400, -1121, "Invalid symbol.")
        if any(o["clientOrderId"] == coid and o["status"] in WORKING
               for o in self.book.orders.values()):
            raise VenueError(400, -2010, "Duplicate order sent.")  # binance: among open ones
        side, kind = params["side"], params["type"]
        if kind not in ORDER_TYPES:
            raise VenueError(400, -1116, "Invalid orderType.")
        stops = kind not in ("LIMIT", "LIMIT_MAKER", "MARKET")
        required = (["price"] if kind in PRICED else []) + (["stopPrice"] if stops else []) \
            + (["timeInForce"] if kind in PRICED and kind != "LIMIT_MAKER" else [])
        for name in required:
            if not params.get(name):
                raise VenueError(400, -1102, f"Mandatory parameter '{name}' was not sent, was "
                                             "empty/null, or malformed.")
        qty = D(params["quantity"])
        limit = D(params["price"]) if kind in PRICED else None
        stop = D(params["stopPrice"]) if stops else None
        last = self.book.prices.get(sym)
        _check_filters(spec, qty, limit, last)
        if stop is not None and (stop <= 0 or stop % spec.tick != 0):
            raise VenueError(400, -1013, "Filter failure: PRICE_FILTER")
        buy = side == "BUY"
        if stop is not None and last and trigger(buy == kind.startswith("STOP"), stop,
                                                 Tick.at(last)) is not None:
            raise VenueError(400, -2010, WOULD_TRIGGER)
        takes = stop is None and marketable(buy, limit, last)
        if kind == "MARKET" and not takes:
            raise VenueError(400, -2010, NO_LIQUIDITY)
        if kind == "LIMIT_MAKER" and takes:
            raise VenueError(400, -2010, WOULD_TAKE)
        self._check_funds(spec, side, qty, limit or stop or last or D(0))
        now = self.now_ms()
        o: dict[str, Any] = {
            "symbol": sym, "orderId": next(self._ids), "clientOrderId": coid, "side": side,
            "type": kind, "price": limit or D(0), "origQty": qty, "executedQty": D(0),
            "quote": D(0), "status": "NEW", "timeInForce": params.get("timeInForce", "GTC"),
            "fills": [], "time": now, "updateTime": now, "stop": stop,
            "stopPrice": stop or D(0), "workingTime": -1 if stop is not None else now}
        self.book.orders[o["orderId"]] = o
        self.placed.append(coid)
        if takes and last is not None:
            self._take(spec, o, last)
        elif stop is None and o["timeInForce"] in ("IOC", "FOK"):
            o["status"] = "EXPIRED"
        return self._order_json(o, full=True)

    def _check_funds(self, spec: Symbol, side: str, qty: Decimal, price: Decimal) -> None:
        asset = spec.quote if side == "BUY" else spec.base
        need = (qty * price * (1 + self.book.fee_rate) if side == "BUY" else qty)
        if need > self.book.balances.get(asset, D(0)) - self.locked(asset):
            raise VenueError(400, -2010, INSUFFICIENT)

    def _take(self, spec: Symbol, o: dict[str, Any], price: Decimal) -> None:
        """Fill as a taker at ``price`` (a fill-or-kill all of it or none); an order at the
        market, IOC or FOK then expires what is left."""
        remaining = o["origQty"] - o["executedQty"]
        cap = self.book.max_fill
        if o["timeInForce"] != "FOK" or cap is None or cap >= remaining:
            self._fill(spec, o, price, maker=False)
        if o["status"] in WORKING and (o["type"] in AT_MARKET
                                       or o["timeInForce"] in ("IOC", "FOK")):
            o["status"] = "EXPIRED"

    def _fill(self, spec: Symbol, o: dict[str, Any], price: Decimal, *, maker: bool) -> None:
        remaining = o["origQty"] - o["executedQty"]
        qty = remaining if self.book.max_fill is None else min(remaining, self.book.max_fill)
        notional = qty * price
        fee = notional * self.book.fee_rate
        bal = self.book.balances
        sign = 1 if o["side"] == "BUY" else -1
        bal[spec.base] = bal.get(spec.base, D(0)) + sign * qty
        bal[spec.quote] = bal.get(spec.quote, D(0)) - sign * notional - fee
        now = self.now_ms()
        trade = {"symbol": o["symbol"], "id": 1000 + len(self.book.trades),
                 "orderId": o["orderId"], "orderListId": -1, "price": fmt(price),
                 "qty": fmt(qty), "quoteQty": fmt(notional), "commission": fmt(fee),
                 "commissionAsset": spec.quote, "time": now, "isBuyer": sign == 1,
                 "isMaker": maker, "isBestMatch": True}
        self.book.trades.append(trade)
        o["fills"].append(trade)
        o["executedQty"] += qty
        o["quote"] += notional
        o["status"] = "FILLED" if o["executedQty"] == o["origQty"] else "PARTIALLY_FILLED"
        o["updateTime"] = now

    def _order_json(self, o: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
        body = {"symbol": o["symbol"], "orderId": o["orderId"], "orderListId": -1,
                "clientOrderId": o["clientOrderId"], "price": fmt(o["price"]),
                "origQty": fmt(o["origQty"]), "executedQty": fmt(o["executedQty"]),
                "cummulativeQuoteQty": fmt(o["quote"]), "status": o["status"],
                "timeInForce": o["timeInForce"], "type": o["type"], "side": o["side"],
                "workingTime": o["workingTime"], "selfTradePreventionMode": "NONE"}
        if full:
            body["transactTime"] = o["time"]
            if o["stopPrice"]:  # a conditional field: in a placement's answer only for stops
                body["stopPrice"] = fmt(o["stopPrice"])
            body["fills"] = [{"price": t["price"], "qty": t["qty"],
                              "commission": t["commission"],
                              "commissionAsset": t["commissionAsset"], "tradeId": t["id"]}
                             for t in o["fills"]]
        else:
            body.update({"time": o["time"], "updateTime": o["updateTime"],
                         "isWorking": o["stop"] is None, "stopPrice": fmt(o["stopPrice"]),
                         "icebergQty": "0", "origQuoteOrderQty": "0"})
        return body


def _error_body(status: int) -> dict[str, Any] | None:
    if status == 503:
        return None  # a bare "Service Unavailable" page, as a load balancer sends
    code, msg = ERROR_BODIES.get(status, (-1000, "An unknown error occurred."))
    return {"code": code, "msg": msg}


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
        "orderTypes": list(ORDER_TYPES), "icebergAllowed": True,
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
                              self.headers.get("X-MBX-APIKEY"), venue.now_ms())
            reply = venue.answer(request)
            if reply.drop:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.hang:
                venue.release.wait(reply.hang)
            self._send(request, reply.status, reply.body, reply.headers)

        def _send(self, request: Request, status: int, body: Any,
                  headers: tuple[tuple[str, str], ...] = ()) -> None:
            data = (body if isinstance(body, bytes)
                    else b"Service Unavailable" if status == 503 and body is None
                    else json.dumps(body).encode())
            venue.replies.append((request, status, data))
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout)

    return Handler
