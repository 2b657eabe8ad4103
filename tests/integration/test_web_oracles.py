"""The live news oracles against a real HTTP server on 127.0.0.1: pages, feeds and faults."""

from __future__ import annotations

import gzip
import hashlib
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ConfigDict

from agentfund.oracles.base import OracleError, Recorded
from agentfund.oracles.http import USER_AGENT, Fetcher, FetchError
from agentfund.oracles.rss import RssOracle
from agentfund.oracles.web import WebPageOracle
from fund.actor import ActorSpec
from fund.canonical import dumps, format_ts, loads
from fund.clock import SimulatedClock
from fund.exchange.paper import PaperAdapter
from fund.journal import Journal, JournalWriter, open_journal
from fund.markets import Market
from fund.messages import DECISION, OBSERVATION, ORDER_INTENT, Decision, Observation
from fund.runtime import ActorRuntime
from fund.strategy import Context, FundTerms, OracleSpec, Strategy
from tests.conftest import SAMPLE, SHARED
from tests.integration.news_server import NewsServer, load_headlines, refused_port, rss_feed

AT = datetime(2022, 1, 20, 12, 0, tzinfo=UTC)
HEADLINES = SAMPLE / "news" / "reddit_headlines_2021-12-31_2022-01-20.json.gz"
FIXTURES = SHARED / "html" / "trafilatura_fixtures"
CAP = 1_000_000

ARTICLE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Voting bill stalls as Biden and Trump trade blame | The Lakeside Courier</title>
  <meta property="og:title" content="Voting bill stalls as Biden and Trump trade blame">
  <meta property="article:published_time" content="2022-01-12T14:30:00+00:00">
  <meta name="author" content="Jo Example">
  <script>window.trackingId = "SCRIPT-TRACKER-7731"; function showAds() { return 1; }</script>
  <style>.promo { color: red; }</style>
</head>
<body>
  <header>
    <nav class="menu"><ul>
      <li><a href="/">Front page</a></li><li><a href="/politics">Politics desk</a></li>
      <li><a href="/weather">Weekend weather outlook</a></li>
      <li><a href="/subscribe">Subscribe for unlimited courier access</a></li>
    </ul></nav>
  </header>
  <main>
    <article>
      <h1>Voting bill stalls as Biden and Trump trade blame</h1>
      <p class="byline">By Jo Example, January 12, 2022</p>
      <p>President Biden spent Wednesday afternoon calling senators one by one, hoping to
      rescue a voting bill that most observers had already written off.</p>
      <p>Donald Trump, speaking to supporters in a crowded hall in Arizona, told the audience
      that the bill was a distraction and that his party should not give an inch.</p>
      <p>Aides to Biden said the White House still believed a compromise on the filibuster
      was possible, although two senators from his own party repeated their opposition.</p>
      <p>Several county officials interviewed for this story said they mostly wanted clear
      rules well before the autumn, whoever ends up writing them.</p>
      <p>Neither Trump nor Biden mentioned the cost of running elections, which local
      clerks describe as their most pressing worry for the coming year.</p>
    </article>
    <aside class="most-read"><h2>Most read</h2><ul>
      <li><a href="/a1">Ten lakeside cafes worth the drive this winter</a></li>
      <li><a href="/a2">Ice fishing season opens early on the north shore</a></li>
    </ul></aside>
  </main>
  <footer><p>Copyright 2022 The Lakeside Courier. Cookie settings. Privacy policy.</p></footer>
  <script>showAds(); console.log("FOOTER-SCRIPT-4410");</script>
