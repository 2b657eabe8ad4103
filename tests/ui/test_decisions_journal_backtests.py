"""The Decisions, Journal and Backtests pages as tools, under Streamlit's AppTest, on journals
of real backtests: a clicked row opens its decision (or entry), the open decision follows the
search, a search finds what a decision acted on (not every market it lists), date filters
suggest the fund's own period, counts are of what the filter keeps, and the Backtests page
opens the UI's own run and compares runs rebased to 100 over elapsed time.

Every expectation is computed here from the journal (its entries, decoded), never by the
UI's own code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from fund.journal import EntryFilter, open_journal
from tests.conftest import EXAMPLES, run_fund
from tests.ui.test_app_pages import entries, page

REBALANCE = ("--start", "2024-03-01", "--end", "2024-03-21", "--no-report", "--json")
SENTIMENT = ("--start", "2022-01-16", "--end", "2022-01-18", "--no-report", "--json")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real backtests: two W1 rebalances in USDT (2024, bands 1 % and 5 %), then a news
    sentiment fund in USD (2022), written last, so the newest run."""
    root = tmp_path_factory.mktemp("runs")
    for name, extra in (("band-1pct", ()),
                        ("band-5pct", ("--set", "actors.rebalancer.params.band=0.05"))):
        done = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), "--out",
                        str(root / name), *REBALANCE, *extra)
        assert done.returncode == 0, done.stderr
    done = run_fund("backtest", str(EXAMPLES / "sentiment.toml"), "--out",
                    str(root / "sentiment"), *SENTIMENT)
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AGENTFUND_CACHE", str(tmp_path / "cache"))
    from fund.monitor import store

    store._MEMO.clear()
    yield
    store._MEMO.clear()


def rebalance(runs: Path) -> Path:
    return runs / "band-1pct" / "journal.db"


def sentiment(runs: Path) -> Path:
    return runs / "sentiment" / "journal.db"


def traded(journal: Path, actor: str) -> dict[int, list[dict[str, Any]]]:
    """Each decision's orders, from the journal's OrderIntent entries."""
    out: dict[int, list[dict[str, Any]]] = {}
    for _, _, intent in entries(journal, actor, "OrderIntent"):
        out.setdefault(intent["decision"], []).append(intent)
    return out


def click(app: AppTest, row: int, table: int = 0) -> AppTest:
    """Select a row of a table as a click does (Streamlit keeps the selection in its key)."""
    key = app.dataframe[table].key
    assert key, "the table takes no selection"
    app.session_state[key] = {"selection": {"rows": [row], "columns": []}}
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def opened(app: AppTest) -> int | None:
    """The decision the page shows (its heading), or None."""
    headings = [h.value for h in app.subheader if h.value.startswith("Decision ")]
    return int(headings[0].split()[1].rstrip(":")) if headings else None


def search(app: AppTest, text: str) -> AppTest:
    app.text_input(key="d-text").input(text).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def listed(app: AppTest) -> list[int]:
    tables = [d.value for d in app.dataframe if "traded" in d.value.columns]
    return [int(seq) for seq in tables[0]["entry"]] if tables else []


def captions(app: AppTest) -> list[str]:
    return [c.value for c in app.caption]


# --- Decisions -------------------------------------------------------------------------------


def test_clicking_a_row_opens_that_decision_with_its_reasons_as_a_table(runs: Path) -> None:
    journal = rebalance(runs)
    decisions = {seq: payload for seq, _, payload in entries(journal, "rebalancer", "Decision")}
    app = page("Decisions", journal)
    table = app.dataframe[0].value
    row = next(i for i, rule in enumerate(table["rule"]) if rule == "rebalance" and i > 0)
    seq = int(table["entry"][row])
    assert opened(app) != seq

    click(app, row)

    assert opened(app) == seq
    assert app.subheader[0].value == f"Decision {seq}: {decisions[seq]['rule']}"
    assert app.query_params["decision"] == [str(seq)] or app.query_params["decision"] == str(seq)
    reasons = decisions[seq]["reasons"]
    nav, threshold = Decimal(reasons["nav"]), Decimal(reasons["threshold"])
    drift = next(d.value for d in app.dataframe if "drift (% of NAV)" in d.value.columns)
    drift = drift.set_index("market")
    assert set(drift.index) == set(reasons["drift"])
    orders = {i["symbol"]: i["side"] for i in traded(journal, "rebalancer")[seq]}
    for market, value in reasons["drift"].items():
        share = Decimal(value) / nav * 100
        assert drift.loc[market, "drift (% of NAV)"] == f"{share:+.2f} %"
        assert drift.loc[market, "band (% of NAV)"] == f"±{threshold / nav * 100:.2f} %"
        assert drift.loc[market, "beyond the band"] == \
            ("yes" if abs(Decimal(value)) >= threshold else "no")
        assert drift.loc[market, "order"].startswith(orders[market]) if market in orders \
            else drift.loc[market, "order"] == "—"
    assert not [j for j in app.json if "drift" in json.dumps(j.value)]  # no raw JSON reasons


