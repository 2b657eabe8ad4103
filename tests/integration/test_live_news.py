"""The daemon's combined news oracle against real HTTP on 127.0.0.1: feeds, pages, faults."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from agentfund.oracles.base import OracleError, Recorded
from agentfund.oracles.http import Fetcher
from agentfund.oracles.mentions import Keyword
from agentfund.oracles.news import LiveNews, Source, item_key, live_news
from agentfund.oracles.rss import RssOracle
from agentfund.oracles.scoring import VaderScorer
from agentfund.oracles.sentiment import SentimentOracle
from fund.canonical import dumps, format_ts, loads
from fund.messages import Observation
from fund.news_sources import FetchOptions, NewsSource
from tests.conftest import SHARED, needs_shared
from tests.integration.news_server import NewsServer, load_headlines, refused_port, rss_feed
from tests.integration.test_web_oracles import ARTICLE, HEADLINES, Blobs

AT = datetime(2022, 1, 20, 12, 0, tzinfo=UTC)
FIXTURES = SHARED / "html" / "trafilatura_fixtures"
GARBAGE = b"<rss><channel>\x00\x01 not xml <<<"


@pytest.fixture
def server() -> Iterator[NewsServer]:
    with NewsServer() as news:
        news.add("/article", ARTICLE)
        yield news


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(connect_timeout=2.0, read_timeout=2.0, retries=0, min_interval=0.0) as client:
        yield client


def serve_feed(server: NewsServer, path: str, records: list[dict[str, Any]]) -> str:
    return server.add(path, rss_feed(records, title=f"Feed {path}", link=server.url("/")),
                      content_type="application/rss+xml; charset=utf-8")


def oracle(fetcher: Fetcher, *sources: tuple[Literal["feed", "page"], str]) -> LiveNews:
    return LiveNews("news", [Source(url, kind, fetcher) for kind, url in sources])


def after(data: dict[str, Any]) -> Recorded:
    """What the next wake reads: this observation as the journal gives it back."""
    return Recorded(last={"news": Observation(oracle="news", seq=3, as_of=AT,
                                              data=loads(dumps(data)))})


def test_the_first_observation_lists_every_item_with_the_historical_fields(
        server: NewsServer, fetcher: Fetcher) -> None:
    records = load_headlines(HEADLINES, 8)
    feed = serve_feed(server, "/a.xml", records[:5])
    news = oracle(fetcher, ("feed", feed), ("page", server.url("/article")))

    data = news.observe(AT, Blobs())

    titles = [item["title"] for item in data["items"]]
    assert titles == [r["title"] for r in records[:5]] + [
        "Voting bill stalls as Biden and Trump trade blame"]
    for item in data["items"]:
        assert {"id", "title", "text", "link", "published", "source"} <= set(item)
        assert "new" not in item  # every listed item is new
    assert data["errors"] == []
    assert data["seen"][feed] == [item_key("feed", {"id": r["link"]}) for r in records[:5]]
    assert len(data["seen"][server.url("/article")]) == 1
    bodies = [server.routes["/a.xml"].body, server.routes["/article"].body]
    assert data["blobs"] == [hashlib.sha256(body).hexdigest() for body in bodies]
    assert data["parser"]["name"] == "feedparser" and data["extractor"]["name"] == "trafilatura"
    assert loads(dumps(data)) == data


def test_only_items_no_source_listed_last_time_are_new(
        server: NewsServer, fetcher: Fetcher) -> None:
    records = load_headlines(HEADLINES, 12)
    feed_a = serve_feed(server, "/a.xml", records[:5])
    feed_b = serve_feed(server, "/b.xml", records[3:7])  # overlaps a
    news = oracle(fetcher, ("feed", feed_a), ("feed", feed_b), ("page", server.url("/article")))
    first = news.observe(AT, Blobs())
    serve_feed(server, "/a.xml", records[:6])  # 5 moved from b to a: seen, not new
    serve_feed(server, "/b.xml", [records[6], records[9], records[7]])

    second = news.observe(AT, Blobs(), after(first))

    assert [i["id"] for i in first["items"]][:7] == [r["link"] for r in records[:7]]
    assert len(first["items"]) == 8  # and the page
    assert [i["id"] for i in second["items"]] == [records[9]["link"], records[7]["link"]]
    assert second["seen"][feed_b] == [item_key("feed", {"id": r["link"]})
                                      for r in (records[6], records[9], records[7])]


def test_a_page_is_new_again_when_its_article_changes(
        server: NewsServer, fetcher: Fetcher) -> None:
    news = oracle(fetcher, ("page", server.url("/article")))
    first = news.observe(AT, Blobs())
    same = news.observe(AT, Blobs(), after(first))
    server.add("/article", ARTICLE.replace("one by one", "for hours, one by one"))

    changed = news.observe(AT, Blobs(), after(same))

    assert len(first["items"]) == 1 and same["items"] == []
    [item] = changed["items"]
    assert "for hours, one by one" in item["text"]
    assert item["id"] == first["items"][0]["id"]  # the same page, with other text


FAULTS = [("refused", "connection refused"), ("garbage", "malformed feed"), ("404", "HTTP 404")]


@pytest.mark.parametrize(("fault", "reason"), FAULTS, ids=[f for f, _ in FAULTS])
def test_a_failing_source_is_an_error_and_the_others_items_are_kept(
        server: NewsServer, fetcher: Fetcher, fault: str, reason: str) -> None:
    records = load_headlines(HEADLINES, 3)
    good = serve_feed(server, "/good.xml", records)
    bad = {"refused": f"http://127.0.0.1:{refused_port()}/feed.xml",
           "garbage": server.add("/garbage.xml", GARBAGE, content_type="application/rss+xml"),
           "404": server.url("/404")}[fault]
    news = oracle(fetcher, ("feed", bad), ("feed", good))

    data = news.observe(AT, Blobs())

    assert [i["id"] for i in data["items"]] == [r["link"] for r in records]
    [error] = data["errors"]
    assert error["url"] == bad and error["error"].startswith(reason), error
    assert data["seen"][bad] == []
    if fault == "404":  # the error page is kept as evidence, like the single-source oracles do
        page = hashlib.sha256(b"<html><body><h1>Error 404</h1></body></html>").hexdigest()
        assert page in data["blobs"]


def test_a_failed_source_keeps_its_seen_items_so_they_are_not_new_again(
        server: NewsServer, fetcher: Fetcher) -> None:
    records = load_headlines(HEADLINES, 6)
    feed = serve_feed(server, "/a.xml", records[:3])
    other = serve_feed(server, "/b.xml", records[5:6])
    news = oracle(fetcher, ("feed", feed), ("feed", other))
    first = news.observe(AT, Blobs())
    server.add("/a.xml", GARBAGE, content_type="application/rss+xml")
    broken = news.observe(AT, Blobs(), after(first))
    serve_feed(server, "/a.xml", records[:4])

    mended = news.observe(AT, Blobs(), after(broken))

    assert broken["items"] == [] and broken["seen"][feed] == first["seen"][feed]
    assert [i["id"] for i in mended["items"]] == [records[3]["link"]]


def test_every_source_failing_raises_with_the_first_reason(
        server: NewsServer, fetcher: Fetcher) -> None:
    garbage = server.add("/garbage.xml", GARBAGE, content_type="application/rss+xml")
    refused = f"http://127.0.0.1:{refused_port()}/rss"
    news = oracle(fetcher, ("feed", garbage), ("feed", refused))

    with pytest.raises(OracleError) as raised:
        news.observe(AT, Blobs())

    assert str(raised.value).startswith(f"{garbage}: malformed feed")
    assert str(raised.value).endswith("(and 1 more failed)")


def test_an_item_claiming_a_time_after_the_wake_is_recorded_without_it(
        server: NewsServer, fetcher: Fetcher) -> None:
    later = AT + timedelta(hours=3)
    records = load_headlines(HEADLINES, 2)
    records[1] = {**records[1], "timestamp": int(later.timestamp())}
    news = oracle(fetcher, ("feed", serve_feed(server, "/a.xml", records)))

    first, second = news.observe(AT, Blobs())["items"]

    assert first["published"] == format_ts(datetime.fromtimestamp(records[0]["timestamp"], UTC))
    assert "published_claimed" not in first
    assert second["published"] is None and second["published_claimed"] == format_ts(later)


def test_sentiment_scores_the_new_items_of_the_combined_news(
        server: NewsServer, fetcher: Fetcher) -> None:
    records = load_headlines(HEADLINES, 3)
    news = oracle(fetcher, ("feed", serve_feed(server, "/a.xml", records)),
                  ("page", server.url("/article")))
    first = news.observe(AT, Blobs())
    record = {"title": "Biden hails a wonderful, historic deal", "link": "https://x.test/1",
              "timestamp": int(AT.timestamp()) - 60, "domain": "x.test"}
    serve_feed(server, "/a.xml", [*records, record])
    second = news.observe(AT, Blobs(), after(first))
    sentiment = SentimentOracle("sentiment", "news", [Keyword("Biden")], VaderScorer())

    scored = [sentiment.observe(AT, Blobs(), Recorded(this_wake={"news": Observation(
        oracle="news", seq=2, as_of=AT, data=loads(dumps(data)))})) for data in (first, second)]

    assert scored[0]["items"] == 4 and scored[0]["keywords"]["Biden"]["mentions"] >= 3
    assert scored[1]["items"] == 1
    [hit] = scored[1]["keywords"]["Biden"]["hits"]
    assert hit["sentence"] == record["title"] and hit["item"] == record["link"]
    assert hit["score"] > 0.5


def test_sentiment_over_an_rss_oracle_skips_the_items_it_flags_as_seen(
        server: NewsServer, fetcher: Fetcher) -> None:
    records = load_headlines(HEADLINES, 3)
    record = {"title": "Biden hails a wonderful deal", "link": "https://x.test/2",
              "timestamp": int(AT.timestamp()) - 60, "domain": "x.test"}
    serve_feed(server, "/a.xml", [{**records[0], "title": "Biden says no"}])
    rss = RssOracle("news", [server.url("/a.xml")], fetcher)
    first = loads(dumps(rss.observe(AT, Blobs())))
    serve_feed(server, "/a.xml", [{**records[0], "title": "Biden says no"}, record])
    last = Observation(oracle="news", seq=2, as_of=AT, data=first)
    second = loads(dumps(rss.observe(AT, Blobs(), Recorded(last={"news": last}))))
    sentiment = SentimentOracle("sentiment", "news", [Keyword("Biden")], VaderScorer())

    scored = sentiment.observe(AT, Blobs(), Recorded(this_wake={"news": Observation(
        oracle="news", seq=3, as_of=AT, data=second)}))

    assert [i["new"] for i in second["items"]] == [False, True]
    assert scored["items"] == 1
    assert [h["sentence"] for h in scored["keywords"]["Biden"]["hits"]] == [record["title"]]


def test_configured_options_reach_the_server_and_alike_sources_share_a_fetcher(
        server: NewsServer) -> None:
    feed = serve_feed(server, "/a.xml", load_headlines(HEADLINES, 2))
    fast = FetchOptions(user_agent="fund-test/1.0", min_interval=0.0, retries=0)
    news = live_news("news", [NewsSource(url=feed, kind="feed", fetch=fast),
                              NewsSource(url=server.url("/article"), kind="page", fetch=fast),
                              NewsSource(url=server.url("/redirect"), kind="page",
                                         fetch=FetchOptions(max_redirects=0, min_interval=0.0,
                                                            retries=0))])

    data = news.observe(AT, Blobs())

    assert news.sources[0].fetcher is news.sources[1].fetcher
    assert news.sources[2].fetcher is not news.sources[0].fetcher
    assert server.user_agents[:2] == ["fund-test/1.0", "fund-test/1.0"]
    redirect = f"more than 0 redirects (last to {server.url('/article')})"
    assert data["errors"] == [{"url": server.url("/redirect"), "error": redirect}]
    assert len(data["items"]) == 3


@pytest.mark.shared
@needs_shared("html/trafilatura_fixtures")
def test_real_pages_become_items_once(fetcher: Fetcher) -> None:
    pages = sorted(FIXTURES.glob("*.html"))[:4]
    with NewsServer() as pages_server:
        urls = [pages_server.add(f"/{p.name}", p.read_bytes(), content_type="text/html")
                for p in pages]
        news = LiveNews("news", [Source(url, "page", fetcher) for url in urls])

        first = news.observe(AT, Blobs())
        second = news.observe(AT, Blobs(), after(first))

    assert [item["url"] for item in first["items"]] == urls
    assert all(len(item["text"]) > 500 and item["title"] for item in first["items"])
    assert all(item["published"] is None or item["published"] <= format_ts(AT)
               for item in first["items"])
    assert second["items"] == [] and second["seen"] == first["seen"]

