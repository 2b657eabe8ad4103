"""One definition of return and drawdown everywhere, on a fund with investors (issue 14).

``examples/investors.toml`` has subscriptions and redemptions; its return and drawdown are
computed here, independently, from NAV per share at every wake — cash, positions and prices
folded by hand from the journal, units and fees owed from its Valuation entries — and the
Overview, the Charts page, the Backtests page, the HTML report and summary.json must all
show them. Every flow must be marked on the charts.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fund.canonical import loads, parse_ts
from fund.journal import open_journal
from tests.conftest import EXAMPLES, ROOT, run_fund

APP = str(ROOT / "app.py")
FLOWS = {"subscription": 4, "redemption": 2}  # the founder's seed, alice, bob, carol; 2 out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "investors"
    done = run_fund("backtest", str(EXAMPLES / "investors.toml"), "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AGENTFUND_CACHE", str(tmp_path / "cache"))
    from fund.monitor import store

    store._MEMO.clear()
    yield
    store._MEMO.clear()


def per_share_at_every_wake(journal: Path) -> tuple[list[Decimal], list[Decimal]]:
    """NAV per share at the end of every wake, and every Valuation's own price: the books
    folded by hand (cash, amounts, last prices), units and fees owed as valued."""
    cash, held, prices = Decimal(0), dict[str, Decimal](), dict[str, Decimal]()
    units = owed = Decimal(0)
    points, valued = [], []
    in_wake = decided = False

    def close() -> None:
        nonlocal in_wake, decided
        if in_wake:
            nav = cash + sum((a * prices[s] for s, a in held.items() if a), Decimal(0))
            points.append((nav - owed) / units)
        in_wake = decided = False

    with open_journal(str(journal)) as store:
        for entry in store.read("rebalancer"):
            p: dict[str, Any] = loads(entry.payload)
            if entry.kind in ("Wake", "Valuation", "End") or (entry.kind == "Observation"
                                                               and decided):
                close()
            if entry.kind == "Wake":
                in_wake = True
            elif entry.kind == "Decision":
                decided = in_wake
            elif entry.kind == "Observation":
                prices.update({s: Decimal(q["price"]) for s, q in p["data"]["prices"].items()})
            elif entry.kind == "Fill":
                amount, price, fee = Decimal(p["amount"]), Decimal(p["price"]), Decimal(p["fee"])
                sign = 1 if p["side"] == "buy" else -1
                held[p["symbol"]] = held.get(p["symbol"], Decimal(0)) + sign * amount
                cash -= sign * amount * price + fee
            elif entry.kind == "Valuation":
                cash += Decimal(p["cash_in"]) - Decimal(p["cash_out"])
                units, owed = Decimal(p["units"]), Decimal(p["fees_owed"])
                valued.append(Decimal(p["price"]))
    return points, valued


@pytest.fixture(scope="module")
def expected(run: Path) -> dict[str, float]:
    points, valued = per_share_at_every_wake(run / "journal.db")
    curve = [1.0, *(float(p) for p in points)]  # from the start: one unit at 1
    peak, worst = curve[0], 0.0
    for value in curve:
        peak = max(peak, value)
        worst = max(worst, 1 - value / peak)
    total = curve[-1] - 1
    assert total == pytest.approx(float(valued[-1]) - 1, abs=1e-9)  # the last dealing price
    return {"total_return": total, "max_drawdown": worst}


def pct(value: float) -> str:
    return f"{value * 100:.2f} %"


def page(name: str, run: Path) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.query_params["page"] = name
    os.environ["AGENTFUND_JOURNAL"] = str(run / "journal.db")
    os.environ["AGENTFUND_RUNS"] = str(run.parent)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_summary_json_is_measured_on_nav_per_share(run: Path,
                                                   expected: dict[str, float]) -> None:
    summary = json.loads((run / "summary.json").read_text())

    assert summary["total_return"] == pytest.approx(expected["total_return"], abs=1e-9)
    assert summary["max_drawdown"] == pytest.approx(expected["max_drawdown"], abs=1e-9)
    assert summary["flows"] == sum(FLOWS.values())
    assert summary["final_nav"].startswith("34403.82")  # total assets, not the unit value


def test_overview_shows_the_same_figures(run: Path, expected: dict[str, float]) -> None:
    shown = metrics(page("Overview", run))

    assert shown["Return (time-weighted)"] == pct(expected["total_return"])
    assert shown["Max drawdown"] == pct(expected["max_drawdown"])
    assert shown["NAV (USDT)"] == "34,403.82"


def test_backtests_page_shows_the_same_figures(run: Path, expected: dict[str, float]) -> None:
    shown = metrics(page("Backtests", run))

    assert shown["Return (time-weighted)"] == pct(expected["total_return"])
    assert shown["Max drawdown"] == pct(expected["max_drawdown"])


def plotted(values: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A trace's values as plotly sends them: a list, or a typed array (dtype, bdata)."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]),
                             dtype=np.dtype(values["dtype"])).astype(np.float64)
    return np.asarray(values, dtype=np.float64)


def test_charts_page_draws_the_unit_value_and_marks_every_flow(
        run: Path, expected: dict[str, float]) -> None:
    app = page("Charts", run)
    nav = json.loads(app.get("plotly_chart")[0].proto.spec)
    traces = {t.get("name"): t for t in nav["data"]}

    caption = " ".join(c.value for c in app.caption)
    assert f"return {pct(expected['total_return'])}" in caption
    assert f"max drawdown {pct(expected['max_drawdown'])}" in caption
    for kind, count in FLOWS.items():
        assert len(plotted(traces[kind]["x"])) == count
    deepest = -float(np.min(plotted(traces["drawdown"]["y"])))
    assert deepest == pytest.approx(expected["max_drawdown"], abs=1e-9)
    assert "unit value (time-weighted)" in traces and "total assets (NAV)" in traces


def test_report_shows_the_same_figures_from_the_same_start(
        run: Path, expected: dict[str, float]) -> None:
    html = (run / "report.html").read_text(encoding="utf-8")

    assert f"return +{pct(expected['total_return'])}" in html
    assert f"max drawdown {pct(expected['max_drawdown'])}" in html
    assert "10,000.00 held from the start" in html
    assert len(re.findall(r'class="flow subscription"', html)) == FLOWS["subscription"]
    assert len(re.findall(r'class="flow redemption"', html)) == FLOWS["redemption"]
    assert "Total assets end at 34,403.82 USDT" in html


def test_flows_are_dated_at_their_valuation_points(run: Path) -> None:
    with open_journal(str(run / "journal.db")) as store:
        valuations = [loads(e.payload) for e in store.read("rebalancer")
                      if e.kind == "Valuation" and '"deals":[{' in e.payload]
    dealt = sorted(parse_ts(v["at"]).timestamp() for v in valuations)
    from fund.monitor.snapshot import ActorSnapshot, advance

    snap = ActorSnapshot("rebalancer")
    with open_journal(str(run / "journal.db")) as store:
        advance(store, snap)
    assert sorted({f.at for f in snap.units.flows}) == dealt
