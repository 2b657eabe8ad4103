"""A loopback HTTP server of news pages, feeds and faults, for integration tests.

``with NewsServer() as server:`` serves on 127.0.0.1 (a free port) from a daemon thread.
Add pages and feeds with :meth:`NewsServer.add`; the fault routes are built in:

* ``/slow`` answers after ``slow_s`` seconds; ``/404``, ``/500``: those statuses
* ``/flaky`` answers 503 ``flaky_failures`` times, then 200 (counted per server)
* ``/json`` serves application/json; ``/empty`` an HTML page with no article text
* ``/badenc`` declares ``charset=x-unknown-charset``; ``/badutf8`` has invalid UTF-8 bytes
* ``/huge`` streams ``huge_bytes`` of HTML in 64 KB chunks without a Content-Length
  (``/huge-declared`` with one), counting the bytes sent and whether the client hung up
* ``/loop`` redirects to itself; ``/redirect`` answers 302 to ``/article``

Routes that never finish (each stops when the client hangs up or the server closes):

* ``/drip`` sends headers (Content-Length 100 kB) and then one byte every ``drip_s`` seconds
* ``/trickle`` sends headers (no Content-Length) and then ``trickle_bytes`` of HTML every
  ``trickle_s`` seconds, forever: a body that never ends, far slower than any byte cap
* ``/stall`` sends headers and then nothing; ``/silent`` reads the request, never answers
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

HTML = "text/html; charset=utf-8"
_FILLER = (b"<p>" + b"Filler paragraph of a page that never ends. " * 1450 + b"</p>\n")


@dataclass(frozen=True)
class Route:
    """A canned response: status, body, content type and extra headers."""

    body: bytes
    content_type: str = HTML
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class StreamStats:
    """What the server did while streaming /huge."""

    sent: int = 0
    disconnected: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Endless:
    """What the server did on the endless routes (/drip, /trickle, /stall, /silent)."""

    sent: Counter[str] = field(default_factory=Counter)  # body bytes sent, per route
    hung_up: set[str] = field(default_factory=set)  # routes whose client hung up


class NewsServer:
    """A ThreadingHTTPServer on 127.0.0.1 with canned routes and fault routes."""

    def __init__(self, *, slow_s: float = 1.5, flaky_failures: int = 2,
                 huge_bytes: int = 50 * 1024 * 1024, chunk: int = 64 * 1024,
                 drip_s: float = 0.5, trickle_s: float = 0.05, trickle_bytes: int = 256) -> None:
        self.slow_s = slow_s
        self.drip_s = drip_s
        self.trickle_s = trickle_s
        self.trickle_bytes = trickle_bytes
        self.flaky_failures = flaky_failures
        self.huge_bytes = huge_bytes
        self.chunk = chunk
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.user_agents: list[str] = []
        self.huge = StreamStats()
        self.endless = Endless()
        self.closing = threading.Event()  # set on exit: the endless routes stop
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def add(self, path: str, body: bytes | str, content_type: str = HTML, status: int = 200,
            headers: Mapping[str, str] | None = None) -> str:
        """Serve ``body`` at ``path``; return the route's URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(data, content_type, status, dict(headers or {}))
        return self.url(path)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return int(self._httpd.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """Return the URL of ``path`` on this server (``host`` may be ``localhost``)."""
        return f"http://{host}:{self.port}{path}"

    def count(self, path: str) -> int:
        """Return how many requests reached ``path``."""
        with self._lock:
            return self.hits[path]

    def hit(self, path: str, user_agent: str) -> int:
        """Count a request to ``path``; return how many reached it so far."""
        with self._lock:
            self.hits[path] += 1
            self.user_agents.append(user_agent)
            return self.hits[path]

    def __enter__(self) -> NewsServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.news = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    """Route a GET to a canned response or a fault."""

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    @property
    def news(self) -> NewsServer:
        return self.server.news  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        count = self.news.hit(path, self.headers.get("User-Agent", ""))
        # a client that gave up (a timeout test) gets no answer
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._dispatch(path, count)

    def _dispatch(self, path: str, count: int) -> None:
        news = self.news
        article = news.routes.get("/article", Route(b"<html><body><p>ok</p></body></html>"))
        if path == "/slow":
            time.sleep(news.slow_s)
            self._send(article)
        elif path in ("/404", "/500"):
            status = int(path[1:])
            self._send(Route(f"<html><body><h1>Error {status}</h1></body></html>".encode(),
                             status=status))
        elif path == "/flaky":
            ok = count > news.flaky_failures
            self._send(article if ok else Route(b"<h1>Service Unavailable</h1>", status=503))
        elif path == "/json":
            self._send(Route(b'{"headline": "not a page"}', "application/json"))
        elif path == "/badenc":
            self._send(Route(article.body, "text/html; charset=x-unknown-charset"))
        elif path == "/badutf8":
            body = article.body.replace(b"</title>", b" \xff\xfe\xc3</title>", 1)
            self._send(Route(body, "text/html; charset=utf-8"))
        elif path in ("/huge", "/huge-declared"):
            self._stream_huge(declared=path == "/huge-declared")
        elif path in ("/drip", "/trickle", "/stall", "/silent"):
            self._endless(path)
        elif path == "/loop":
            self._send(Route(b"", status=302, headers={"Location": "/loop"}))
        elif path == "/redirect":
            self._send(Route(b"", status=302, headers={"Location": "/article"}))
        elif path in news.routes:
            self._send(news.routes[path])
        else:
            self._send(Route(b"<h1>Not Found</h1>", status=404))

    def _send(self, route: Route) -> None:
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(route.body)))
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(route.body)

    def _stream_huge(self, *, declared: bool) -> None:
        news, stats = self.news, self.news.huge
        chunk = (_FILLER * (news.chunk // len(_FILLER) + 1))[:news.chunk]
        try:
            self.send_response(200)
            self.send_header("Content-Type", HTML)
            if declared:
                self.send_header("Content-Length", str(news.huge_bytes))
            self.end_headers()
            while stats.sent < news.huge_bytes:
                self.wfile.write(chunk)  # unbuffered: returns once the kernel took it all
                stats.sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            stats.disconnected.set()
        finally:
            stats.done.set()

    def _endless(self, path: str) -> None:
        """Answer slowly or never, until the client hangs up or the server closes."""
        news = self.news
        every, piece = {"/drip": (news.drip_s, b" "),
                        "/trickle": (news.trickle_s, (_FILLER * 2)[:news.trickle_bytes])
                        }.get(path, (3600.0, b""))
        try:
            if path != "/silent":
                self.send_response(200)
                self.send_header("Content-Type", HTML)
                if path == "/drip":
                    self.send_header("Content-Length", "100000")
                self.end_headers()
            while not news.closing.wait(every):
                self.wfile.write(piece)
                with news._lock:
                    news.endless.sent[path] += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            with news._lock:
                news.endless.hung_up.add(path)


def refused_port() -> int:
    """Return a loopback port with nothing listening (bound once, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_headlines(path: Path, count: int) -> list[dict[str, Any]]:
    """Return the first ``count`` records of a gzip JSON array of headlines."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        records: list[dict[str, Any]] = json.load(handle)
    return records[:count]


def rss_feed(records: Sequence[Mapping[str, Any]], *, title: str, link: str) -> bytes:
    """Build an RSS 2.0 document from headline records (title, link, timestamp, domain)."""
    items = []
    for record in records:
        posted = datetime.fromtimestamp(int(record["timestamp"]), UTC)
        summary = (f'<p>Posted to <b>r/{record.get("category", "news")}</b> from '
                   f'<a href="{record["link"]}">{record.get("domain", "")}</a>.</p>')
        items.append(
            "<item>"
            f"<title>{escape(record['title'])}</title>"
            f"<link>{escape(record['link'])}</link>"
            f'<guid isPermaLink="true">{escape(record["link"])}</guid>'
            f"<pubDate>{format_datetime(posted, usegmt=True)}</pubDate>"
            f"<description>{escape(summary)}</description>"
            "</item>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>{escape(link)}</link>"
            "<description>Headlines for tests</description>"
            + "".join(items) + "</channel></rss>\n").encode("utf-8")
