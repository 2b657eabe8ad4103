"""The Trades figures of a real W1 backtest reconcile with its journal: realised +
unrealised − fees is the NAV's change (End entry) less the money put in, checked from the
journal's own entries; turnover and calendar returns agree with summary.json."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from fund.canonical import loads
from fund.journal import EntryFilter, open_journal
from fund.performance import calendar_returns
from fund.trades import trades_of
from tests.conftest import EXAMPLES, SAMPLE_PRICES, run_fund

ACTOR = "rebalancer"


@pytest.fixture(scope="module")
def w1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("w1")
    done = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), "--out", str(out),
                    "--start", "2024-03-01", "--end", "2024-03-28", "--no-report", "--json")
    assert done.returncode == 0, done.stderr
    return out


def payloads(journal: Path, *kinds: str) -> list[dict[str, Any]]:
    with open_journal(str(journal)) as store:
        return [loads(e.payload) for e in store.read(ACTOR, EntryFilter(kinds=kinds))]


def test_trading_pnl_reconciles_with_the_nav_change(w1: Path) -> None:
    journal = w1 / "journal.db"
    with open_journal(str(journal)) as store:
        book = trades_of(store.read(ACTOR))
    (end,) = payloads(journal, "End")
    fills = payloads(journal, "Fill")
    with localcontext() as exact:
        exact.prec = 200
        put_in = sum(Decimal(p["amount"]) for p in payloads(journal, "Deposit"))
        change = Decimal(end["nav"]) - put_in
        fees = sum(Decimal(p["fee"]) for p in fills)
        traded = sum(Decimal(p["amount"]) * Decimal(p["price"]) for p in fills)
        sells = sum(1 for p in fills if p["side"] == "sell")

        assert book.round_trips and book.unrealised  # sells happened; positions are held
        assert abs(book.net - change) < Decimal("1e-15"), (book.net, change)
        assert book.fees == fees == Decimal(end["fees"])
        assert book.traded == traded
    assert len(book.fills) == end["fills"] == len(fills)
    assert len(book.round_trips) == sells
    held = {a.symbol: a.held for a in book.assets}
    assert {s: a for s, a in held.items() if a} == \
        {s: Decimal(a) for s, a in end["positions"].items() if Decimal(a)}
    assert 0 <= (book.win_rate or 0) <= 1


def test_turnover_and_calendar_returns_agree_with_the_summary(w1: Path) -> None:
    from agentfund.backtests.trades import trades_data
    from fund.monitor import trading

    summary = json.loads((w1 / "summary.json").read_text())
    snap, book = trades_data(str(w1 / "journal.db"), ACTOR)
    points = snap.points()
    assert trading.turnover_of(book, points.nav) == pytest.approx(summary["turnover"],
                                                                   rel=1e-9)
    assert snap.units.start is not None
    for period in ("day", "week", "month"):
        returns = calendar_returns(points.times, points.unit, snap.units.start, period)
        chained = 1.0
        for _, value in returns:
            chained *= 1 + value
        assert chained - 1 == pytest.approx(summary["total_return"], rel=1e-9)


def test_the_report_section_is_deterministic_and_draws_candles(w1: Path) -> None:
    from agentfund.backtests.trades import trades_section

    journal = str(w1 / "journal.db")
    html = trades_section(journal, ACTOR, prices=SAMPLE_PRICES,
                          timeframe=timedelta(minutes=5))
    assert html == trades_section(journal, ACTOR, prices=SAMPLE_PRICES,
                                  timeframe=timedelta(minutes=5))
    assert html.startswith(f'<section class="trades" id="trades-{ACTOR}">')
    assert html.count('"type":"candlestick"') == 5  # one chart per market, from the files
    assert "plotly.js" not in html[:2000]  # the report includes the library once itself
    sells = sum(1 for p in payloads(w1 / "journal.db", "Fill") if p["side"] == "sell")
    assert f"<h3>Round trips ({sells:,})</h3>" in html
    bare = trades_section(journal, ACTOR)
    assert '"type":"candlestick"' not in bare and '"type":"scatter"' in bare


@pytest.mark.parametrize("altered", [False, True])
def test_one_read_gives_the_trades_of_the_entries_on_the_chain(w1: Path, tmp_path: Path,
                                                              altered: bool) -> None:
    from agentfund.backtests.trades import trades_data

    journal = tmp_path / "journal.db"
    journal.write_bytes((w1 / "journal.db").read_bytes())
    fills = [e for e in _entries(journal) if e[1] == "Fill"]
    if altered:  # a fill in the middle rewritten: the fold stops before it
        seq = fills[len(fills) // 2][0]
        with sqlite3.connect(journal) as db:
            db.execute("UPDATE journal_entries SET payload = payload || ' ' "
                       "WHERE process_id = ? AND seq = ?", (ACTOR, seq))

    snap, book = trades_data(str(journal), ACTOR)

    assert (snap.chain_error is not None) == altered
    with open_journal(str(journal)) as store:
        expected = trades_of(store.read(ACTOR, EntryFilter(last_seq=snap.seq)),
                             snap.ledger.prices if snap.ledger else None)
    assert book == expected
    assert len(book.fills) == (len(fills) // 2 if altered else len(fills))


def _entries(journal: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(journal) as db:
        return db.execute("SELECT seq, kind FROM journal_entries WHERE process_id = ? "
                          "ORDER BY seq", (ACTOR,)).fetchall()