</body>
</html>
"""

LATIN1_PAGE = """<html><head><meta charset="iso-8859-1"><title>Café owners weigh tariffs</title>
<meta property="article:published_time" content="2022-01-14T08:00:00-05:00"></head><body>
<nav><a href="/">Accueil</a> <a href="/business">Business</a></nav>
<article><h1>Café owners weigh tariffs</h1>
<p>The owners of a small café near the river said rising costs for imported coffee beans
were squeezing margins that were already thin before the holidays.</p>
<p>One owner, who asked to be identified only by her first name, Renée, said she had raised
the price of an espresso twice since the summer and expected to do so again.</p>
<p>Customers have mostly accepted the increases so far, she said, though fewer of them now
stay for a second cup in the afternoon.</p></article>
<footer>All rights reserved.</footer></body></html>
"""

EMPTY_PAGE = """<!DOCTYPE html><html><head><title>Loading</title>
<script>var app = document.getElementById("app"); render(app);</script></head>
<body><nav><a href="/">Home</a> <a href="/about">About us</a></nav><div id="app"></div>
<footer>Copyright 2022 Example News</footer></body></html>
"""

# raw-HTML mention counts of "trump" (case-insensitive) from /work/shared/data/README.md, C
README_TRUMP = {
    "fivethirtyeight.com.endorsement.html": 10, "cbsnews.com.carolina.html": 3,
    "twincities.com-mayor.html": 43, "timesofisrael.com.washington.html": 42,
    "latimes.com.bloomberg.html": 22, "newrepublic.com.neoliberalism.html": 10,
    "axios.com.future.html": 8, "politico.com.retirement.html": 7, "bbc.com.52241221.html": 6,
    "reuters.com.parasite.html": 4, "salon.com.emissions.html": 4, "aclu.org-grades.html": 2,
    "thebalance.com.coinbase.html": 0, "threatpost.com.android.html": 0,
}


class FakeTime:
    """A monotonic clock that moves only when slept on or advanced; it records the sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Blobs:
    """An in-memory blob sink."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}

    def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.stored[digest] = data
        return digest


@contextmanager
def _peak_memory() -> Iterator[list[int]]:
    """Measure the peak of Python allocations in the block (into the yielded list)."""
    peak = [0]
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@pytest.fixture
def server() -> Iterator[NewsServer]:
    with NewsServer(slow_s=4.0) as news:
        news.add("/article", ARTICLE)
        news.add("/cafe", LATIN1_PAGE.encode("iso-8859-1"), content_type="text/html")
        news.add("/empty", EMPTY_PAGE)
        yield news


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def fetcher(fake_time: FakeTime) -> Iterator[Fetcher]:
    """Short timeouts, a 1 MB cap, no politeness wait, sleeps recorded instead of slept."""
    with Fetcher(connect_timeout=2.0, read_timeout=1.5, max_bytes=CAP, min_interval=0.0,
                 sleep=fake_time.sleep) as client:
        yield client


def test_page_extraction_keeps_the_article_and_drops_the_chrome(
        server: NewsServer, fetcher: Fetcher) -> None:
    oracle = WebPageOracle("news", [server.url("/article")], fetcher)

    data = oracle.observe(AT, Blobs())

    [item] = data["items"]
    assert "President Biden spent Wednesday afternoon calling senators" in item["text"]
    assert "Donald Trump, speaking to supporters in a crowded hall in Arizona" in item["text"]
    assert "clerks describe as their most pressing worry" in item["text"]
    for chrome in ("SCRIPT-TRACKER", "FOOTER-SCRIPT", "showAds", "Subscribe for unlimited",
                   "Weekend weather", "Ice fishing", "Cookie settings", ".promo"):
        assert chrome not in item["text"]
    assert item["title"] == "Voting bill stalls as Biden and Trump trade blame"
    assert item["published"] == "2022-01-12T14:30:00.000000Z"
    assert item["source"] == "127.0.0.1"
    assert item["link"] == item["url"] == server.url("/article")
    assert item["id"] == hashlib.sha256(server.url("/article").encode()).hexdigest()
    assert item["status"] == 200 and isinstance(item["fetched_ms"], int)
    assert data["errors"] == []
    assert data["extractor"]["name"] == "trafilatura" and data["extractor"]["version"]
    assert server.user_agents == [USER_AGENT]
    assert loads(dumps(data)) == data  # journal-ready: JSON, no datetimes or floats hidden


def test_the_stored_blob_is_the_served_body(server: NewsServer, fetcher: Fetcher) -> None:
    blobs = Blobs()
    oracle = WebPageOracle("news", [server.url("/article"), server.url("/cafe")], fetcher)

    data = oracle.observe(AT, blobs)

    served = [server.routes["/article"].body, server.routes["/cafe"].body]
    digests = [hashlib.sha256(body).hexdigest() for body in served]
    assert [item["blob"] for item in data["items"]] == digests
    assert data["blobs"] == digests
    assert [blobs.stored[d] for d in digests] == served
    assert [item["bytes"] for item in data["items"]] == [len(body) for body in served]


def test_a_meta_charset_decodes_a_page_whose_header_has_none(
        server: NewsServer, fetcher: Fetcher) -> None:
    oracle = WebPageOracle("news", [server.url("/cafe")], fetcher)

    [item] = oracle.observe(AT, Blobs())["items"]

    assert item["title"] == "Café owners weigh tariffs"
    assert "Renée" in item["text"]
    assert item["published"] == "2022-01-14T13:00:00.000000Z"  # -05:00 converted to UTC


def test_a_redirect_is_followed_and_the_final_url_is_the_link(
        server: NewsServer, fetcher: Fetcher) -> None:
    oracle = WebPageOracle("news", [server.url("/redirect")], fetcher)

    [item] = oracle.observe(AT, Blobs())["items"]

    assert item["url"] == server.url("/redirect")
    assert item["link"] == server.url("/article")
    assert item["id"] == hashlib.sha256(server.url("/article").encode()).hexdigest()
    assert (server.count("/redirect"), server.count("/article")) == (1, 1)


FAULTS = [
    ("/404", "HTTP 404"),
    ("/500", "HTTP 500 after 3 attempts"),
    ("/json", "not HTML (content-type application/json)"),
    ("/empty", "no article text"),
    ("/badenc", "bad encoding: unknown charset 'x-unknown-charset'"),
    ("/badutf8", "bad encoding: invalid start byte for utf-8 at byte "),
    ("/slow", "timeout after 1.5 s (read) after 3 attempts"),
    ("/loop", "more than 5 redirects (last to "),
    ("/huge", f"body larger than {CAP} bytes"),
    ("refused", "connection refused after 3 attempts"),
]


def _fault_url(server: NewsServer, path: str) -> str:
    return f"http://127.0.0.1:{refused_port()}/" if path == "refused" else server.url(path)


@pytest.mark.parametrize(("path", "reason"), FAULTS, ids=[f[0] for f in FAULTS])
def test_a_single_failing_page_raises_with_its_reason(
        server: NewsServer, fetcher: Fetcher, path: str, reason: str) -> None:
    url = _fault_url(server, path)
    oracle = WebPageOracle("news", [url], fetcher)

    with pytest.raises(OracleError) as raised:
        oracle.observe(AT, Blobs())

    assert str(raised.value).startswith(f"{url}: {reason}")


def test_failing_pages_next_to_a_good_one_become_errors(
        server: NewsServer, fetcher: Fetcher) -> None:
    urls = [_fault_url(server, path) for path, _ in FAULTS]
    oracle = WebPageOracle("news", [*urls[:5], server.url("/article"), *urls[5:]], fetcher)

    data = oracle.observe(AT, Blobs())

    assert [item["link"] for item in data["items"]] == [server.url("/article")]
    assert [e["url"] for e in data["errors"]] == urls
    for error, (_, reason) in zip(data["errors"], FAULTS, strict=True):
        assert error["error"].startswith(reason), error
    error_page = hashlib.sha256(b"<html><body><h1>Error 404</h1></body></html>").hexdigest()
    assert error_page in data["blobs"]  # the 404 page's body is kept as evidence


def test_a_5xx_is_retried_with_doubling_backoff(
        server: NewsServer, fetcher: Fetcher, fake_time: FakeTime) -> None:
    result = fetcher.fetch(server.url("/flaky"))

    assert result.status == 200
    assert server.count("/flaky") == 3
    assert fake_time.sleeps == [0.5, 1.0]


def test_a_4xx_is_not_retried(server: NewsServer, fetcher: Fetcher,
                              fake_time: FakeTime) -> None:
    with pytest.raises(FetchError) as raised:
        fetcher.fetch(server.url("/404"))

    assert (raised.value.reason, raised.value.status) == ("HTTP 404", 404)
    assert server.count("/404") == 1
    assert fake_time.sleeps == []


def test_a_huge_body_is_cut_at_the_cap_and_the_connection_dropped(
        server: NewsServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError) as raised, _peak_memory() as peak:
        fetcher.fetch(server.url("/huge"))

    assert raised.value.reason == f"body larger than {CAP} bytes"
    assert peak[0] < 4 * CAP  # the cap plus a chunk or so, never the whole body
    assert server.huge.done.wait(10), "the server was still streaming"
    assert server.huge.disconnected.is_set()
    assert server.huge.sent < CAP + 8 * 1024 * 1024  # ≪ 50 MB: the rest was never read
    assert server.count("/huge") == 1  # too large is not transient: no retry


def test_a_declared_length_over_the_cap_is_refused_before_reading(
        server: NewsServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError) as raised:
        fetcher.fetch(server.url("/huge-declared"))

    assert raised.value.reason == f"body larger than {CAP} bytes (Content-Length 52428800)"


def test_a_gzip_body_is_inflated_and_a_gzip_bomb_is_cut_at_the_cap(
        server: NewsServer, fetcher: Fetcher) -> None:
    page = ARTICLE.encode("utf-8")
    gzipped = server.add("/gzipped", gzip.compress(page), headers={"Content-Encoding": "gzip"})
    bomb = server.add("/bomb", gzip.compress(b" " * (20 * CAP)),
                      headers={"Content-Encoding": "gzip"})

    result = fetcher.fetch(gzipped)
    with pytest.raises(FetchError) as raised, _peak_memory() as peak:
        fetcher.fetch(bomb)

    assert result.body == page
    assert len(server.routes["/bomb"].body) < CAP // 10  # small on the wire, 20 MB inflated
    assert raised.value.reason == f"body larger than {CAP} bytes"
    assert peak[0] < 4 * CAP  # inflated in bounded steps, never all 20 MB at once


def test_the_redirect_limit_is_enforced(server: NewsServer, fake_time: FakeTime) -> None:
    with (Fetcher(max_redirects=2, min_interval=0.0, sleep=fake_time.sleep) as fetcher,
          pytest.raises(FetchError) as raised):
        fetcher.fetch(server.url("/loop"))

    assert raised.value.reason.startswith("more than 2 redirects")
    assert server.count("/loop") == 3


def test_requests_to_one_host_wait_for_the_interval_other_hosts_do_not(
        server: NewsServer, fake_time: FakeTime) -> None:
    with Fetcher(min_interval=1.0, clock=fake_time.clock, sleep=fake_time.sleep) as fetcher:
        fetcher.fetch(server.url("/article"))
        fetcher.fetch(server.url("/article", host="localhost"))
        fake_time.now += 0.25
        fetcher.fetch(server.url("/article"))

    assert fake_time.sleeps == [pytest.approx(0.75)]
    assert server.count("/article") == 3


def _feed_server(server: NewsServer, count: int) -> list[dict[str, Any]]:
    records = load_headlines(HEADLINES, count)
    server.add("/feed.xml", rss_feed(records, title="Sample headlines", link=server.url("/")),
               content_type="application/rss+xml; charset=utf-8")
    return records


def test_feed_items_carry_the_dataset_times(server: NewsServer, fetcher: Fetcher) -> None:
    records = _feed_server(server, 30)
    oracle = RssOracle("headlines", [server.url("/feed.xml")], fetcher)

    data = oracle.observe(AT, Blobs())

    items = data["items"]
    assert [i["id"] for i in items] == [r["link"] for r in records]
    assert [i["title"] for i in items] == [r["title"] for r in records]
    assert [i["published"] for i in items] == [
        format_ts(datetime.fromtimestamp(r["timestamp"], UTC)) for r in records]
    assert items[0]["text"] == f"Posted to r/{records[0]['category']} from {records[0]['domain']}."
    assert {i["source"] for i in items} == {"Sample headlines"}
    assert all(i["new"] for i in items)
    assert data["blobs"] == [hashlib.sha256(server.routes["/feed.xml"].body).hexdigest()]


def test_only_items_missing_from_the_last_observation_are_new(
        server: NewsServer, fetcher: Fetcher) -> None:
    _feed_server(server, 30)
    oracle = RssOracle("headlines", [server.url("/feed.xml")], fetcher)
    first = loads(dumps(oracle.observe(AT, Blobs())))  # as the journal gives it back
    records = _feed_server(server, 35)
    last = Observation(oracle="headlines", seq=7, as_of=AT, data=first)

    data = oracle.observe(AT, Blobs(), Recorded(last={"headlines": last}))

    assert len(data["items"]) == 35
    assert [i["id"] for i in data["items"] if i["new"]] == [r["link"] for r in records[30:]]


def test_a_malformed_feed_is_an_error_and_all_failing_raises(
        server: NewsServer, fetcher: Fetcher) -> None:
    _feed_server(server, 3)
    server.add("/broken.xml", b"<rss><channel>\x00\x01 not xml <<<", "application/rss+xml")
    good = RssOracle("headlines", [server.url("/broken.xml"), server.url("/feed.xml")], fetcher)
    bad = RssOracle("headlines", [server.url("/broken.xml"), server.url("/404")], fetcher)

    data = good.observe(AT, Blobs())
    with pytest.raises(OracleError) as raised:
        bad.observe(AT, Blobs())

    assert len(data["items"]) == 3
    [error] = data["errors"]
    assert error["url"] == server.url("/broken.xml")
    assert error["error"].startswith("malformed feed")
    assert str(raised.value).startswith(f"{server.url('/broken.xml')}: malformed feed")
    assert str(raised.value).endswith("(and 1 more failed)")


@dataclass(frozen=True, kw_only=True)
class NoParams:
    __pydantic_config__ = ConfigDict(extra="forbid")


class HoldWithoutNews(Strategy[NoParams, None]):
    """Reads the news oracle; holds when it failed."""

    name = "hold_without_news"
    Params = NoParams

    def symbols(self) -> tuple[str, ...]:
        return ("BTC/USD",)

    def oracles(self) -> tuple[OracleSpec, ...]:
        return (OracleSpec(name="news", kind="web", options={}),)

    def on_wake(self, state: None, ctx: Context) -> tuple[None, Decision]:
        news = ctx.observations["news"]
        if not news.ok:
            return state, Decision(rule="hold", reasons={"news_error": news.error})
        return state, Decision(rule="read", reasons={"items": len((news.data or {})["items"])})


def _run_one_wake(oracle: WebPageOracle, url: str) -> Journal:
    """Run one paper wake of HoldWithoutNews with ``oracle`` as its news, journaled at url."""
    journal = open_journal(url)
    writer = JournalWriter(journal, "reader")
    terms = FundTerms(quote="USD", fee_rate=Decimal("0.001"), slippage_bps=Decimal(0))
    spec = ActorSpec(actor_id="reader", strategy=f"{__name__}:HoldWithoutNews",
                     params=NoParams(), cron="0 * * * *", terms=terms,
                     markets={"BTC/USD": Market.parse("BTC/USD")}, mode="paper")
    clock = SimulatedClock(AT)
    runtime = ActorRuntime(spec=spec, writer=writer, oracles={"news": oracle},
                           adapter=PaperAdapter(fee_rate=terms.fee_rate,
                                                slippage_bps=terms.slippage_bps),
                           clock=clock)
    runtime.open(Decimal(1000))
    runtime.wake(AT)
    writer.flush()
    return journal


def test_the_runtime_records_a_failed_page_and_the_actor_holds(
        server: NewsServer, fetcher: Fetcher, journal_url: str) -> None:
    url = server.url("/404")

    with _run_one_wake(WebPageOracle("news", [url], fetcher), journal_url) as journal:
        entries = list(journal.read("reader"))
    [observation] = [loads(e.payload) for e in entries if e.kind == OBSERVATION]
    [decision] = [loads(e.payload) for e in entries if e.kind == DECISION]
    assert observation["error"] == f"OracleError: {url}: HTTP 404"
    assert "data" not in observation
    assert decision == {"rule": "hold", "reasons": {"news_error": observation["error"]},
                        "intents": 0}
    assert not [e for e in entries if e.kind == ORDER_INTENT]


def test_the_runtime_journals_page_blobs_that_verify(
        server: NewsServer, fetcher: Fetcher, journal_url: str) -> None:
    from fund.verify import verify_stream

    oracle = WebPageOracle("news", [server.url("/article")], fetcher)
    with _run_one_wake(oracle, journal_url) as journal:
        entries = list(journal.read("reader"))
        [observation] = [loads(e.payload) for e in entries if e.kind == OBSERVATION]
        [decision] = [loads(e.payload) for e in entries if e.kind == DECISION]
        [digest] = observation["data"]["blobs"]
        assert journal.get_blob(digest) == server.routes["/article"].body
        assert decision["rule"] == "read"
        assert verify_stream(journal, "reader").ok


@pytest.fixture(scope="module")
def fixture_server() -> Iterator[NewsServer]:
    if not FIXTURES.is_dir():
        pytest.skip(f"needs {FIXTURES} (the team's shared HTML pages), absent here")
    with NewsServer() as news:
        for page in sorted(FIXTURES.glob("*.html")):
            news.add(f"/{page.name}", page.read_bytes(), content_type="text/html")
        yield news


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(README_TRUMP))
def test_real_pages_extract_to_text_with_fewer_mentions(
        fixture_server: NewsServer, name: str) -> None:
    if f"/{name}" not in fixture_server.routes:
        pytest.skip(f"{FIXTURES / name} is absent")
    with Fetcher(min_interval=0.0) as fetcher:
        oracle = WebPageOracle("news", [fixture_server.url(f"/{name}")], fetcher)

        [item] = oracle.observe(AT, Blobs())["items"]

    raw = fixture_server.routes[f"/{name}"].body.decode("utf-8", "replace")
    assert len(item["text"]) > 500
    assert item["title"]
    assert item["text"].lower().count("trump") <= README_TRUMP[name]
    assert raw.lower().count("trump") == README_TRUMP[name]  # the table describes these bytes
