"""Every page of the monitoring UI under Streamlit's AppTest, on journals of real backtests.

Figures shown are checked against the journal itself (its End entry, its entries), or
against an independent computation, never against the UI's own code.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from fund import display
from fund.canonical import loads
from fund.journal import EntryFilter, open_journal
from tests.conftest import EXAMPLES, ROOT, run_fund

APP = str(ROOT / "app.py")
WINDOW = ("--start", "2024-03-01", "--end", "2024-03-21", "--no-report", "--json")


def cents(value: Decimal | str) -> str:
    return f"{Decimal(value).quantize(Decimal('0.01')):,}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real rebalance backtests (different bands) and a sentiment one."""
    root = tmp_path_factory.mktemp("runs")
    for name, extra in (("band-1pct", ()), ("band-5pct", ("--set",
                                                          "actors.rebalancer.params.band=0.05"))):
        done = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), "--out", str(root / name),
                        *WINDOW, *extra)
        assert done.returncode == 0, done.stderr
    done = run_fund("backtest", str(EXAMPLES / "sentiment.toml"), "--out",
                    str(root / "sentiment"), "--start", "2022-01-16", "--end", "2022-01-18",
                    "--no-report", "--json")
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AGENTFUND_CACHE", str(tmp_path / "cache"))
    from fund.monitor import store

    store._MEMO.clear()
    yield
    store._MEMO.clear()


def page(name: str, journal: Path | str, runs: Path | None = None, **params: str) -> AppTest:
    """Run the app on one page; fail on any exception the page raised."""
    app = AppTest.from_file(APP, default_timeout=120)
    app.query_params["page"] = name
    for key, value in params.items():
        app.query_params[key] = value
    import os

    os.environ["AGENTFUND_JOURNAL"] = str(journal)
    os.environ["AGENTFUND_RUNS"] = str(runs or Path(journal).parent.parent)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def entries(journal: Path, actor: str, *kinds: str) -> list[tuple[int, str, dict[str, Any]]]:
    with open_journal(str(journal)) as store:
        return [(e.seq, e.kind, loads(e.payload))
                for e in store.read(actor, EntryFilter(kinds=kinds))]


def end_wake(journal: Path) -> str:
    """The last Wake's scheduled time as the overview shows it (wakes are on the hour)."""
    (*_, (_, _, last)) = entries(journal, "rebalancer", "Wake")
    return str(last["scheduled"])[:16].replace("T", " ")


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_overview_shows_the_journals_own_figures(runs: Path) -> None:
    journal = runs / "band-1pct" / "journal.db"
    app = page("Overview", journal)
    shown = metrics(app)
    (_, _, end), = entries(journal, "rebalancer", "End")
    summary = json.loads((runs / "band-1pct" / "summary.json").read_text())

    assert shown["NAV (USDT)"] == cents(end["nav"])
    assert shown["Fills"] == str(end["fills"]) == str(len(entries(journal, "rebalancer",
                                                                     "Fill")))
    assert shown["Max drawdown"] == f"{summary['max_drawdown'] * 100:.2f} %"
    assert shown["Return (time-weighted)"] == \
        f"{(Decimal(end['nav']) / Decimal(10000) - 1) * 100:.2f} %"  # no flow: the NAV's
    assert shown["Next wake (UTC)"] == "finished"
    assert shown["Last wake (UTC)"] == end_wake(journal)
    badge = app.success[0].value
    assert summary["head_hash"][:16] in badge and "intact" in badge
    positions = app.dataframe[0].value
    assert set(positions["asset"]) == {"USDT (cash)", *[s for s, a in end["positions"].items()
                                                         if Decimal(a)]}


def test_charts_draw_nav_allocation_benchmark_and_sentiment(runs: Path) -> None:
    rebalance = page("Charts", runs / "band-1pct" / "journal.db")
    sentiment = page("Charts", runs / "sentiment" / "journal.db")

    assert len(rebalance.get("plotly_chart")) == 3
    assert len(sentiment.get("plotly_chart")) == 4  # plus mentions and sentiment
    fills = len(entries(runs / "band-1pct" / "journal.db", "rebalancer", "Fill"))
    assert any(f"{fills:,} fills marked" in c.value for c in rebalance.caption)


def test_decisions_are_paged_newest_first_and_searchable(runs: Path) -> None:
    journal = runs / "band-1pct" / "journal.db"
    decisions = entries(journal, "rebalancer", "Decision")
    app = page("Decisions", journal)
    table = app.dataframe[0].value

    assert list(table["entry"]) == [seq for seq, _, _ in decisions][::-1][:50]
    app.button(key="d-older").click().run()
    assert list(app.dataframe[0].value["entry"]) == [s for s, _, _ in decisions][::-1][50:100]

    app.checkbox(key="d-orders").check().run()
    with_orders = [seq for seq, _, p in decisions if p["intents"]][::-1][:50]
    assert list(app.dataframe[0].value["entry"]) == with_orders


