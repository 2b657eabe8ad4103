"""The Journal page's signed checkpoints, under Streamlit's AppTest, on a real signed backtest:
each checkpoint listed, its signature checked when the UI has the manager's public key
(``AGENTFUND_PUBLIC_KEY``), said to be unchecked when it has none."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fund.attest import generate
from tests.conftest import EXAMPLES, ROOT, run_fund

APP = str(ROOT / "app.py")


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A two-day W1 backtest whose End the manager's key signs: (journal, public key)."""
    folder = tmp_path_factory.mktemp("signed")
    private, public, _ = generate(folder / "keys")
    done = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), "--out", str(folder / "run"),
                    "--set", f"attest.key_file={private}", "--start", "2024-03-01", "--end",
                    "2024-03-02", "--no-report", "--json")
    assert done.returncode == 0, done.stderr
    return folder / "run" / "journal.db", public


def checkpoints(journal: Path) -> list[dict[str, object]]:
    with sqlite3.connect(journal) as db:
        return [json.loads(p) for (p,) in db.execute(
            "SELECT payload FROM journal_entries WHERE kind = 'Checkpoint' ORDER BY seq")]


def journal_page(journal: Path, key: Path | None, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("AGENTFUND_JOURNAL", str(journal))
    monkeypatch.setenv("AGENTFUND_RUNS", str(tmp_path))
    monkeypatch.setenv("AGENTFUND_CACHE", str(tmp_path / "cache"))
    if key is None:
        monkeypatch.delenv("AGENTFUND_PUBLIC_KEY", raising=False)
    else:
        monkeypatch.setenv("AGENTFUND_PUBLIC_KEY", str(key))
    app = AppTest.from_file(APP, default_timeout=120)
    app.query_params["page"] = "Journal"
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def shown(app: AppTest) -> list[dict[str, object]]:
    assert any("Signed checkpoints" in h.value for h in app.subheader)
    table = app.dataframe[1].value  # after the page of entries
    return [dict(row) for _, row in table.iterrows()]


@pytest.mark.parametrize("given", ["the manager's", "another", "none"])
def test_the_journal_page_shows_each_checkpoint_and_its_signature(
        signed: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        given: str) -> None:
    journal, public = signed
    key = {"the manager's": public, "another": generate(tmp_path / "other")[1],
           "none": None}[given]

    rows = shown(journal_page(journal, key, tmp_path, monkeypatch))

    recorded = checkpoints(journal)
    assert len(recorded) == 1  # a backtest signs its End
    assert [(r["actor"], r["entry"], r["key"]) for r in rows] == \
        [(c["actor"], c["seq"], c["key"]) for c in recorded]
    assert [r["time (UTC)"] for r in rows] == \
        [str(c["at"])[:19].replace("T", " ") for c in recorded]
    expected = {"the manager's": "valid", "another": "INVALID: not signed by this key",
                "none": "unchecked (no public key given)"}[given]
    assert [r["signature"] for r in rows] == [expected] * len(recorded)
