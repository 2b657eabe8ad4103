"""``fund run --once`` with an order book: the daemon records the book, paper fills walk it,
``fund verify`` re-derives them and catches a tampered level; backtests refuse books."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from fund.canonical import loads
from tests.conftest import EXAMPLES, run_fund
from tests.fixtures.tamper import forge, tampering
from tests.integration.fake_exchange import FakeExchange

ACTOR = "rebalancer"
CONFIG = """
[fund]
name = "book-daemon"
initial_cash = 10000
quote = "USDT"
fee_rate = 0.001
slippage_bps = 30

[exchange]
id = "binance"
urls = {{api = "{url}"}}

[actors.rebalancer]
cron = "0 0 1 1 *"
strategy = "rebalance"
[actors.rebalancer.params]
book_depth = 3
[actors.rebalancer.params.weights]
"BTC/USDT" = 0.5
"ETH/USDT" = 0.25
"""


@pytest.fixture
def venue() -> Iterator[FakeExchange]:
    with FakeExchange() as exchange:
        exchange.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        exchange.set_book("BTCUSDT", bids=[("39990", "1")],
                          asks=[("40010", "0.05"), ("40020", "0.03"), ("40100", "1"),
                                ("45000", "10")])
        exchange.set_book("ETHUSDT", bids=[("1999", "10")],
                          asks=[("2001", "0.5"), ("2002.5", "0.5"), ("2003", "0.1")])
        yield exchange


def entries(db: str) -> list[tuple[int, str, dict[str, Any]]]:
    with tampering(db) as conn:
        return [(seq, kind, loads(payload)) for seq, kind, payload in conn.execute(text(
            "SELECT seq, kind, payload FROM journal_entries WHERE process_id = :pid "
            "ORDER BY seq"), {"pid": ACTOR})]


@pytest.fixture
def journal(venue: FakeExchange, tmp_path: Path, store_url: str) -> str:
    cfg, db = tmp_path / "fund.toml", store_url
    cfg.write_text(CONFIG.format(url=venue.url), encoding="utf-8")
    result = run_fund("run", str(cfg), "--journal", db, "--once")
    assert result.returncode == 0, result.stderr
    return db


def test_the_daemon_records_the_book_and_paper_fills_walk_it(journal: str) -> None:
    stream = entries(journal)

    start = next(p for _, k, p in stream if k == "Start")
    assert {"name": "book", "kind": "order_book",
            "options": {"symbols": ["BTC/USDT", "ETH/USDT"], "depth": 3}} in start["oracles"]
    book = next(p for _, k, p in stream if k == "Observation" and p["oracle"] == "book")
    assert book["data"]["books"]["BTC/USDT"]["asks"] == [["40010", "0.05"], ["40020", "0.03"],
                                                         ["40100", "1"]]
    fills = [(p["symbol"], p["fill_id"][-2:], p["amount"], p["price"])
             for _, k, p in stream if k == "Fill"]
    # BTC: 0.125 wanted = 0.05 + 0.03 + 0.045; ETH: 1.25 wanted, the book holds 1.1
    assert fills == [("BTC/USDT", "-1", "0.05", "40010"), ("BTC/USDT", "-2", "0.03", "40020"),
                     ("BTC/USDT", "-3", "0.045", "40100"), ("ETH/USDT", "-1", "0.5", "2001"),
                     ("ETH/USDT", "-2", "0.5", "2002.5"), ("ETH/USDT", "-3", "0.1", "2003")]
    acks = [p for _, k, p in stream if k == "OrderAck"]
    assert [a["status"] for a in acks] == ["filled", "expired"]
    assert (acks[1]["filled"], acks[1]["remaining"]) == ("1.1", "0.15")

    verified = run_fund("verify", journal)
    assert verified.returncode == 0, verified.stderr


def test_verify_fails_at_the_fill_a_tampered_book_level_changes(journal: str) -> None:
    stream = entries(journal)
    seq, book = next((s, p) for s, k, p in stream if k == "Observation" and p["oracle"] == "book")
    book["data"]["books"]["ETH/USDT"]["asks"][2] = ["2003", "0.2"]  # deeper than it was
    forge(journal, ACTOR, seq, book)

    result = run_fund("verify", journal)

    ack = next(s for s, k, p in stream if k == "OrderAck" and p["status"] == "expired")
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"fund: {ACTOR}: FAILED at entry {ack}: exchange "
                                            "event differs from replay"), result.stderr


def test_a_backtest_of_a_fund_reading_books_is_refused_naming_the_setting(
        tmp_path: Path) -> None:
    result = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), "--out", str(tmp_path),
                      "--set", "actors.rebalancer.params.book_depth=5", "--no-report")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "fund: error: actors.rebalancer: oracle 'book' (kind 'order_book') is live only: there are "
        "no historical order books to backtest on; set actors.rebalancer.params.book_depth = 0"]
