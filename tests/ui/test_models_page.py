"""The Models page under Streamlit's AppTest, on a real one-day sentiment backtest: the
models table and the provenance box, checked against the journal's own entries."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from fund.canonical import loads
from fund.journal import EntryFilter, open_journal
from fund.messages import OBSERVATION
from tests.conftest import EXAMPLES, ROOT, run_fund

APP = str(ROOT / "app.py")


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sentiment")
    done = run_fund("backtest", str(EXAMPLES / "sentiment.toml"), "--out", str(out),
                    "--start", "2022-01-16", "--end", "2022-01-16", "--no-report", "--json")
    assert done.returncode == 0, done.stderr
    return out / "journal.db"


@pytest.fixture(autouse=True)
def environment(journal: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTFUND_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AGENTFUND_JOURNAL", str(journal))
    monkeypatch.setenv("AGENTFUND_RUNS", str(journal.parent.parent))


def observed(journal: Path) -> list[tuple[int, dict[str, Any]]]:
    """(seq, data) of every sentiment observation with data."""
    with open_journal(str(journal)) as store:
        payloads = [(e.seq, loads(e.payload))
                    for e in store.read("mentions", EntryFilter(kinds=(OBSERVATION,)))]
    return [(seq, p["data"]) for seq, p in payloads
            if p["oracle"] == "sentiment" and "data" in p]


def texts(data: dict[str, Any]) -> dict[str, float]:
    return {h["sentence"]: h["score"] for k in data["keywords"].values() for h in k["hits"]}


def models_page() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.query_params["page"] = "Models"
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_the_models_page_lists_the_scorer_with_its_counts(journal: Path) -> None:
    seen = observed(journal)
    scorer = seen[0][1]["scorer"]

    table = models_page().dataframe[0].value

    assert list(table["model"]) == [scorer["name"]] and list(table["key"]) == [scorer["key"]]
    assert list(table["texts scored"]) == [str(sum(len(texts(d)) for _, d in seen))]
    assert list(table["observations"]) == [str(len(seen))]


def test_the_provenance_box_finds_the_entry_and_score_of_a_text(journal: Path) -> None:
    seq, data = next((s, d) for s, d in observed(journal) if texts(d))
    text, score = next(iter(texts(data).items()))
    app = models_page()

    app.text_input(key="m-query").input(text).run()
    by_text = app.dataframe[1].value
    app.text_input(key="m-query").input(hashlib.sha256(text.encode()).hexdigest()).run()
    by_hash = app.dataframe[1].value
    app.text_input(key="m-query").input("never scored").run()

    assert list(by_text["entry"]) == [seq] and list(by_text["score"]) == [f"{score:+.4f}"]
    assert by_text.equals(by_hash)
    assert "No model scored" in app.warning[0].value


def test_score_rows_name_the_model_of_each_score(journal: Path) -> None:
    from fund.monitor.views.models import score_rows

    _, data = next((s, d) for s, d in observed(journal) if texts(d))

    rows = score_rows(data)

    assert {r["text"]: r["score"] for r in rows} == \
        {t: f"{s:+.4f}" for t, s in texts(data).items()}
    assert {r["model"] for r in rows} == \
        {f"vader {data['scorer']['version']} ({data['scorer']['key']})"}