def test_the_open_decision_follows_the_search(runs: Path) -> None:
    journal = rebalance(runs)
    orders = traded(journal, "rebalancer")
    doge = {seq for seq, intents in orders.items()
            if any(i["symbol"] == "DOGE/USDT" for i in intents)}
    app = page("Decisions", journal)
    table = app.dataframe[0].value
    row = next(i for i, seq in enumerate(table["entry"]) if int(seq) not in doge and i > 0)
    held = int(table["entry"][row])
    click(app, row)
    assert opened(app) == held

    search(app, "doge")  # the open decision traded no DOGE: it closes, a match opens
    assert opened(app) in doge
    assert set(listed(app)) <= doge

    search(app, "")  # the search cleared: the decision opened stays open
    assert opened(app) in doge

    search(app, "no decision acted on this")
    assert opened(app) is None
    assert any("No decision matches" in i.value for i in app.info)
    assert "decision" not in app.query_params


def test_a_search_matches_what_a_decision_traded_not_what_it_lists(runs: Path) -> None:
    journal = rebalance(runs)
    decisions = entries(journal, "rebalancer", "Decision")
    orders = traded(journal, "rebalancer")
    for symbol in ("DOGE/USDT", "BTC/USDT"):
        base = symbol.split("/")[0]
        acted = sorted((seq for seq, intents in orders.items()
                        if any(i["symbol"] == symbol for i in intents)), reverse=True)
        listing = [seq for seq, _, p in decisions if symbol in p["reasons"].get("drift", {})]
        rebalances = [seq for seq, _, p in decisions if p["rule"] == "rebalance"]
        assert 0 < len(acted) < len(rebalances) < len(listing)  # the test can tell them apart

        app = search(page("Decisions", journal), base)

        assert listed(app) == acted[:50]
        assert any(f"of {len(acted):,} matching" in c for c in captions(app)), captions(app)


def test_a_search_finds_the_headlines_a_decision_scored(runs: Path) -> None:
    """A headline (or the keyword it was found by) a decision's signal counted."""
    journal = sentiment(runs)
    decisions = entries(journal, "mentions", "Decision")
    word = "ukraine"

    def scored(reasons: dict[str, Any]) -> bool:
        return any(word in f"{hit.get('sentence', '')} {hit.get('keyword', '')}".lower()
                   for value in reasons.values() if isinstance(value, dict)
                   for hit in value.get("hits", []))

    expected = sorted((seq for seq, _, p in decisions if scored(p["reasons"])), reverse=True)
    assert expected

    app = search(page("Decisions", journal), "Ukraine")

    assert listed(app) == expected[:50]
    assert opened(app) == expected[0]
    assert any(f"of {len(expected):,} matching" in c for c in captions(app))


def test_date_filters_suggest_the_funds_own_period(runs: Path) -> None:
    journal = sentiment(runs)
    with open_journal(str(journal)) as store:
        stream = list(store.read("mentions"))
    first, last = stream[0].ts[:10], stream[-1].ts[:10]
    assert first.startswith("2022")

    app = page("Decisions", journal)
    assert app.text_input(key="d-since").placeholder == first
    assert app.text_input(key="d-until").placeholder == last
    day = "2022-01-17"
    app.text_input(key="d-since").input(day).run()
    app.text_input(key="d-until").input(day).run()
    on_day = [seq for seq, _, _ in entries(journal, "mentions", "Decision")
              if any(e.seq == seq and e.ts.startswith(day) for e in stream)]
    assert listed(app) == sorted(on_day, reverse=True)[:50]
    assert any(f"of {len(on_day):,} matching" in c for c in captions(app))

    journal_page = page("Journal", journal)
    assert journal_page.text_input(key="j-since").placeholder == first
    assert journal_page.text_input(key="j-until").placeholder == last


def test_a_date_that_is_not_one_is_said_and_ignored(runs: Path) -> None:
    app = page("Decisions", sentiment(runs))
    app.text_input(key="d-since").input("last tuesday").run()
    assert any("not a date" in w.value for w in app.warning)
    assert len(listed(app)) == 50


# --- Journal ---------------------------------------------------------------------------------


def test_the_journal_caption_counts_what_the_filter_keeps(runs: Path) -> None:
    journal = rebalance(runs)
    with open_journal(str(journal)) as store:
        stream = list(store.read("rebalancer", EntryFilter()))
    fills = [e for e in stream if e.kind == "Fill"]
    app = page("Journal", journal)
    assert any(f"rebalancer: {len(stream):,} entries;" in c for c in captions(app))

    app.multiselect(key="j-kinds").select("Fill").run()
    caption = next(c for c in captions(app) if "rebalancer:" in c)
    assert f"{len(fills):,} of {len(stream):,} entries match the filter" in caption
    assert f"showing {min(len(fills), 50)} from entry 1" in caption

    day = "2024-03-05"
    app.text_input(key="j-since").input(day).run()
    app.text_input(key="j-until").input(day).run()
    kept = [e for e in fills if e.ts.startswith(day)]
    caption = next(c for c in captions(app) if "rebalancer:" in c)
    assert f"{len(kept):,} of {len(stream):,} entries match the filter" in caption
    assert list(app.dataframe[0].value["entry"]) == [e.seq for e in kept][:50]
    assert any("Signed checkpoints" in h.value for h in app.subheader)  # still there


