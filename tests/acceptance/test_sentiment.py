"""Acceptance: the news-mention fund over January 2022, checked against direct computation.

The mention counts and VADER scores in the journal are recomputed here with ``re`` and
vaderSentiment's analyser directly, from the headlines each wake recorded, and the set of
headlines each wake saw is recomputed from the dataset file. Runs on each durable
backend; the second of the two runs always writes to SQLite, so on PostgreSQL the
byte-identical check also compares the two backends.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # type: ignore[import-untyped]

from fund.canonical import loads
from fund.journal import open_journal
from fund.verify import StreamReport, verify_stream
from tests.conftest import EXAMPLES, SAMPLE, run_fund
from tests.fixtures.journals import JournalUrls, sqlite_url
from tests.fixtures.tamper import copy_journal, rehash_from, tampering

CONFIG = EXAMPLES / "sentiment.toml"
HEADLINES = SAMPLE / "news" / "reddit_headlines_2021-12-31_2022-01-20.json.gz"
KEYWORDS = {"Trump": ["Donald Trump", "Trump"],
            "Biden": ["President Biden", "Joe Biden", "Biden"],
            "Russia": ["Russian", "Kremlin", "Russia", "Putin"],
            "Ukraine": ["Ukrainian", "Ukraine", "Kyiv"]}


@pytest.fixture(scope="module")
def runs(module_store_urls: JournalUrls,
         tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    summaries = []
    for name in ("first", "second"):
        out = tmp_path_factory.mktemp(name)
        journal = module_store_urls(name) if name == "first" else sqlite_url(out / "journal.db")
        result = run_fund("backtest", str(CONFIG), "--out", str(out), "--journal", journal,
                          "--json")
        assert result.returncode == 0, result.stderr
        summaries.append(json.loads(result.stdout))
    return summaries


def headlines_file() -> list[dict[str, Any]]:
    with gzip.open(HEADLINES, "rt", encoding="utf-8") as handle:
        records: list[dict[str, Any]] = json.load(handle)
    return records


def stream(journal: str) -> list[tuple[int, str, dict[str, Any]]]:
    with open_journal(journal) as store:
        return [(e.seq, e.kind, loads(e.payload)) for e in store.read("mentions")]


def test_two_runs_give_byte_identical_journals_that_verify(runs: list[dict[str, Any]]) -> None:
    first, second = runs
    exported = [run_fund("journal", "export", s["journal"]).stdout for s in runs]

    assert first["head_hash"] == second["head_hash"]
    assert exported[0] == exported[1]
    assert first["fills"] > 0
    verified = run_fund("verify", first["journal"])
    assert verified.returncode == 0, verified.stderr


def test_each_wake_saw_exactly_the_headlines_published_since_the_last(
        runs: list[dict[str, Any]]) -> None:
    records = headlines_file()
    observed = [p for _, kind, p in stream(runs[0]["journal"])
                if kind == "Observation" and p["oracle"] == "news"]
    seen: list[str] = []
    previous = None
    for observation in observed:
        start, end = observation["data"]["window"]
        assert previous is None or start == previous
        previous = end
        seen.extend(item["title"] for item in observation["data"]["items"])
        for item in observation["data"]["items"]:
            assert start < item["published"] <= end
    first = datetime.fromisoformat(observed[0]["data"]["window"][0])
    last = datetime.fromisoformat(observed[-1]["data"]["window"][1])
    expected = [r["title"] for r in sorted(records, key=lambda r: r["timestamp"])
                if first < datetime.fromtimestamp(r["timestamp"], UTC) <= last]
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(records)  # the whole slice falls inside the backtest


def test_mentions_and_scores_agree_with_a_direct_computation(runs: list[dict[str, Any]]) -> None:
    analyser = SentimentIntensityAnalyzer()
    patterns = {k: re.compile(r"\b(?:" + "|".join(map(re.escape, v)) + r")\b", re.IGNORECASE)
                for k, v in KEYWORDS.items()}
    entries = stream(runs[0]["journal"])
    news = {p["as_of"]: p["data"]["items"] for _, kind, p in entries
            if kind == "Observation" and p["oracle"] == "news" and "data" in p}
    headlines: dict[str, int] = defaultdict(int)
    checked = 0
    for _, kind, payload in entries:
        if kind != "Observation" or payload["oracle"] != "sentiment":
            continue
        items = news[payload["as_of"]]
        for keyword, pattern in patterns.items():
            titles = [i["title"] for i in items if pattern.search(i["title"])]
            mentions = sum(len(pattern.findall(t)) for t in titles)
            scores = [analyser.polarity_scores(t)["compound"] for t in titles]
            recorded = payload["data"]["keywords"][keyword]
            assert recorded["mentions"] == mentions, (payload["as_of"], keyword)
            assert recorded["sentences"] == len(titles)  # a headline is one sentence here
            assert recorded["score_sum"] == pytest.approx(sum(scores), abs=1e-3)
            headlines[keyword] += len(titles)
            checked += len(titles)
    assert checked > 30
    records = headlines_file()
    for keyword, pattern in patterns.items():  # every headline of the file, counted once
        assert headlines[keyword] == sum(bool(pattern.search(r["title"])) for r in records)
    assert headlines["Trump"] == 19 and headlines["Biden"] == 13  # the data README's counts


def test_decisions_name_the_headlines_and_numbers_behind_them(runs: list[dict[str, Any]]) -> None:
    entries = stream(runs[0]["journal"])
    buys = [p for _, kind, p in entries if kind == "Decision" and p["rule"].startswith("buy")]

    assert buys
    reasons = buys[0]["reasons"]["BTC/USD"]
    assert reasons["action"] == "enter" and reasons["signal"] >= 0.1
    assert reasons["hits"] and {"item", "sentence", "score", "keyword"} <= set(reasons["hits"][0])


def sentiment_seq(journal: str) -> tuple[int, str]:
    with tampering(journal) as conn:
        seq, payload = conn.execute(text(
            "SELECT seq, payload FROM journal_entries WHERE kind = 'Observation' AND "
            "payload LIKE '%\"oracle\":\"sentiment\"%' AND payload LIKE '%\"score\":%' "
            "ORDER BY seq LIMIT 1")).one()
    return seq, payload


def forge_first_scored_observation(journal: str, scratch_urls: JournalUrls,
                                   forge: Callable[[str], str]) -> tuple[int, StreamReport]:
    """Copy the journal, rewrite one sentiment observation and the chain after it, verify."""
    db = copy_journal(journal, scratch_urls("forged"))
    seq, payload = sentiment_seq(db)
    forged = forge(payload)
    assert forged != payload
    with tampering(db) as conn:
        conn.execute(text("UPDATE journal_entries SET payload = :payload WHERE seq = :seq"),
                     {"payload": forged, "seq": seq})
        rehash_from(conn, "mentions", seq)
    with open_journal(db) as store:
        return seq, verify_stream(store, "mentions")


def test_a_replay_with_another_scorer_is_detected(runs: list[dict[str, Any]],
                                                  scratch_urls: JournalUrls) -> None:
    seq, report = forge_first_scored_observation(
        runs[0]["journal"], scratch_urls,
        lambda text: text.replace('"version":"3.3.2"', '"version":"3.3.1"'))

    assert not report.ok and report.seq == seq
    assert "installed scorer" in (report.error or "") and "3.3.1" in (report.error or "")


def test_an_altered_score_is_detected(runs: list[dict[str, Any]],
                                      scratch_urls: JournalUrls) -> None:
    seq, report = forge_first_scored_observation(
        runs[0]["journal"], scratch_urls,
        lambda text: re.sub(r'"score":(-?[0-9.]+)', '"score":0.9999', text, count=1))

    assert not report.ok and report.seq == seq
    assert "scoring the recorded news again" in (report.error or "")
