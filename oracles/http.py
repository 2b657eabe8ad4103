"""Fetch web resources carefully: bounded bodies, timeouts, retries and polite pacing.

:class:`Fetcher` is the one place news oracles touch the network. A body is read in
chunks and abandoned as soon as it passes ``max_bytes`` (compressed bodies are inflated
with the same bound), redirects are followed by hand up to a limit, 5xx answers, timeouts
and broken connections are retried with doubling backoff (4xx answers never are), and two
requests to one host are at least ``min_interval`` seconds apart. Every failure is a
:class:`FetchError` whose message names the URL and one specific reason. Not thread-safe.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import NamedTuple
from urllib.parse import urlsplit

import httpx

from oracles.base import OracleError

USER_AGENT = "agentfund/0.1 (+https://example.invalid/agentfund)"
_ACCEPT = ("text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
           "application/xml;q=0.9,*/*;q=0.8")
_CHUNK = 65_536


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
                 min_interval: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if max_bytes < 1 or max_redirects < 0 or retries < 0 or backoff < 0 or min_interval < 0:
            raise ValueError("max_bytes must be positive; redirects, retries, backoff and "
                             "min_interval must not be negative")
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
        self._client = httpx.Client(
            headers={"User-Agent": user_agent, "Accept": _ACCEPT,
                     "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout),
            follow_redirects=False)

    def close(self) -> None:
        """Close the underlying HTTP client and its connections."""
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, url: str) -> FetchResult:
        """Fetch ``url`` (following redirects, retrying transient failures); raise FetchError."""
        attempts = self.retries + 1
        delay = self.backoff
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(url)
            except _Failure as failure:
                if failure.retry and attempt < attempts:
                    self._sleep(delay)
                    delay *= 2
                    continue
                reason = failure.reason + (f" after {attempt} attempts" if attempt > 1 else "")
                raise FetchError(url, reason, status=failure.status, body=failure.body) from None
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _attempt(self, url: str) -> FetchResult:
        """Fetch once, following up to ``max_redirects`` redirects."""
        current, elapsed = url, 0.0
        for _ in range(self.max_redirects + 1):
            self._wait_turn(current)
            started = self._clock()
            try:
                answer = self._request(current)
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

    def _wait_turn(self, url: str) -> None:
        """Sleep until ``min_interval`` has passed since the last request to the URL's host."""
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError as exc:
            raise _Failure(f"invalid URL ({exc})", retry=False) from None
        last = self._last_request.get(host)
        if last is not None:
            wait = self.min_interval - (self._clock() - last)
            if wait > 0:
                self._sleep(wait)
        self._last_request[host] = self._clock()

    def _request(self, url: str) -> _Answer:
        """Send one GET; return its status, headers, body and redirect target."""
        try:
            with self._client.stream("GET", url) as response:
                status = response.status_code
                if 300 <= status < 400 and "location" in response.headers:
                    target = response.url.join(response.headers["location"])
                    return _Answer(status, response.headers, b"", str(target))
                body = self._read(response, strict=status < 300)
        except httpx.TimeoutException as exc:
            raise _Failure(self._timeout_reason(exc), retry=True) from None
        except httpx.ConnectError as exc:
            raise _Failure(_connect_reason(exc), retry=True) from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Failure(f"connection lost ({exc or type(exc).__name__})", retry=True) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise _Failure(f"invalid URL ({exc})", retry=False) from None
        except httpx.HTTPError as exc:
            raise _Failure(f"{type(exc).__name__}: {exc}", retry=False) from None
        if status >= 300:  # a 3xx here has no Location to follow
            raise _Failure(f"HTTP {status}", retry=status >= 500, status=status, body=body)
        return _Answer(status, response.headers, body, None)

    def _read(self, response: httpx.Response, *, strict: bool) -> bytes:
        """Read the body, inflating it; past ``max_bytes`` fail (strict) or truncate."""
        declared = response.headers.get("content-length", "")
        if strict and declared.isdigit() and int(declared) > self.max_bytes:
            raise _Failure(f"body larger than {self.max_bytes} bytes "
                           f"(Content-Length {declared})", retry=False)
        inflate = _Inflater(response.headers.get("content-encoding", ""))
        body = bytearray()
        for chunk in response.iter_raw(_CHUNK):
            body += inflate(chunk, self.max_bytes + 1 - len(body))
            if len(body) > self.max_bytes:
                if not strict:
                    return bytes(body[:self.max_bytes])
                raise _Failure(f"body larger than {self.max_bytes} bytes", retry=False)
        return bytes(body)

    def _timeout_reason(self, exc: httpx.TimeoutException) -> str:
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            return f"timeout after {self.connect_timeout:g} s (connect)"
        phase = "write" if isinstance(exc, httpx.WriteTimeout) else "read"
        return f"timeout after {self.read_timeout:g} s ({phase})"


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
