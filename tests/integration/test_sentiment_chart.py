"""The sentiment chart keeps every mention: on a real backtest of examples/sentiment.toml
(two days with news, 5-minute wakes: more observations than the chart has buckets), the
bars of the UI's Charts page and of the HTML report add up, keyword by keyword, to the
mentions the journal records — read here with plain SQLite, not with the chart's code.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from agentfund.backtests.trades import trades_data
from fund import figures
from fund.monitor.charts import sentiment
from tests.conftest import EXAMPLES, ROOT, run_fund

ACTOR = "mentions"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sentiment")
    done = run_fund("backtest", str(EXAMPLES / "sentiment.toml"), "--out", str(out),
                    "--start", "2022-01-16", "--end", "2022-01-17", "--json")
    assert done.returncode == 0, done.stderr
    return out


def journal_mentions(journal: Path) -> tuple[Counter[str], int, int, tuple[int, int]]:
    """Mentions per keyword, news items, sentiment observations and (days with news, days),
    from the journal."""
    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT payload FROM journal_entries WHERE process_id = ? AND "
                          "kind = 'Observation'", (ACTOR,)).fetchall()
    totals: Counter[str] = Counter()
    items = observations = 0
    days: list[str] = []
    covered: set[str] = set()
    for (payload,) in rows:
        observed = json.loads(payload)
        data = observed.get("data") or {}
        if isinstance(data.get("keywords"), dict):
            observations += 1
            items += data["items"]
            days.append(observed["as_of"][:10])
            if data["items"]:
                covered.add(observed["as_of"][:10])
            for name, found in data["keywords"].items():
                totals[name] += found["mentions"]
    first, last = (datetime.fromisoformat(d) for d in (min(days), max(days)))
    return totals, items, observations, (len(covered), (last - first).days + 1)


def values(array: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A trace's y as plotly serialises it: a list, or a typed array (dtype, bdata)."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]),
                             dtype=np.dtype(array["dtype"])).astype(np.float64)
    return np.asarray(array, dtype=np.float64)


def bar_sums(traces: list[dict[str, Any]]) -> dict[str, int]:
    return {t["name"].removesuffix(" mentions"): round(float(np.nansum(values(t["y"]))))
            for t in traces if t.get("type") == "bar" and t["name"].endswith(" mentions")}


def test_the_report_and_the_ui_keep_every_mention(run: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    totals, items, observations, (covered, days) = journal_mentions(run / "journal.db")
    assert sum(totals.values()) > 20 and items > 0
    assert observations > figures.BAR_BUCKETS  # so the bars do combine observations

    # the report's figure, from the journal as the report reads it (the fold of the stream
    # that its trades section draws too)
    snap, _book = trades_data(str(run / "journal.db"), ACTOR)
    drawn = figures.sentiment_figure(sentiment(snap))
    assert drawn is not None
    traces = [t.to_plotly_json() for t in drawn.data]
    assert bar_sums(traces) == dict(totals)
    assert len(values(traces[0]["y"])) <= figures.BAR_BUCKETS
    news = next(t for t in traces if t["name"] == "news items")
    assert int(np.nansum(values(news["y"]))) == items
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "mentions: " + ", ".join(f"{k} {v:,}" for k, v in sorted(totals.items())) in html
    assert 0 < covered < days
    assert f"News exists on {covered} of {days} days (UTC): {items} items" in html

    # the UI's Charts page
    monkeypatch.setenv("AGENTFUND_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AGENTFUND_JOURNAL", str(run / "journal.db"))
    monkeypatch.setenv("AGENTFUND_RUNS", str(run.parent))
    from fund.monitor import store as memo

    memo._MEMO.clear()
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.query_params["page"] = "Charts"
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    charts = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    shown = [bar_sums(c["data"]) for c in charts]
    assert dict(totals) in shown
    memo._MEMO.clear()
