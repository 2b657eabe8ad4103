"""Backtest = paper = live, proven: the same fund fed the same market writes the same
decisions in ``fund backtest``, in the paper daemon and in the live daemon.

One recorded market (the shipped sample) is run three ways:

* ``fund backtest`` (the engine, on a simulated clock over the history);
* the paper daemon (fund/daemon.py), its clock simulated and stepped through the same fire
  times, its oracles built from the same history;
* the live daemon, trading through the real ccxt client on the fake exchange, which replays
  that history: at each fire time its prices are the history's closes.

Every Decision must be the same text in all three, and every OrderIntent the same payload —
but for the fields that differ by mode by design, named in ``BY_DESIGN``: a live stream's
client order ids are salted with its random instance id, and its journal positions (an
intent's ``decision``) are shifted by the start-up's reconciliation and balance check.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentfund.backtests.engine import plan_backtest, run_backtest
from agentfund.backtests.oracle import HistoricalPrices
from agentfund.oracles.base import OracleError
from agentfund.oracles.exchange_prices import ExchangePrices, public_client
from agentfund.oracles.kinds import Live, build
from fund.canonical import loads, parse_ts
from fund.clock import SimulatedClock
from fund.config import FundConfig, load_config
from fund.daemon import Daemon
from fund.exchange.ccxt_adapter import CcxtAdapter
from fund.journal import open_journal
from fund.messages import DECISION, ORDER_INTENT
from fund.news_sources import FetchOptions, NewsSource
from fund.schedule import cron_trigger, fire_times
from fund.verify import verify_stream
from tests.conftest import EXAMPLES
from tests.fixtures.journals import JournalUrls
from tests.integration.fake_exchange import FakeExchange, Symbol, wall_ms

D = Decimal
BY_DESIGN = {"live": ("client_order_id", "decision", "sentiment_seq")}
"""Fields that differ by mode by design (nothing else may differ): a live intent's client
order id (salted with the stream's instance id) and its decision's journal position, and
the journal position of the sentiment observation a decision cites — positions shift with
the entries a live start-up adds (its reconciliation and its balance check)."""
STEPS = {"BTC/USDT": "0.00001", "ETH/USDT": "0.0001", "SOL/USDT": "0.001", "XRP/USDT": "0.1",
         "DOGE/USDT": "1"}
"""The exchange's lot sizes, which the fund's market rules repeat (as a user sets them)."""
W1_PARITY = ["backtest.start=2024-03-01", "backtest.end=2024-03-07",
             *(f'fund.markets."{s}".amount_step={step}' for s, step in STEPS.items())]
SENTIMENT_PARITY = ["backtest.start=2022-01-17", "backtest.end=2022-01-17",
                    'fund.markets."BTC/USD".amount_step=0.00001', "fund.slippage_bps=0"]


def written(url: str) -> list[tuple[str, dict[str, Any]]]:
    """The decisions (as their text) and intents (as payloads) of the one actor's stream."""
    with open_journal(url) as store:
        [actor] = [p for p in store.processes() if "." not in p]
        report = verify_stream(store, actor)
        assert report.ok, f"{url}: {report.error}"
        return [(e.kind, {"text": e.payload} if e.kind == DECISION else loads(e.payload))
                for e in store.read(actor) if e.kind in (DECISION, ORDER_INTENT)]


def without(entries: list[tuple[str, dict[str, Any]]],
            fields: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """The entries with the named fields left out (of a decision: of its reasons)."""
    kept = []
    for kind, payload in entries:
        if kind == DECISION:
            decision = loads(payload["text"])
            decision["reasons"] = {k: v for k, v in decision["reasons"].items()
                                   if k not in fields}
            kept.append((kind, decision))
        else:
            kept.append((kind, {k: v for k, v in payload.items() if k not in fields}))
    return kept


def backtest(config: FundConfig, url: str) -> None:
    with open_journal(url) as store:
        run_backtest(config, store)


def schedule(config: FundConfig) -> tuple[list[datetime], Any]:
    """The fire times of the one actor over its backtest period, and the backtest's plan."""
    plan = plan_backtest(config)
    spec = config.actors[0]
    period = plan.periods[spec.actor_id]
    return list(fire_times(cron_trigger(spec.cron), period.start, period.end)), plan


def paper_daemon(config: FundConfig, url: str) -> None:
    """The paper daemon on a simulated clock, with oracles over the same history."""
    times, plan = schedule(config)
    actor = config.actors[0].actor_id
    clock = SimulatedClock(times[0] - timedelta(microseconds=1))
    with open_journal(url) as store:
        daemon = Daemon(config, store, config.daemon, clock=clock,
                        sources=plan.history(plan.periods[actor]))
        for moment in times:
            clock.set_time(moment)
            daemon.tick(actor)
        daemon.release()
        assert not daemon.held


@pytest.fixture
def replaying() -> Iterator[tuple[FakeExchange, SimulatedClock]]:
    """The fake exchange on a simulated clock (its market data and trades stamped with it;
    signed requests judged at wall time, when ccxt signs them)."""
    clock = SimulatedClock(datetime(2020, 1, 1).astimezone())
    steps = {**STEPS, "BTC/USD": "0.00001"}
    symbols = {s.replace("/", ""): Symbol(*s.split("/"), step=D(step), tick=D("0.00000001"),
                                         min_qty=D(step), min_notional=D("0.00000001"))
               for s, step in steps.items()}
    with FakeExchange(symbols, clock=lambda: int(clock.now().timestamp() * 1000),
                      signing_clock=wall_ms) as venue:
        yield venue, clock


class ReplayedFeed:
    """An RSS feed on 127.0.0.1 listing, oldest first, the dataset's headlines published
    from the period's start up to the simulated clock's now — as a live feed would have."""

    def __init__(self, items: list[tuple[int, dict[str, Any]]], start: datetime,
                 clock: SimulatedClock) -> None:
        self.items, self.start, self.clock = items, start, clock
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = feed.body()
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/feed.xml"

    def body(self) -> bytes:
        now, start = self.clock.now(), self.start
        listed = "".join(
            f"<item><title>{escape(item['title'])}</title><link>{escape(item['link'])}</link>"
            f'<guid isPermaLink="false">{escape(item["id"])}</guid>'
            f"<pubDate>{format_datetime(parse_ts(item['published']), usegmt=True)}</pubDate>"
            "</item>"
            for _, item in self.items if start <= parse_ts(item["published"]) <= now)
        return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
                "<title>replay</title><link>http://127.0.0.1/</link><description>d"
                f"</description>{listed}</channel></rss>").encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def live_daemon(config: FundConfig, url: str, venue: FakeExchange,
                clock: SimulatedClock, news: str | None = None) -> None:
    """The live daemon through ccxt, against the fake exchange replaying the history (and,
    with ``news``, reading that feed)."""
    times, plan = schedule(config)
    spec = config.actors[0]
    history = HistoricalPrices("history", {s: plan.candles[s] for s in spec.markets},
                               plan.settings.max_price_age)
    clock.set_time(times[0] - timedelta(microseconds=1))
    venue.reset(prices=_closes(history, times[0]),
                balances={spec.terms.quote: config.initial_cash[spec.actor_id]})
    venue.book.fee_rate = spec.terms.fee_rate
    sources = (NewsSource(url=news, kind="feed", fetch=FetchOptions(min_interval=0)),) \
        if news else ()
    settings = replace(config.daemon, exchange_urls={"api": venue.url}, news=sources)
    client = public_client("binance", urls={"api": venue.url}, rate_limit=False)
    adapter = CcxtAdapter(exchange_id="binance", api_key="parity-key", secret="parity-secret",
                          urls={"api": venue.url}, enable_rate_limit=False)
    prices = ExchangePrices("prices", list(spec.markets), client)  # each wake, a fresh quote
    oracles = {spec.actor_id: {**build(spec.declared(), tuple(spec.markets),
                                       Live(settings=settings)), "prices": prices}}
    with open_journal(url) as store:
        daemon = Daemon(config, store, settings, oracles=oracles, clock=clock, venue=adapter)
        for moment in times:
            clock.set_time(moment)
            with venue.lock:
                venue.book.prices.update(_closes(history, moment))
            daemon.tick(spec.actor_id)
        daemon.release()
        assert not daemon.held


def _closes(history: HistoricalPrices, at: datetime) -> dict[str, Decimal | None]:
    """The history's prices at ``at`` (None: no recent close, the exchange quotes none)."""
    try:
        quotes = history.observe(at, None)["prices"]  # type: ignore[arg-type]
    except OracleError:
        quotes = {}
    return {name.replace("/", ""): D(quotes[name]["price"]) if name in quotes else None
            for name in history.symbols}


def test_w1_writes_the_same_decisions_in_backtest_paper_and_live(
        tmp_path: Path, replaying: tuple[FakeExchange, SimulatedClock],
        store_urls: JournalUrls) -> None:
    config = load_config(EXAMPLES / "rebalance.toml", W1_PARITY)
    urls = {mode: store_urls(mode) for mode in ("backtest", "paper", "live")}

    backtest(config, urls["backtest"])
    paper_daemon(config, urls["paper"])
    live_daemon(config, urls["live"], *replaying)

    runs = {mode: written(url) for mode, url in urls.items()}
    decisions = [p for k, p in runs["backtest"] if k == DECISION]
    intents = [p for k, p in runs["backtest"] if k == ORDER_INTENT]
    assert len(decisions) > 100 and len(intents) > 10  # it traded: the test could fail
    assert runs["paper"] == runs["backtest"]
    assert without(runs["live"], BY_DESIGN["live"]) == \
        without(runs["backtest"], BY_DESIGN["live"])
    venue, _ = replaying
    assert len(venue.placed) == len(intents)  # every intent reached the exchange, once


def test_the_sentiment_fund_writes_the_same_decisions_in_backtest_paper_and_live(
        replaying: tuple[FakeExchange, SimulatedClock], store_urls: JournalUrls) -> None:
    config = load_config(EXAMPLES / "sentiment.toml", SENTIMENT_PARITY)
    urls = {mode: store_urls(mode) for mode in ("backtest", "paper", "live")}
    _, plan = schedule(config)
    venue, clock = replaying
    feed = ReplayedFeed(plan.news or [], plan.periods[config.actors[0].actor_id].start, clock)

    backtest(config, urls["backtest"])
    paper_daemon(config, urls["paper"])
    try:
        live_daemon(config, urls["live"], venue, clock, news=feed.url)
    finally:
        feed.close()

    runs = {mode: written(url) for mode, url in urls.items()}
    decisions = [p for k, p in runs["backtest"] if k == DECISION]
    assert len(decisions) > 200 and any("hits" in p["text"] for p in decisions)
    assert [k for k, _ in runs["backtest"]].count(ORDER_INTENT) > 0  # it traded
    assert runs["paper"] == runs["backtest"]
    assert without(runs["live"], BY_DESIGN["live"]) == \
        without(runs["backtest"], BY_DESIGN["live"])
