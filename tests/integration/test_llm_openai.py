"""The daemon's sentiment fund scoring through an OpenAI-compatible server: what a server
that is down, an answer that is not a score and a refused request do to the journal.

A real llama.cpp server is tested in test_llm_llama.py; the answers here are the ones a
real model cannot be made to give on purpose, so a tiny fake server on 127.0.0.1 gives
them (tests/integration/fake_openai.py). Feeds and the exchange are the loopback ones of
test_daemon_news.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from fund.canonical import loads
from fund.journal import open_journal
from tests.conftest import EXAMPLES, run_fund
from tests.integration.fake_exchange import FakeExchange
from tests.integration.fake_openai import FakeOpenAI
from tests.integration.news_server import NewsServer, refused_port, rss_feed
from tests.integration.test_daemon_news import HEADLINES

EXAMPLE = EXAMPLES / "sentiment-daemon.toml"


@pytest.fixture
def venue() -> Iterator[FakeExchange]:
    with FakeExchange() as exchange:
        exchange.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        yield exchange


@pytest.fixture
def feed() -> Iterator[str]:
    with NewsServer() as server:
        yield server.add("/feed.xml", rss_feed(HEADLINES, title="Test wire",
                                               link=server.url("/")),
                         content_type="application/rss+xml; charset=utf-8")


def table(**options: Any) -> str:
    """A TOML inline table (strings quoted, booleans lower case)."""
    return "{ " + ", ".join(f"{key} = {json.dumps(value)}" for key, value in options.items()) \
        + " }"


def run_once(db: str, venue: FakeExchange, feed: str, scorer: str) -> tuple[int, str]:
    """``fund run examples/sentiment-daemon.toml --once`` with this scorer."""
    result = run_fund("run", str(EXAMPLE), "--journal", db, "--once",
                      "--set", f'exchange.urls={{api = "{venue.url}"}}',
                      "--set", f'daemon.news.feeds=["{feed}"]', "--set", "daemon.news.pages=[]",
                      "--set", "daemon.news.min_interval_s=0", "--set", "daemon.news.retries=0",
                      "--set", f"actors.mentions.params.scorer={scorer}")
    return result.returncode, result.stderr


def wake(db: str) -> dict[str, Any]:
    """The one wake's observations by oracle name, and its decision."""
    found: dict[str, Any] = {}
    with open_journal(db) as store:
        for entry in store.read("mentions"):
            payload = loads(entry.payload)
            if entry.kind == "Observation":
                found[payload["oracle"]] = {**payload, "seq": entry.seq}
            elif entry.kind == "Decision":
                found["decision"] = payload
    return found


def blob(db: str, digest: str) -> bytes:
    with open_journal(db) as store:
        return store.get_blob(digest)


def answers(user_message: str) -> str | int:
    """Not a score for Bitcoin headlines, a refusal for the BTC rally, else a score."""
    if "Bitcoin" in user_message:
        return "I think this is rather good news!"
    if "BTC rally" in user_message:
        return 400
    return '{"score": 0.5}'


def test_an_answer_that_is_not_a_score_is_an_error_for_that_text_only(
        venue: FakeExchange, feed: str, store_url: str) -> None:
    with FakeOpenAI(answers) as server:
        code, stderr = run_once(store_url, venue, feed, table(
            kind="openai", url=server.url, model="fake", retries=0))
        rescored = run_fund("verify", store_url, "--rescore")
    verified = run_fund("verify", store_url)  # the server gone: verify never asks it

    assert code == 0, stderr
    sentiment = wake(store_url)["sentiment"]["data"]
    calls = {call["text"]: call for call in sentiment["calls"]}
    bad, refused = calls[HEADLINES[0]["title"]], calls[HEADLINES[1]["title"]]
    assert bad["failed"] == "parse" and "score" not in bad
    assert bad["error"] == "unparsable completion 'I think this is rather good news!'"
    assert json.loads(blob(store_url, bad["completion"]))["choices"][0]["message"][
        "content"] == "I think this is rather good news!"
    assert refused["failed"] == "answer" and refused["error"].startswith("HTTP 400: ")
    assert sentiment["keywords"]["Bitcoin"] == {"mentions": 0, "sentences": 0, "score_sum": 0.0,
                                                "mean": 0.0, "hits": []}
    prompt = json.loads(blob(store_url, bad["prompt"]))
    assert prompt["model"] == "fake" and prompt["temperature"] == 0.0
    assert HEADLINES[0]["title"] in prompt["messages"][-1]["content"]
    assert set(sentiment["blobs"]) == {d for c in calls.values()
                                       for d in (c["prompt"], c["completion"])}
    assert json.loads(sentiment["scorer"]["detail"])["served"] == {"id": "fake",
                                                                  "owned_by": "tests"}
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert rescored.returncode == 0, rescored.stdout + rescored.stderr
    assert "mentions: sentiment: rescored 2 texts with openai v1: 2 of 2 scores agree " \
           "(100.0 %)" in rescored.stdout


def test_a_server_that_is_down_is_an_observation_error_and_the_fund_holds(
        venue: FakeExchange, feed: str, store_url: str) -> None:
    url = f"http://127.0.0.1:{refused_port()}/v1"

    code, stderr = run_once(store_url, venue, feed, table(
        kind="openai", url=url, model="any", retries=1, backoff_s=0.01))

    assert code == 0, stderr
    seen = wake(store_url)
    assert seen["sentiment"]["error"] == (f"OracleError: {url}/models: connection refused "
                                          "(after 2 attempts)")
    assert seen["decision"]["rule"] == "hold: no news"
    assert run_fund("verify", store_url).returncode == 0
    rescored = run_fund("verify", store_url, "--rescore")
    assert rescored.returncode == 1 and "cannot rescore" in rescored.stderr


def test_a_server_not_on_this_machine_needs_allow_remote(
        venue: FakeExchange, feed: str, store_url: str) -> None:
    code, stderr = run_once(store_url, venue, feed, table(
        kind="openai", url="http://192.0.2.1:8080/v1", model="any"))

    assert code == 2
    assert stderr.strip().count("\n") == 0
    assert "scorer.url: http://192.0.2.1:8080/v1 is not on this machine (set " \
           "scorer.allow_remote = true" in stderr
