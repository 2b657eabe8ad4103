"""``fund run`` of the news-sentiment fund: live feeds on 127.0.0.1, prices from the fake
exchange (the real ccxt client), then ``fund verify`` scoring the recorded news again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fund.canonical import loads
from fund.journal import open_journal
from tests.conftest import EXAMPLES, run_fund
from tests.integration.fake_exchange import FakeExchange
from tests.integration.news_server import NewsServer, refused_port, rss_feed

EXAMPLE = EXAMPLES / "sentiment-daemon.toml"
NOW = int(datetime.now(UTC).timestamp())
HEADLINES = [
    {"title": "Bitcoin climbs as investors cheer strong ETF inflows",
     "link": "https://news.test/1", "timestamp": NOW - 3600, "domain": "news.test"},
    {"title": "BTC rally lifts the crypto market to its best week in months",
     "link": "https://news.test/2", "timestamp": NOW - 1800, "domain": "news.test"},
    {"title": "Stocks close flat in quiet trading",
     "link": "https://news.test/3", "timestamp": NOW - 900, "domain": "news.test"},
]
LATER = {"title": "Bitcoin slumps as regulators warn of awful losses",
         "link": "https://news.test/4", "timestamp": NOW - 60, "domain": "news.test"}


@pytest.fixture
def venue() -> Iterator[FakeExchange]:
    with FakeExchange() as exchange:
        exchange.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        yield exchange


@pytest.fixture
def news() -> Iterator[NewsServer]:
    with NewsServer() as server:
        yield server


def serve(news: NewsServer, records: list[dict[str, Any]]) -> str:
    return news.add("/feed.xml", rss_feed(records, title="Test wire", link=news.url("/")),
                    content_type="application/rss+xml; charset=utf-8")


def run_once(db: str, venue: FakeExchange, feeds: list[str]
             ) -> tuple[int, str]:
    """``fund run examples/sentiment-daemon.toml --once`` with test feeds and exchange."""
    listed = ", ".join(f'"{url}"' for url in feeds)
    result = run_fund("run", str(EXAMPLE), "--journal", db, "--once",
                      "--set", f'exchange.urls={{api = "{venue.url}"}}',
                      "--set", f"daemon.news.feeds=[{listed}]", "--set", "daemon.news.pages=[]",
                      "--set", "daemon.news.min_interval_s=0", "--set", "daemon.news.retries=0")
    return result.returncode, result.stderr


def stream(db: str) -> list[tuple[str, dict[str, Any]]]:
    with open_journal(db) as store:
        return [(e.kind, loads(e.payload)) for e in store.read("mentions")]


def wakes(db: str) -> list[dict[str, Any]]:
    """Per wake: its observations by oracle name and its decision."""
    found: list[dict[str, Any]] = []
    for kind, payload in stream(db):
        if kind == "Wake":
            found.append({})
        elif kind == "Observation":
            found[-1][payload["oracle"]] = payload
        elif kind == "Decision":
            found[-1]["decision"] = payload
    return found


def test_two_runs_record_only_new_items_and_verify_scores_them_again(
        venue: FakeExchange, news: NewsServer, store_url: str) -> None:
    db = store_url
    feed = serve(news, HEADLINES)

    first = run_once(db, venue, [feed])
    serve(news, [LATER, *HEADLINES])
    second = run_once(db, venue, [feed])
    verified = run_fund("verify", db)

    assert first[0] == 0 and second[0] == 0, first[1] + second[1]
    one, two = wakes(db)
    assert [i["title"] for i in one["news"]["data"]["items"]] == [h["title"] for h in HEADLINES]
    assert [i["title"] for i in two["news"]["data"]["items"]] == [LATER["title"]]
    assert one["sentiment"]["data"]["items"] == 3 and two["sentiment"]["data"]["items"] == 1
    bought = one["decision"]
    assert bought["rule"] == "buy BTC/USDT"
    assert [h["sentence"] for h in bought["reasons"]["BTC/USDT"]["hits"]] == [
        HEADLINES[0]["title"], HEADLINES[1]["title"], HEADLINES[1]["title"]]  # Bitcoin, Crypto
    [hit] = two["decision"]["reasons"]["BTC/USDT"]["hits"]
    assert hit["sentence"] == LATER["title"] and hit["item"] == LATER["link"] and hit["score"] < 0
    fills = [p for kind, p in stream(db) if kind == "Fill"]
    assert fills and fills[0]["price"] == "40000"
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "mentions: verified" in verified.stdout


@pytest.mark.parametrize("fault", ["unreachable", "garbage"])
def test_a_feed_that_fails_is_an_error_observation_and_the_wake_completes(
        venue: FakeExchange, news: NewsServer, fault: str, store_url: str) -> None:
    db = store_url
    feed = (f"http://127.0.0.1:{refused_port()}/rss.xml" if fault == "unreachable" else
            news.add("/feed.xml", b"<rss><channel>\x00\x01 not xml <<<",
                     content_type="application/rss+xml"))

    code, stderr = run_once(db, venue, [feed])

    assert code == 0, stderr
    [wake] = wakes(db)
    reason = "connection refused" if fault == "unreachable" else "malformed feed"
    assert wake["news"]["error"].startswith(f"OracleError: {feed}: {reason}")
    assert "has no data" in wake["sentiment"]["error"]
    assert wake["decision"]["rule"] == "hold: no news"
    assert "price" in str(wake["prices"]["data"])
    assert run_fund("verify", db).returncode == 0


def test_one_failing_feed_leaves_the_others_items(
        venue: FakeExchange, news: NewsServer, store_url: str) -> None:
    db = store_url
    refused = f"http://127.0.0.1:{refused_port()}/rss.xml"

    code, stderr = run_once(db, venue, [refused, serve(news, HEADLINES)])

    assert code == 0, stderr
    [wake] = wakes(db)
    assert len(wake["news"]["data"]["items"]) == 3
    assert wake["news"]["data"]["errors"] == [{"url": refused, "error": "connection refused"}]
    assert wake["decision"]["rule"] == "buy BTC/USDT"


def test_a_news_strategy_without_news_sources_is_refused_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "fund.toml"
    text = EXAMPLE.read_text(encoding="utf-8")
    start, end = text.index("[daemon.news]"), text.index("[risk]")
    config.write_text(text[:start] + text[end:], encoding="utf-8")

    result = run_fund("run", str(config), "--journal", str(tmp_path / "j.db"), "--once")

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "fund: error: actors.mentions: oracle 'news': it reads news: list feeds or pages "
        "under [daemon.news]")
