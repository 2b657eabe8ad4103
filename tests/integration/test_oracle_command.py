"""``fund oracle page|feed``: the live oracles from the command line, on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.conftest import SAMPLE, run_fund
from tests.integration.news_server import NewsServer, load_headlines, rss_feed
from tests.integration.test_web_oracles import ARTICLE

HEADLINES = SAMPLE / "news" / "reddit_headlines_2021-12-31_2022-01-20.json.gz"
STARTUP_SLACK = 5.0  # seconds: a fresh interpreter importing fund, httpx and trafilatura


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


def test_a_server_too_slow_for_the_deadline_is_one_line_exit_1(server: NewsServer) -> None:
    url = server.url("/drip")  # headers, then a byte every 0.5 s: no read ever times out

    started = time.monotonic()
    result = run_fund("oracle", "page", url, "--deadline", "2", timeout=60)
    elapsed = time.monotonic() - started

    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(
        f"fund: oracle failed: {url}: no complete answer within the 2 s deadline (")
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert elapsed < 2 + STARTUP_SLACK  # the deadline, plus starting Python and the imports


@pytest.mark.parametrize("value", ["0", "nan", "soon"])
def test_a_bad_deadline_is_a_usage_error(server: NewsServer, value: str) -> None:
    result = run_fund("oracle", "page", server.url("/article"), f"--deadline={value}")

    assert result.returncode == 2
    assert "--deadline" in result.stderr and "Traceback" not in result.stderr
    assert server.count("/article") == 0


def test_a_page_is_scored_with_the_scorer_named(server: NewsServer) -> None:
    result = run_fund("oracle", "page", server.url("/article"), "--keyword", "Trump",
                      "--json", "--scorer", '{ kind = "wordllama" }')

    assert result.returncode == 0, result.stderr
    sentiment = json.loads(result.stdout)["sentiment"]
    assert sentiment["scorer"]["name"] == "wordllama"
    assert sentiment["keywords"]["Trump"]["mentions"] > 0


@pytest.mark.parametrize(("scorer", "error"), [
    ('{ kind = "gpt" }', "--scorer.kind: unknown scorer kind 'gpt'"),
    ('{ kind = ', "--scorer '{ kind = ': not a TOML inline table"),
])
def test_a_bad_scorer_is_a_usage_error(server: NewsServer, scorer: str, error: str) -> None:
    result = run_fund("oracle", "page", server.url("/article"), "--keyword", "Trump",
                      "--scorer", scorer)

    assert result.returncode == 2 and error in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
