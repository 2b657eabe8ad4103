"""``fund oracle page|feed``: the live oracles from the command line, on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import SAMPLE, run_fund
from tests.integration.news_server import NewsServer, load_headlines, rss_feed
from tests.integration.test_web_oracles import ARTICLE

HEADLINES = SAMPLE / "news" / "reddit_headlines_2021-12-31_2022-01-20.json.gz"


@pytest.fixture
def server() -> Iterator[NewsServer]:
    with NewsServer() as news:
        news.add("/article", ARTICLE)
        news.add("/feed.xml", rss_feed(load_headlines(HEADLINES, 25), title="Headlines",
                                       link="http://127.0.0.1/"),
                 content_type="application/rss+xml")
        yield news


def test_a_page_is_extracted_and_its_keywords_scored(server: NewsServer) -> None:
    result = run_fund("oracle", "page", server.url("/article"), "--keyword",
                      "Trump=Donald Trump", "--json")

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    [item] = data["news"]["items"]
    trump = data["sentiment"]["keywords"]["Trump"]
    assert item["text"] and trump["mentions"] >= 1
    assert trump["mentions"] == sum(h["count"] for h in trump["hits"])


def test_a_feed_lists_its_items(server: NewsServer) -> None:
    result = run_fund("oracle", "feed", server.url("/feed.xml"))

    assert result.returncode == 0, result.stderr
    assert "25 item(s)" in result.stdout


def test_a_failing_page_is_one_line_exit_1(server: NewsServer) -> None:
    result = run_fund("oracle", "page", server.url("/404"))

    assert result.returncode == 1
    assert result.stderr.strip() == f"fund: oracle failed: {server.url('/404')}: HTTP 404"
