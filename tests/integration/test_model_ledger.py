"""The model ledger on a real sentiment backtest (two days of the shipped headlines):
``fund models``, ``fund provenance`` and ``fund journal export --model-ledger``, on the
SQLite journal and on its bundle, each checked against the journal's rows read here with
sqlite3 and against the headlines file, never against the ledger's own code."""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from vaderSentiment import vaderSentiment  # type: ignore[import-untyped]
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # type: ignore[import-untyped]

from tests.conftest import EXAMPLES, SAMPLE, run_fund

LEXICON = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
HEADLINES = SAMPLE / "news" / "reddit_headlines_2021-12-31_2022-01-20.json.gz"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sentiment")
    done = run_fund("backtest", str(EXAMPLES / "sentiment.toml"), "--out", str(out),
                    "--start", "2022-01-16", "--end", "2022-01-17", "--no-report", "--json")
    assert done.returncode == 0, done.stderr
    bundled = run_fund("journal", "export", str(out / "journal.db"), "--bundle",
                       str(out / "fund.bundle"))
    assert bundled.returncode == 0, bundled.stderr
    return out


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rows(journal: Path) -> list[tuple[int, str, str, dict[str, Any], str]]:
    """(seq, kind, ts, payload, hash) of the one actor's stream, straight from SQLite."""
    with sqlite3.connect(journal) as db:
        found = db.execute("SELECT seq, kind, ts, payload, hash FROM journal_entries "
                           "WHERE process_id = 'mentions' ORDER BY seq").fetchall()
    return [(seq, kind, ts, json.loads(payload), digest)
            for seq, kind, ts, payload, digest in found]


def scored(journal: Path) -> list[tuple[int, str, str, dict[str, float]]]:
    """Each sentiment observation with data: seq, ts, hash and {sentence: score}."""
    found = []
    for seq, kind, ts, payload, digest in rows(journal):
        if kind == "Observation" and payload["oracle"] == "sentiment" and "data" in payload:
            texts = {h["sentence"]: h["score"] for k in payload["data"]["keywords"].values()
                     for h in k["hits"]}
            found.append((seq, ts, digest, texts))
    return found


def wake_decisions(journal: Path, seq: int) -> list[int]:
    """The Decision entries after entry ``seq`` and before the next Wake."""
    after = [(s, kind) for s, kind, _, _, _ in rows(journal) if s > seq]
    decisions = []
    for s, kind in after:
        if kind == "Wake":
            break
        if kind == "Decision":
            decisions.append(s)
    return decisions


def fund_json(*args: str) -> Any:
    done = run_fund(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", ["journal.db", "fund.bundle"])
def test_models_counts_equal_the_journals_observations(run: Path, name: str) -> None:
    observations = scored(run / "journal.db")
    used = [(ts, texts) for _, ts, _, texts in observations if texts]

    listed, = fund_json("models", str(run / name))["models"]

    assert (listed["model"]["name"], listed["model"]["version"], listed["model"]["detail"]) \
        == ("vader", version("vaderSentiment"), hashlib.sha256(LEXICON.read_bytes()).hexdigest())
    assert listed["texts"] == sum(len(texts) for _, texts in used) > 10
    assert listed["distinct"] == len({t for _, texts in used for t in texts})
    assert listed["observations"] == len(observations)
    assert (listed["first"], listed["last"]) == (used[0][0], used[-1][0])
    assert listed["actors"] == ["mentions"]


def headline(run: Path) -> tuple[str, int, str, str, float]:
    """A headline of the file that the fund scored in a wake that placed orders, if one did:
    the text, and the seq, time and hash of the observation that holds it, and its score."""
    with gzip.open(HEADLINES, "rt", encoding="utf-8") as handle:
        titles = {record["title"].strip() for record in json.load(handle)}
    journal = run / "journal.db"
    intents = {seq: payload["intents"] for seq, kind, _, payload, _ in rows(journal)
               if kind == "Decision"}
    candidates = [(text, seq, ts, digest, score) for seq, ts, digest, texts in scored(journal)
                  for text, score in texts.items() if text in titles]
    assert candidates
    traded = [c for c in candidates if any(intents[d] for d in wake_decisions(journal, c[1]))]
    return (traded or candidates)[0]


@pytest.mark.parametrize("name", ["journal.db", "fund.bundle"])
def test_provenance_of_a_headline_names_model_time_score_and_decisions(
        run: Path, name: str) -> None:
    text, seq, ts, digest, score = headline(run)
    decisions = wake_decisions(run / "journal.db", seq)

    by_text = fund_json("provenance", str(run / name), "--text", text)
    by_hash = fund_json("provenance", str(run / name), "--sha256", sha(text).upper())

    assert by_text == by_hash
    assert by_text["sha256"] == sha(text) and by_text["text"] == text
    found, = by_text["scorings"]
    assert (found["actor"], found["seq"], found["time"], found["entry_hash"]) == \
        ("mentions", seq, ts, digest)
    assert found["model"]["name"] == "vader" and len(found["model"]["detail"]) == 64
    assert found["output"]["score"] == score == \
        round(SentimentIntensityAnalyzer().polarity_scores(text)["compound"], 4)
    assert [d["seq"] for d in found["decisions"]] == decisions and decisions


def test_provenance_prints_the_model_and_the_entry(run: Path) -> None:
    text, seq, _, digest, _ = headline(run)

    done = run_fund("provenance", str(run / "journal.db"), "--text", text)

    assert done.returncode == 0, done.stderr
    assert "vader 3.3.2" in done.stdout and digest in done.stdout
    assert f"mentions entry {seq} (sentiment)" in done.stdout


def test_an_unknown_text_is_exit_1_and_a_bad_hash_exit_2(run: Path) -> None:
    journal = str(run / "journal.db")

    unknown = run_fund("provenance", journal, "--text", "No such headline was ever scored")
    bad = run_fund("provenance", journal, "--sha256", "abc")
    none = run_fund("provenance", journal)

    assert unknown.returncode == 1
    assert f"no model scored the text with sha256 {sha('No such headline was ever scored')}" \
        in unknown.stderr
    assert bad.returncode == 2 and "not 64 hexadecimal digits" in bad.stderr
    assert none.returncode == 2


@pytest.mark.parametrize("name", ["journal.db", "fund.bundle"])
def test_the_model_ledger_names_every_scored_text_and_its_entry(
        run: Path, name: str, tmp_path: Path) -> None:
    ledger = tmp_path / "model-ledger.jsonl"
    observations = {seq: (ts, digest, texts) for seq, ts, digest, texts in
                    scored(run / "journal.db")}

    done = run_fund("journal", "export", str(run / name), "--model-ledger", str(ledger))

    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in ledger.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == sum(len(texts) for _, _, texts in observations.values())
    for line in lines:
        ts, digest, texts = observations[line["seq"]]
        assert (line["actor"], line["time"], line["entry_hash"]) == ("mentions", ts, digest)
        by_hash = {sha(text): score for text, score in texts.items()}
        assert line["output"] == {"score": by_hash[line["sha256"]]}
        assert line["model"]["key"] and line["oracle"] == "sentiment"
    assert {(line["seq"], line["sha256"]) for line in lines} == \
        {(seq, sha(text)) for seq, (_, _, texts) in observations.items() for text in texts}


def test_the_ledger_refuses_filters(run: Path, tmp_path: Path) -> None:
    done = run_fund("journal", "export", str(run / "journal.db"), "--model-ledger",
                    str(tmp_path / "l.jsonl"), "--kind", "Observation")

    assert done.returncode == 2 and "drop --kind" in done.stderr