def test_opening_a_decision_shows_its_inputs_orders_and_fills(runs: Path) -> None:
    journal = runs / "band-1pct" / "journal.db"
    seq, _, decision = next(d for d in entries(journal, "rebalancer", "Decision")
                            if d[2]["intents"])
    app = page("Decisions", journal, decision=str(seq))
    text = " ".join(m.value for m in app.markdown)
    fills = [p for _, _, p in entries(journal, "rebalancer", "Fill")]
    intents = [p for _, _, p in entries(journal, "rebalancer", "OrderIntent")
               if p["decision"] == seq]

    assert app.subheader[0].value == f"Decision {seq}: {decision['rule']}"
    assert f"Orders ({decision['intents']})" in text
    for intent in intents:
        assert intent["client_order_id"] in text
    events = " ".join(" ".join(map(str, d.value["detail"])) for d in app.dataframe
                      if "detail" in d.value.columns)
    for fill in fills:
        if fill["client_order_id"] in {i["client_order_id"] for i in intents}:
            assert f"@ {display.price(fill['price'])}" in events
    prices = next(d.value for d in app.dataframe if "market" in d.value.columns)
    assert set(prices["market"]) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT",
                                     "DOGE/USDT"}


def test_a_sentiment_decision_shows_headlines_and_scores(runs: Path) -> None:
    journal = runs / "sentiment" / "journal.db"
    observed, _, data = next(
        o for o in entries(journal, "mentions", "Observation") if o[2]["oracle"] == "sentiment"
        and any(k["mentions"] for k in o[2]["data"]["keywords"].values()))
    seq = next(s for s, _, _ in entries(journal, "mentions", "Decision") if s > observed)
    app = page("Decisions", journal, decision=str(seq))
    keyword_tables = [d.value for d in app.dataframe if "keyword" in d.value.columns]

    assert keyword_tables, "no keyword table"
    shown = keyword_tables[0].set_index("keyword")
    for name, figures in data["data"]["keywords"].items():
        assert shown.loc[name, "mentions"] == figures["mentions"]
        for hit in figures["hits"][:5]:
            assert hit["sentence"] in shown.loc[name, "headlines"]
    [models] = [d.value for d in app.dataframe if "model" in d.value.columns]
    scorer = data["data"]["scorer"]
    texts = {h["sentence"] for k in data["data"]["keywords"].values() for h in k["hits"]}
    assert set(models["model"]) == {f"{scorer['name']} {scorer['version']} ({scorer['key']})"}
    assert set(models["sha256"]) == {hashlib.sha256(t.encode()).hexdigest() for t in texts}


def test_journal_page_browses_and_verifies(runs: Path) -> None:
    journal = runs / "band-1pct" / "journal.db"
    app = page("Journal", journal)
    table = app.dataframe[0].value
    assert list(table["entry"]) == list(range(1, 51))

    app.multiselect(key="j-kinds").select("Fill").run()
    fills = [seq for seq, _, _ in entries(journal, "rebalancer", "Fill")]
    assert list(app.dataframe[0].value["entry"]) == fills[:50]

    app.button(key="j-verify").click().run()
    summary = json.loads((runs / "band-1pct" / "summary.json").read_text())
    assert "verifies" in app.success[0].value and summary["head_hash"] in app.success[0].value


def test_verify_now_reports_a_tampered_entry(runs: Path, tmp_path: Path) -> None:
    journal = tmp_path / "tampered.db"
    journal.write_bytes((runs / "band-1pct" / "journal.db").read_bytes())
    seq, _, fill = entries(journal, "rebalancer", "Fill")[0]
    fill["price"] = "1"
    with sqlite3.connect(journal) as db:
        db.execute("UPDATE journal_entries SET payload = ? WHERE seq = ?",
                   (json.dumps(fill, separators=(",", ":"), sort_keys=True), seq))
    app = page("Journal", journal)
    app.button(key="j-verify").click().run()

    assert any(f"entry {seq}" in e.value and "NOT verify" in e.value for e in app.error)


