"""A page body recorded as a blob: altering or deleting it is caught by ``fund verify``.

The page is fetched over real HTTP on 127.0.0.1 by the WebPageOracle inside the real
runtime, journaled to SQLite or PostgreSQL, then the stored blob is changed the way an
attacker with write access to the database would change it.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import text

from agentfund.oracles.http import Fetcher
from agentfund.oracles.web import WebPageOracle
from fund.actor import ActorSpec
from fund.canonical import loads
from fund.clock import SimulatedClock
from fund.exchange.paper import PaperAdapter
from fund.journal import JournalWriter, open_journal
from fund.markets import Market
from fund.runtime import ActorRuntime
from fund.strategy import FundTerms
from fund.verify import verify_stream
from tests.fixtures.tamper import replace_in_blob, tampering
from tests.integration.news_server import NewsServer
from tests.integration.test_web_oracles import ARTICLE, AT, NoParams

STRATEGY = "tests.integration.test_web_oracles:HoldWithoutNews"


@pytest.fixture
def journal_db(store_url: str) -> Iterator[tuple[str, int, str]]:
    """Journal one wake that read a page; yield (journal URL, observation seq, blob sha)."""
    db = store_url
    with NewsServer() as server, Fetcher(min_interval=0.0) as fetcher:
        server.add("/article", ARTICLE)
        store = open_journal(db)
        writer = JournalWriter(store, "reader")
        terms = FundTerms(quote="USD", fee_rate=Decimal("0.001"), slippage_bps=Decimal(0))
        spec = ActorSpec(actor_id="reader", strategy=STRATEGY, params=NoParams(),
                         cron="0 * * * *", terms=terms, mode="paper",
                         markets={"BTC/USD": Market.parse("BTC/USD")})
        runtime = ActorRuntime(
            spec=spec, writer=writer, clock=SimulatedClock(AT),
            oracles={"news": WebPageOracle("news", [server.url("/article")], fetcher)},
            adapter=PaperAdapter(fee_rate=terms.fee_rate, slippage_bps=terms.slippage_bps))
        runtime.open(Decimal(1000))
        runtime.wake(AT)
        writer.flush()
        observation = next(e for e in store.read("reader") if e.kind == "Observation")
        [digest] = loads(observation.payload)["data"]["blobs"]
        assert store.get_blob(digest) == (ARTICLE.encode() if isinstance(ARTICLE, str)
                                          else ARTICLE)
        assert verify_stream(store, "reader").ok
        store.close()
    yield db, observation.seq, digest


def verify(db: str) -> tuple[int | None, str]:
    with open_journal(db) as store:
        report = verify_stream(store, "reader")
    return report.seq, report.error or ""


def test_an_altered_page_body_is_caught(journal_db: tuple[str, int, str]) -> None:
    db, seq, digest = journal_db
    with tampering(db) as conn:
        assert replace_in_blob(conn, digest, "Trump", "Biden") == 1

    assert verify(db) == (seq, f"entry {seq}: blob {digest} was altered")


def test_a_deleted_page_body_is_caught(journal_db: tuple[str, int, str]) -> None:
    db, seq, digest = journal_db
    with tampering(db) as conn:
        conn.execute(text("DELETE FROM journal_blobs WHERE digest = :digest"),
                     {"digest": digest})

    assert verify(db) == (seq, f"entry {seq}: blob {digest} is missing")
