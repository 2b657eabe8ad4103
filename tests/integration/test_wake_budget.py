"""A wake's time budget: oracles that have not answered when it is spent are recorded as
failed, the wake decides on what it has, and nothing the late call stores leaks in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from agentfund.oracles.base import NOTHING_RECORDED, BlobSink, Oracle, Recorded
from agentfund.oracles.http import Fetcher
from agentfund.oracles.web import WebPageOracle
from fund.actor import ActorSpec
from fund.canonical import loads
from fund.clock import WallClock
from fund.exchange.paper import PaperAdapter
from fund.journal import JournalWriter, open_journal
from fund.markets import Market
from fund.runtime import ActorRuntime
from fund.strategy import FundTerms, parse_params, strategy_class
from fund.verify import verify_stream
from tests.integration.news_server import NewsServer

D = Decimal
BUDGET = timedelta(seconds=1)


class Prices(Oracle):
    """Fixed prices, answered at once (the part of the wake that is on time)."""

    name = "prices"

    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        return {"prices": {"BTC/USDT": {"price": "40000", "time": "2020-01-01T00:00:00.000000Z"}}}


@pytest.fixture
def server() -> Iterator[NewsServer]:
    with NewsServer() as news:
        yield news


def runtime(journal_url: str, news: Oracle) -> tuple[ActorRuntime, JournalWriter]:
    cls = strategy_class("rebalance")
    spec = ActorSpec(actor_id="budget", strategy="rebalance",
                     params=parse_params(cls, {"weights": {"BTC/USDT": 0.5}}), cron="* * * * *",
                     terms=FundTerms(quote="USDT", fee_rate=D(0), slippage_bps=D(0)),
                     markets={"BTC/USDT": Market.parse("BTC/USDT")}, mode="paper")
    writer = JournalWriter(open_journal(journal_url), spec.actor_id)
    run = ActorRuntime(spec=spec, writer=writer, clock=WallClock(), wake_budget=BUDGET,
                       oracles={"prices": Prices(), "page": news},
                       adapter=PaperAdapter(fee_rate=D(0), slippage_bps=D(0),
                                            durable_intents=True))
    run.open(D(10_000))
    return run, writer


def test_an_oracle_past_the_budget_is_recorded_failed_and_the_wake_goes_on(
        server: NewsServer, journal_url: str) -> None:
    fetcher = Fetcher(deadline=20.0, read_timeout=20.0, retries=0)  # its own limits are long
    page = WebPageOracle("page", [server.url("/silent")], fetcher)
    run, writer = runtime(journal_url, page)

    started = time.monotonic()
    run.wake(datetime.now(UTC))
    first = time.monotonic() - started
    run.wake(datetime.now(UTC))  # the first call still hangs: not called again
    writer.flush()

    stream = [(e.kind, loads(e.payload)) for e in writer.journal.read("budget")]
    pages = [p for k, p in stream if k == "Observation" and p["oracle"] == "page"]
    assert first < BUDGET.total_seconds() + 1.5  # a bound, not a benchmark
    assert pages[0]["error"] == ("OracleError: no answer within the wake budget of 1 s")
    assert "has not returned yet" in pages[1]["error"]
    assert [p["rule"] for k, p in stream if k == "Decision"]  # decided on the prices
    assert [k for k, _ in stream].count("Fill") == 1
    report = verify_stream(writer.journal, "budget")
    assert report.ok, report.error
    fetcher.close()


def test_an_oracle_within_the_budget_keeps_its_bodies(server: NewsServer,
                                                      journal_url: str) -> None:
    server.add("/article", "<html><body><h1>Budget</h1><p>" + "On time. " * 40 +
               "</p></body></html>")
    with Fetcher(min_interval=0) as fetcher:
        run, writer = runtime(journal_url, WebPageOracle("page", [server.url("/article")],
                                                         fetcher))
        run.wake(datetime.now(UTC))
        writer.flush()

    page = next(loads(e.payload) for e in writer.journal.read("budget")
                if e.kind == "Observation" and loads(e.payload)["oracle"] == "page")
    assert "error" not in page and page["data"]["blobs"]
    assert all(writer.journal.has_blob(d) for d in page["data"]["blobs"])
    assert verify_stream(writer.journal, "budget").ok