def test_a_corrupted_journal_warns_instead_of_crashing(runs: Path, tmp_path: Path) -> None:
    journal = tmp_path / "corrupted.db"
    journal.write_bytes((runs / "band-1pct" / "journal.db").read_bytes())
    seq = entries(journal, "rebalancer", "Decision")[3][0]
    with sqlite3.connect(journal) as db:
        db.execute("UPDATE journal_entries SET payload = '{\"rule\":\"sell everything\"}' "
                   "WHERE seq = ?", (seq,))
    app = page("Overview", journal)

    assert any("Journal corrupted" in e.value and f"entry {seq}" in e.value for e in app.error)
    assert metrics(app)["Last wake (UTC)"] != "—"  # the figures up to the break are still shown


def test_an_unopenable_journal_is_a_clear_message(tmp_path: Path) -> None:
    app = page("Overview", tmp_path / "missing.db")

    assert any("Cannot open the journal" in e.value and "missing.db" in e.value
               for e in app.error)


def test_backtests_page_compares_two_runs(runs: Path) -> None:
    app = page("Backtests", runs / "band-1pct" / "journal.db", runs=runs)
    listed = app.dataframe[0].value
    assert set(listed["run"]) == {"band-1pct", "band-5pct", "sentiment"}

    app.multiselect[0].set_value(["band-1pct", "band-5pct"]).run()
    table = app.dataframe[1].value.set_index("figure")
    left = json.loads((runs / "band-1pct" / "summary.json").read_text())
    right = json.loads((runs / "band-5pct" / "summary.json").read_text())

    difference = Decimal(right["final_nav"]) - Decimal(left["final_nav"])
    assert table.loc["final_nav", "difference"] == f"{difference:+.6g}"
    assert table.loc["fills", "band-1pct"] == str(left["fills"])
    assert table.loc["head_hash", "difference"] == "differs"
    assert len(app.get("plotly_chart")) == 1


def test_a_password_in_the_journal_url_is_never_shown(postgres_url: str, runs: Path) -> None:
    from sqlalchemy.engine import make_url

    secret = "s3cret-pw-42"
    url = make_url(postgres_url).set(password=secret).render_as_string(hide_password=False)
    done = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), "--journal", url,
                    "--out", str(runs / "pg"), "--start", "2024-03-01", "--end", "2024-03-03",
                    "--no-report", "--json")
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr
    for name in ("Overview", "Charts", "Decisions", "Journal"):
        app = page(name, url, runs=runs)
        shown = json.dumps([repr(e) for e in app.main] + [repr(e) for e in app.sidebar])
        assert secret not in shown, name
        assert app.sidebar.text_input(key="journal").value.count("***") == 1


@pytest.fixture(scope="module")
def investors_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("investors")
    done = run_fund("backtest", str(EXAMPLES / "investors.toml"), "--out", str(out),
                    "--start", "2024-01-10", "--end", "2024-03-01", "--no-report", "--json")
    assert done.returncode == 0, done.stderr
    return out / "journal.db"


def test_investors_page_shows_each_statement(investors_journal: Path) -> None:
    app = page("Investors", investors_journal)
    table = app.dataframe[0].value.set_index("investor")
    assert set(table.index) == {"founder", "alice", "bob"}
    for investor in table.index:
        done = run_fund("statement", str(investors_journal), "--investor", investor, "--json")
        expected = json.loads(done.stdout)
        assert table.loc[investor, "units"] == display.units(expected["units"])
        assert table.loc[investor, "value"] == cents(expected["value"])
        assert table.loc[investor, "time-weighted"] == \
            f"{expected['time_weighted_return'] * 100:.2f} %"
    assert len(app.get("plotly_chart")) == 1

    app.selectbox(key="i-investor").set_value("bob").run()
    assert metrics(app)["Units"] == table.loc["bob", "units"]


def test_investors_page_on_a_fund_without_accounts(runs: Path) -> None:
    app = page("Investors", runs / "band-1pct" / "journal.db")
    assert any("keeps no investor accounts" in i.value for i in app.info)


def test_the_overview_refreshes_itself_while_a_daemon_holds_the_actor(
        runs: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from fund.canonical import dumps, format_ts
    from fund.journal import Lease

    journal = tmp_path / "live.db"
    journal.write_bytes((runs / "band-1pct" / "journal.db").read_bytes())
    stale = page("Overview", journal)
    assert not any("refreshes every 5 seconds" in c.value for c in stale.caption)

    now = datetime.now(UTC)
    with open_journal(str(journal)) as store:
        assert store.claim(Lease(process_id="rebalancer", owner="host-a:4242:cafe",
                                 heartbeat=format_ts(now),
                                 info=dumps({"next_wake": format_ts(now + timedelta(hours=1))})),
                           None)
    live = page("Overview", journal)
    captions = [c.value for c in live.caption]
    assert any("refreshes every 5 seconds" in c for c in captions)
    assert any("daemon host-a:4242:cafe" in c for c in captions)