def test_clicking_a_journal_row_opens_the_entry(runs: Path) -> None:
    journal = rebalance(runs)
    app = page("Journal", journal)
    assert not app.json  # nothing open before a click
    entry = app.dataframe[0].value.iloc[7]

    click(app, 7)

    shown = app.json[0].value
    value = json.loads(shown) if isinstance(shown, str) else shown
    assert value["seq"] == int(entry["entry"]) and value["kind"] == entry["kind"]
    with open_journal(str(journal)) as store:
        (stored,) = store.read("rebalancer", EntryFilter(first_seq=value["seq"],
                                                         last_seq=value["seq"]))
    assert value["hash"] == stored.hash


# --- Backtests -------------------------------------------------------------------------------


def test_backtests_page_opens_the_run_of_the_uis_journal(runs: Path) -> None:
    newest = max(runs.glob("*/summary.json"), key=lambda p: p.stat().st_mtime).parent.name
    assert newest == "sentiment"
    for journal in (rebalance(runs), f"sqlite:///{rebalance(runs)}"):
        app = page("Backtests", journal, runs=runs)
        assert app.multiselect[0].value == ["band-1pct"]
        assert app.subheader[0].value == "band-1pct"
        summary = json.loads((runs / "band-1pct" / "summary.json").read_text())
        shown = {m.label: m.value for m in app.metric}
        assert shown["Final NAV (USDT)"] == \
            f"{Decimal(summary['final_nav']).quantize(Decimal('0.01')):,}"


def test_backtests_page_on_a_journal_of_no_run_opens_none(runs: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "copy.db"
    elsewhere.write_bytes(rebalance(runs).read_bytes())
    app = page("Backtests", elsewhere, runs=runs)
    assert app.multiselect[0].value == []
    assert any("No run under" in i.value for i in app.info)


def start_and_end(journal: Path, actor: str) -> tuple[float, float, Decimal, Decimal]:
    """The run's start and end (epoch seconds), its deposit and its final NAV."""
    (_, _, start), = entries(journal, actor, "Start")
    with open_journal(str(journal)) as store:
        (first,) = store.read(actor, EntryFilter(limit=1))
        (last,) = store.read(actor, EntryFilter(descending=True, limit=1))
    (_, _, end), = entries(journal, actor, "End")
    deposit = sum(Decimal(p["amount"]) for _, _, p in entries(journal, actor, "Deposit"))
    assert start  # a Start entry opens the stream

    def epoch(ts: str) -> float:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()

    return epoch(first.ts), epoch(last.ts), deposit, Decimal(end["nav"])


def traces(app: AppTest) -> dict[str, dict[str, Any]]:
    (chart,) = app.get("plotly_chart")
    return {t["name"]: t for t in json.loads(chart.proto.spec)["data"] if t.get("name")}


def test_comparison_is_rebased_to_100_over_elapsed_time_with_a_warning(runs: Path) -> None:
    app = page("Backtests", rebalance(runs), runs=runs)
    app.multiselect[0].set_value(["band-1pct", "sentiment"]).run()
    assert not app.exception

    (warning,) = [w.value for w in app.warning]
    assert "quote currencies differ" in warning and "band-1pct: USDT" in warning \
        and "sentiment: USD)" in warning
    assert "periods differ" in warning and "2022-01-16" in warning and "2024-03-01" in warning
    curves = traces(app)
    for name, journal, actor in (("band-1pct", rebalance(runs), "rebalancer"),
                                 ("sentiment", sentiment(runs), "mentions")):
        start, end, deposit, nav = start_and_end(journal, actor)
        curve = curves[f"{name} · {actor}"]
        assert (curve["x"][0], curve["y"][0]) == (0, 100)  # 100 at the start
        assert curve["x"][-1] == pytest.approx((end - start) / 86_400)  # days elapsed
        assert curve["y"][-1] == pytest.approx(float(nav / deposit * 100), rel=1e-9)
    assert max(curves["sentiment · mentions"]["x"]) < 4 < max(curves["band-1pct · rebalancer"]["x"])


def test_comparing_runs_of_one_quote_and_period_warns_of_nothing(runs: Path) -> None:
    app = page("Backtests", rebalance(runs), runs=runs)
    app.multiselect[0].set_value(["band-1pct", "band-5pct"]).run()
    assert not app.warning
    assert set(traces(app)) == {"band-1pct · rebalancer", "band-5pct · rebalancer"}
