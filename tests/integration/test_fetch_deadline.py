"""The Fetcher's overall deadline, against servers on 127.0.0.1 that answer slowly or never.

Each bound is ``deadline + SLACK``, measured with ``time.monotonic``: a bound, not a
benchmark (the watchdog itself overshoots by milliseconds).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest

from agentfund.oracles.http import Fetcher, FetchError
from agentfund.oracles.rss import RssOracle
from agentfund.oracles.web import WebPageOracle
from fund.canonical import loads
from fund.messages import OBSERVATION
from tests.integration.news_server import NewsServer, rss_feed
from tests.integration.test_web_oracles import (
    ARTICLE,
    AT,
    Blobs,
    FakeTime,
    _run_one_wake,
)

DEADLINE = 1.2  # seconds
SLACK = 1.0


@pytest.fixture
def server() -> Iterator[NewsServer]:
    with NewsServer(drip_s=0.5, flaky_failures=10) as news:
        news.add("/article", ARTICLE)
        news.add("/feed.xml", rss_feed([], title="Empty", link="http://127.0.0.1/"),
                 content_type="application/rss+xml")
        yield news


def _timed_failure(fetcher: Fetcher, url: str) -> tuple[float, FetchError]:
    """Fetch ``url``, which must fail; return the seconds it took and the error."""
    started = time.monotonic()
    with pytest.raises(FetchError) as raised:
        fetcher.fetch(url)
    return time.monotonic() - started, raised.value


ENDLESS = [
    ("/drip", "headers, then one byte every 0.5 s"),
    ("/trickle", "a body that never ends, far below the byte cap"),
    ("/stall", "headers, then nothing"),
    ("/silent", "the connection accepted, never answered"),
]


@pytest.mark.parametrize("path", [e[0] for e in ENDLESS], ids=[e[1] for e in ENDLESS])
def test_a_fetch_ends_by_its_deadline_however_slow_the_server(
        server: NewsServer, path: str) -> None:
    # the defaults the bug was found with (10 s per read), the retries included
    with Fetcher(deadline=DEADLINE, min_interval=0.0) as fetcher:
        elapsed, error = _timed_failure(fetcher, server.url(path))

    assert elapsed < DEADLINE + SLACK
    assert error.reason.startswith("no complete answer within the 1.2 s deadline (")
    assert str(error) == f"{server.url(path)}: {error.reason}"
    assert "\n" not in str(error)
    assert server.count(path) == 1  # the deadline is final: no retry after it
    read = int(error.reason.removeprefix("no complete answer within the 1.2 s deadline (")
               .removesuffix(" bytes read)"))
    assert read <= server.endless.sent[path]
    if path == "/drip":  # a byte every 0.5 s for 1.2 s: how many arrived is up to the threads
        assert 1 <= read <= 2


def test_the_connection_is_closed_when_the_deadline_fires(server: NewsServer) -> None:
    with Fetcher(deadline=0.5, min_interval=0.0) as fetcher:
        _timed_failure(fetcher, server.url("/trickle"))

        deadline = time.monotonic() + 2.0  # the server notices at its next write (50 ms)
        while "/trickle" not in server.endless.hung_up and time.monotonic() < deadline:
            time.sleep(0.02)

    assert "/trickle" in server.endless.hung_up


def test_timeouts_and_retries_share_the_deadline(server: NewsServer) -> None:
    with Fetcher(read_timeout=0.4, retries=5, backoff=0.0, deadline=1.0,
                 min_interval=0.0) as fetcher:
        elapsed, error = _timed_failure(fetcher, server.url("/stall"))

    assert elapsed < 1.0 + SLACK
    assert error.reason.startswith("no complete answer within the 1 s deadline (0 bytes read)")
    assert 2 <= server.count("/stall") <= 4  # about one attempt per 0.4 s, never all six


def test_no_backoff_sleep_runs_past_the_deadline(server: NewsServer) -> None:
    fake = FakeTime()
    with Fetcher(retries=8, backoff=0.5, deadline=2.0, min_interval=0.0,
                 clock=fake.clock, sleep=fake.sleep) as fetcher:
        started = fake.now
        with pytest.raises(FetchError) as raised:
            fetcher.fetch(server.url("/flaky"))

    assert fake.sleeps == [0.5, 1.0]  # the next, 2.0, would end past the deadline
    assert fake.now - started < 2.0
    assert server.count("/flaky") == 3
    assert raised.value.reason == ("HTTP 503 after 3 attempts; no time left for a retry "
                                   "within the 2 s deadline")
    assert raised.value.status == 503


def test_no_politeness_wait_runs_past_the_deadline(server: NewsServer) -> None:
    fake = FakeTime()
    with Fetcher(min_interval=5.0, deadline=DEADLINE, clock=fake.clock,
                 sleep=fake.sleep) as fetcher:
        fetcher.fetch(server.url("/article"))
        with pytest.raises(FetchError) as raised:
            fetcher.fetch(server.url("/article"))

    assert fake.sleeps == []
    assert server.count("/article") == 1
    assert raised.value.reason == ("no complete answer within the 1.2 s deadline (the next "
                                   "request to 127.0.0.1 may start only in 5 s)")


def test_a_fast_fetch_is_unaffected_by_a_deadline(server: NewsServer) -> None:
    with Fetcher(deadline=DEADLINE, min_interval=0.0) as fetcher:
        started = time.monotonic()
        page = fetcher.fetch(server.url("/article"))
        redirected = fetcher.fetch(server.url("/redirect"))
        elapsed = time.monotonic() - started

    assert (page.status, page.body) == (200, ARTICLE.encode("utf-8"))
    assert (redirected.final_url, redirected.body) == (server.url("/article"), page.body)
    assert elapsed < DEADLINE


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_the_deadline_must_be_a_positive_number_of_seconds(bad: float) -> None:
    with pytest.raises(ValueError, match="deadline"):
        Fetcher(deadline=bad)


def test_the_default_deadline_is_30_s() -> None:
    with Fetcher() as fetcher:
        assert fetcher.deadline == 30.0


def test_a_page_past_its_deadline_is_recorded_in_the_journal(
        server: NewsServer, journal_url: str) -> None:
    url = server.url("/stall")

    with (Fetcher(deadline=0.5, min_interval=0.0) as fetcher,
          _run_one_wake(WebPageOracle("news", [url], fetcher), journal_url) as journal):
        entries = list(journal.read("reader"))

    [observation] = [loads(e.payload) for e in entries if e.kind == OBSERVATION]
    assert observation["error"] == (
        f"OracleError: {url}: no complete answer within the 0.5 s deadline (0 bytes read)")


def test_a_feed_past_its_deadline_is_one_error_next_to_the_others(server: NewsServer) -> None:
    urls = [server.url("/silent"), server.url("/feed.xml")]

    with Fetcher(deadline=0.5, min_interval=0.0) as fetcher:
        data = RssOracle("headlines", urls, fetcher).observe(AT, Blobs())

    assert data["errors"] == [{"url": urls[0], "error": "no complete answer within the 0.5 s "
                                                        "deadline (0 bytes read)"}]
