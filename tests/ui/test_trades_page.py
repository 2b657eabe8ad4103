"""The Trades page under Streamlit's AppTest, on a real W1 backtest's journal: what it
shows is checked against the journal's own entries, not against the page's code."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, localcontext
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, run_fund
from tests.ui.test_app_pages import cents, entries, metrics, page

ACTOR = "rebalancer"


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AGENTFUND_CACHE", str(tmp_path / "cache"))
    from fund.monitor import store

    store._MEMO.clear()
    yield
    store._MEMO.clear()


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("w1-trades")
    done = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), "--out", str(out),
                    "--start", "2024-03-01", "--end", "2024-03-21", "--no-report", "--json")
    assert done.returncode == 0, done.stderr
    return out / "journal.db"


def test_trades_page_lists_fills_round_trips_and_pnl(journal: Path) -> None:
    app = page("Trades", journal)
    fills = [p for _, _, p in entries(journal, ACTOR, "Fill")]
    (_, _, end), = entries(journal, ACTOR, "End")
    deposits = [p for _, _, p in entries(journal, ACTOR, "Deposit")]
    shown = metrics(app)
    with localcontext() as exact:
        exact.prec = 200
        change = Decimal(end["nav"]) - sum(Decimal(d["amount"]) for d in deposits)
    sells = [f for f in fills if f["side"] == "sell"]

    assert shown["Fees (USDT)"] == cents(end["fees"])
    assert shown["Net trading P&L (USDT)"] == cents(change)
    assert shown["Round trips"] == f"{len(sells):,}"
    tables = {tuple(d.value.columns)[:3]: d.value for d in app.dataframe}
    fill_table = next(t for k, t in tables.items() if "side" in t.columns)
    assert len(fill_table) == len(fills)
    newest = fills[-1]
    assert fill_table.iloc[0]["notional"] == cents(Decimal(newest["amount"]) *
                                                   Decimal(newest["price"]))
    assert fill_table.iloc[0]["fee"] == cents(newest["fee"])
    trips = next(t for t in tables.values() if "realised P&L" in t.columns)
    assert len(trips) == len(sells)
    per_asset = next(t for t in tables.values() if "net P&L" in t.columns).set_index("asset")
    assert per_asset.loc["total", "net P&L"] == cents(change)
    assert per_asset.loc["total", "fees"] == cents(end["fees"])
    assert len(app.get("plotly_chart")) == 3  # P&L per asset, calendar, price with trades


def test_trades_page_switches_period_and_asset(journal: Path) -> None:
    app = page("Trades", journal)
    assert app.radio(key="t-period").value == "day"
    app.radio(key="t-period").set_value("week").run()
    assert not app.exception
    assert any(" weeks (UTC, weeks from Monday)" in c.value for c in app.caption)
    app.selectbox(key="t-asset").set_value("XRP/USDT").run()
    assert not app.exception
    assert any(c.value.startswith("XRP/USDT: the price observed at each wake")
               for c in app.caption)


def test_overview_shows_the_fees_total(journal: Path) -> None:
    (_, _, end), = entries(journal, ACTOR, "End")
    assert metrics(page("Overview", journal))["Fees (USDT)"] == cents(end["fees"])
