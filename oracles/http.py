"""Fetch web resources carefully: bounded bodies, timeouts, a deadline, retries, polite pacing.

:class:`Fetcher` is the one place news oracles touch the network. A body is read in
chunks and abandoned as soon as it passes ``max_bytes`` (compressed bodies are inflated
with the same bound), redirects are followed by hand up to a limit, 5xx answers, timeouts
and broken connections are retried with doubling backoff (4xx answers never are), and two
requests to one host are at least ``min_interval`` seconds apart. Every failure is a
:class:`FetchError` whose message names the URL and one specific reason. Not thread-safe.

**The deadline.** httpx's timeouts bound each operation, not a fetch: a server that sends
a byte every few seconds never trips a 10 s read timeout and can hold a fetch forever. So
each ``fetch(url)`` also has an overall ``deadline`` in seconds (counted on the injected
clock, whose units the socket timeouts and the timer take for real seconds, as they are
for the default ``time.monotonic``) that covers every attempt, redirect, politeness wait,
backoff sleep and byte read:

* sleeps are checked first: a politeness wait or a backoff that would end at or past the
  deadline is not slept (the fetch fails at once, naming the deadline), so no retry starts
  late;
* each request gets httpx timeouts no longer than the time left, and the time left is
  checked after every network read (``iter_raw()`` yields each read as it arrives);
* a watchdog (a ``threading.Timer`` per request, set to the time left) cuts the request's
  connections off when it fires: httpcore's ``trace`` extension hands over each new
  connection's socket, the watchdog keeps a ``dup()`` of it and calls ``shutdown()`` on
  that, which wakes a read blocked in any phase (waiting for headers, between body bytes,
  in a TLS read) at once. It never touches httpcore's own descriptor (the ``dup`` is ours
  and closed by us, so a recycled file number is never shut by mistake), and keep-alive
  is off, so that every request opens a connection the watchdog can see.

Whatever was read when the watchdog fired is discarded, even a body that looked complete
(a body read to end-of-connection cannot be told from one cut short). The failure is
``no complete answer within the N s deadline (B bytes read)``; it is not retried. The
overshoot is the watchdog thread's wake-up and one system call: milliseconds. Not covered:
the resolver (``getaddrinfo`` blocks with its own timeouts, and nothing can interrupt it
short of a thread per lookup) and, for a host with several addresses, a connect that tries
each address in turn, each within the time left.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx

from agentfund.oracles.base import OracleError

USER_AGENT = "agentfund/0.1 (+https://example.invalid/agentfund)"
_ACCEPT = ("text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
           "application/xml;q=0.9,*/*;q=0.8")
_CONNECTED = frozenset({"connection.connect_tcp.complete",
                        "connection.connect_unix_socket.complete"})  # httpcore trace events


class FetchError(OracleError):
    """A URL could not be fetched: ``reason`` says why, ``body`` holds any error page read."""

    def __init__(self, url: str, reason: str, *, status: int | None = None,
                 body: bytes = b"") -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResult:
    """A fetched resource: where it ended up, its media type and its (decoded) body."""

    url: str
    final_url: str
    status: int
    content_type: str  # media type, lower case, without parameters ("" if absent)
    charset: str | None  # the Content-Type header's charset parameter, if any
    body: bytes
    elapsed_s: float


class _Failure(Exception):
    """One attempt failed; ``retry`` tells whether another attempt may succeed."""

    def __init__(self, reason: str, *, retry: bool, status: int | None = None,
                 body: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.status = status
        self.body = body


class _Answer(NamedTuple):
    status: int
    headers: httpx.Headers
    body: bytes
    location: str | None


class Fetcher:
    """Fetch URLs over one ``httpx.Client``; close it with :meth:`close` (or ``with``)."""

    def __init__(self, *, user_agent: str = USER_AGENT, connect_timeout: float = 5.0,
                 read_timeout: float = 10.0, max_bytes: int = 5_000_000,
                 max_redirects: int = 5, retries: int = 2, backoff: float = 0.5,
                 min_interval: float = 1.0, deadline: float = 30.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if max_bytes < 1 or max_redirects < 0 or retries < 0 or backoff < 0 or min_interval < 0:
            raise ValueError("max_bytes must be positive; redirects, retries, backoff and "
                             "min_interval must not be negative")
        if not (math.isfinite(deadline) and deadline > 0):
            raise ValueError(f"deadline must be a positive number of seconds, not {deadline!r}")
        self.deadline = deadline
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.retries = retries
        self.backoff = backoff
        self.min_interval = min_interval
        self._clock = clock
        self._sleep = sleep
        self._last_request: dict[str, float] = {}
        self._received = 0  # body bytes read by the current request
        self._client = httpx.Client(
            headers={"User-Agent": user_agent, "Accept": _ACCEPT,
                     "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout),
            limits=httpx.Limits(max_keepalive_connections=0),  # the watchdog sees each socket
            follow_redirects=False)

    def close(self) -> None:
        """Close the underlying HTTP client and its connections."""
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, url: str) -> FetchResult:
        """Fetch ``url`` (following redirects, retrying transient failures) within the
        deadline; raise FetchError."""
        due = self._clock() + self.deadline
        attempts = self.retries + 1
        delay = self.backoff
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(url, due)
            except _Failure as failure:
                retry = failure.retry and attempt < attempts
                if retry and self._clock() + delay < due:
                    self._sleep(delay)
                    delay *= 2
                    continue
                reason = failure.reason + (f" after {attempt} attempts" if attempt > 1 else "")
                if retry:
                    reason += (f"; no time left for a retry within the {self.deadline:g} s "
                               "deadline")
                raise FetchError(url, reason, status=failure.status, body=failure.body) from None
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _attempt(self, url: str, due: float) -> FetchResult:
        """Fetch once by ``due``, following up to ``max_redirects`` redirects."""
        current, elapsed = url, 0.0
        for _ in range(self.max_redirects + 1):
            self._wait_turn(current, due)
            started = self._clock()
            try:
                answer = self._request(current, due)
            finally:
                elapsed += self._clock() - started
            if answer.location is None:
                content_type, charset = _media_type(answer.headers.get("content-type", ""))
                return FetchResult(url=url, final_url=current, status=answer.status,
                                   content_type=content_type, charset=charset,
                                   body=answer.body, elapsed_s=elapsed)
            current = answer.location
        raise _Failure(f"more than {self.max_redirects} redirects (last to {current})",
                       retry=False)

    def _wait_turn(self, url: str, due: float) -> None:
        """Sleep until ``min_interval`` has passed since the last request to the URL's host
        (fail if that is not before ``due``)."""
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError as exc:
            raise _Failure(f"invalid URL ({exc})", retry=False) from None
        last = self._last_request.get(host)
        if last is not None:
            wait = self.min_interval - (self._clock() - last)
            if wait > 0 and self._clock() + wait >= due:
                raise self._late(f"the next request to {host} may start only in {wait:g} s")
            if wait > 0:
                self._sleep(wait)
        self._last_request[host] = self._clock()

    def _late(self, detail: str | None = None) -> _Failure:
        """The failure of a fetch that ran out of time (never retried)."""
        detail = detail or f"{self._received} bytes read"
        return _Failure(f"no complete answer within the {self.deadline:g} s deadline ({detail})",
                        retry=False)

    def _request(self, url: str, due: float) -> _Answer:
        """Send one GET, cut off at ``due``; return its status, headers, body and redirect."""
        self._received = 0
        left = due - self._clock()
        if left <= 0:
            raise self._late()
        watchdog = _Watchdog(left)
        try:
            answer = self._exchange(url, left, watchdog, due)
        except (_Failure, httpx.HTTPError, httpx.InvalidURL) as exc:
            if watchdog.disarm() or self._clock() >= due:
                raise self._late() from None
            if isinstance(exc, _Failure):
                raise
            raise self._failure(exc) from None
        finally:
            fired = watchdog.disarm()
        if fired:  # a body read to the end of a connection the watchdog cut is not complete
            raise self._late()
        if answer.location is None and answer.status >= 300:  # a 3xx with no Location too
            raise _Failure(f"HTTP {answer.status}", retry=answer.status >= 500,
                           status=answer.status, body=answer.body)
        return answer

    def _exchange(self, url: str, left: float, watchdog: _Watchdog, due: float) -> _Answer:
        """Send one GET with every timeout at most ``left``, watched by ``watchdog``."""
        timeout = httpx.Timeout(min(self.read_timeout, left),
                                connect=min(self.connect_timeout, left),
                                pool=min(self.connect_timeout, left))
        with self._client.stream("GET", url, timeout=timeout,
                                 extensions={"trace": watchdog.trace}) as response:
            status = response.status_code
            if 300 <= status < 400 and "location" in response.headers:
                target = response.url.join(response.headers["location"])
                return _Answer(status, response.headers, b"", str(target))
            late = lambda: watchdog.fired or self._clock() >= due  # noqa: E731
            body = self._read(response, strict=status < 300, late=late)
        return _Answer(status, response.headers, body, None)

    def _read(self, response: httpx.Response, *, strict: bool, late: Callable[[], bool]) -> bytes:
        """Read the body, inflating it; past ``max_bytes`` fail (strict) or truncate; once
        ``late()``, fail."""
        declared = response.headers.get("content-length", "")
        if strict and declared.isdigit() and int(declared) > self.max_bytes:
            raise _Failure(f"body larger than {self.max_bytes} bytes "
                           f"(Content-Length {declared})", retry=False)
        inflate = _Inflater(response.headers.get("content-encoding", ""))
        body = bytearray()
        for chunk in response.iter_raw():  # each read as it arrives, so late() is checked
            self._received += len(chunk)
            if late():
                raise self._late()
            body += inflate(chunk, self.max_bytes + 1 - len(body))
            if len(body) > self.max_bytes:
                if not strict:
                    return bytes(body[:self.max_bytes])
                raise _Failure(f"body larger than {self.max_bytes} bytes", retry=False)
        return bytes(body)

    def _failure(self, exc: httpx.HTTPError | httpx.InvalidURL) -> _Failure:
        """Say why a request failed, and whether another attempt may succeed."""
        if isinstance(exc, httpx.TimeoutException):
            return _Failure(self._timeout_reason(exc), retry=True)
        if isinstance(exc, httpx.ConnectError):
            return _Failure(_connect_reason(exc), retry=True)
        if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
            return _Failure(f"connection lost ({exc or type(exc).__name__})", retry=True)
        if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
            return _Failure(f"invalid URL ({exc})", retry=False)
        return _Failure(f"{type(exc).__name__}: {exc}", retry=False)

    def _timeout_reason(self, exc: httpx.TimeoutException) -> str:
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            return f"timeout after {self.connect_timeout:g} s (connect)"
        phase = "write" if isinstance(exc, httpx.WriteTimeout) else "read"
        return f"timeout after {self.read_timeout:g} s ({phase})"


class _Watchdog:
    """Cut one request's connections off when its time is up (from a timer thread).

    :meth:`trace` is the request's httpcore ``trace`` extension: it keeps a duplicate of
    each new connection's socket. Shutting the duplicate down ends the connection for
    httpcore too (a shutdown acts on the socket, not the descriptor), and wakes a read
    blocked on it, while the duplicate's descriptor stays ours until :meth:`disarm`.
    """

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._fired = False
        self._disarmed = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    @property
    def fired(self) -> bool:
        """Whether the time ran out (and the connections were cut)."""
        return self._fired

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """Keep a duplicate of a newly connected socket (cut at once if already late)."""
        if event not in _CONNECTED:
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return
        with self._lock, contextlib.suppress(OSError):
            if self._disarmed:
                return
            duplicate = sock.dup()
            self._sockets.append(duplicate)
            if self._fired:
                _cut(duplicate)

    def _fire(self) -> None:
        with self._lock:
            if self._disarmed:
                return
            self._fired = True
            for sock in self._sockets:
                _cut(sock)

    def disarm(self) -> bool:
        """Stop the timer and close the duplicates; return whether the time ran out."""
        self._timer.cancel()
        with self._lock:
            self._disarmed = True
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()
            return self._fired


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer: nothing to cut
        sock.shutdown(socket.SHUT_RDWR)


class _Inflater:
    """Undo a Content-Encoding chunk by chunk, never producing more than asked."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding.strip().lower()
        if self.encoding in ("", "identity"):
            self._zlib = None
        elif self.encoding in ("gzip", "x-gzip", "deflate"):
            self._zlib = zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib or gzip header
        else:
            raise _Failure(f"unsupported content-encoding {self.encoding!r}", retry=False)

    def __call__(self, chunk: bytes, room: int) -> bytes:
        if self._zlib is None:
            return chunk
        try:
            return self._zlib.decompress(chunk, room)  # room >= 1: 0 would mean unbounded
        except zlib.error as exc:
            raise _Failure(f"bad {self.encoding} body ({exc})", retry=False) from None


def _media_type(header: str) -> tuple[str, str | None]:
    """Split a Content-Type header into its media type and charset parameter."""
    if not header.strip():
        return "", None
    media_type = header.split(";", 1)[0].strip().lower()
    message = Message()
    message["content-type"] = header
    charset = message.get_param("charset")
    return media_type, (charset.strip() or None) if isinstance(charset, str) else None


def _connect_reason(exc: httpx.ConnectError) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    if "name or service not known" in text.lower() or "nodename" in text.lower():
        return "cannot resolve host"
    return f"connection failed ({text or type(exc).__name__})"
