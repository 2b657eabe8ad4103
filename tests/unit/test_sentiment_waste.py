"""Sentiment without waste: the score cache opens its file once (and again only when the
file under it changed), a wake without news is recorded with the figures of no news and
never reaches the scorer, and the model scorers' libraries load only when configured."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agentfund.oracles.base import Recorded
from agentfund.oracles.mentions import Keyword
from agentfund.oracles.scorers import KINDS, HeldScoreCache, make_scorer
from agentfund.oracles.scoring import CachedScorer, ScoreCache, Scorer, ScorerIdentity
from agentfund.oracles.sentiment import SentimentOracle
from fund.canonical import dumps
from fund.messages import Observation
from tests.conftest import ROOT

AT = datetime(2022, 1, 16, 12, tzinfo=UTC)
KEYWORDS = [Keyword("Trump", ("Donald Trump",)), Keyword("Bitcoin", ("BTC",))]


class NoBlobs:
    def put_blob(self, data: bytes) -> str:
        raise AssertionError("sentiment needs no blobs")


class Counting(Scorer):
    """Scores a text by its length; remembers every batch it was asked."""

    def __init__(self, name: str = "counting") -> None:
        self.identity = ScorerIdentity(name, "1", "len")
        self.batches: list[list[str]] = []

    def score(self, texts: Sequence[str]) -> list[float]:
        self.batches.append(list(texts))
        return [min(len(text), 100) / 100 for text in texts]


def news(items: list[dict[str, Any]]) -> Recorded:
    observation = Observation(seq=2, oracle="news", as_of=AT, data={"items": items},
                              error=None)
    return Recorded(this_wake={"news": observation})


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Count every SQLite connection opened."""
    opened: list[object] = []
    real = sqlite3.connect

    def counting(*args: Any, **kwargs: Any) -> Any:
        opened.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counting)
    return opened


def test_the_held_cache_opens_its_file_once_for_many_calls(tmp_path: Path,
                                                           connects: list[object]) -> None:
    inner = Counting()
    scorer = CachedScorer(inner, HeldScoreCache(tmp_path / "scores.sqlite"))

    for index in range(50):
        scorer.score([f"headline {index}", "the same headline"])

    assert len(connects) == 1
    assert inner.batches[0] == ["headline 0", "the same headline"]
    assert all(batch == [f"headline {i}"] for i, batch in enumerate(inner.batches[1:], 1))
    # what it wrote is the plain ScoreCache's file: another process reads it so
    again = Counting()
    CachedScorer(again, ScoreCache(tmp_path / "scores.sqlite")).score(["headline 7"])
    assert again.batches == []


@pytest.mark.parametrize("damage", ["garbage", "truncated", "deleted", "replaced",
                                    "table dropped"])
def test_the_held_cache_survives_its_file_damaged_or_replaced(tmp_path: Path,
                                                              damage: str) -> None:
    path = tmp_path / "scores.sqlite"
    cache = HeldScoreCache(path)
    CachedScorer(Counting(), cache).score([f"text {i}" for i in range(300)])
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 500)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    elif damage == "deleted":
        path.unlink()
    elif damage == "replaced":
        other = tmp_path / "other.sqlite"
        CachedScorer(Counting(), ScoreCache(other)).score(["text 2"])
        other.replace(path)
    else:
        with sqlite3.connect(path) as db:
            db.execute("DROP TABLE scores_v1")
    inner = Counting()

    scores = CachedScorer(inner, cache).score(["text 1", "new"])

    assert scores == Counting().score(["text 1", "new"])
    assert inner.batches == [["text 1", "new"]]
    replayed = Counting()
    CachedScorer(replayed, ScoreCache(path)).score(["text 1", "new"])
    assert replayed.batches == []


def test_a_configured_scorer_holds_its_cache(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("AGENTFUND_CACHE", str(tmp_path))
    scorer = make_scorer("vader")
    assert isinstance(scorer, CachedScorer) and isinstance(scorer.cache, HeldScoreCache)
    assert scorer.cache.path == tmp_path / "scores.sqlite"


def test_a_wake_without_news_records_no_mentions_without_asking_the_scorer() -> None:
    scorer = Counting()
    oracle = SentimentOracle("sentiment", source="news", keywords=KEYWORDS, scorer=scorer)
    flagged_old = [{"id": "a", "title": "Trump speaks", "new": False}]
    with_news = oracle.observe(AT, NoBlobs(), news([{"id": "b", "title": "Trump speaks"}]))

    empty = [oracle.observe(AT, NoBlobs(), news(items)) for items in ([], flagged_old, [])]

    assert scorer.batches == [["Trump speaks"]]
    assert dumps(empty[0]) == dumps(empty[1]) == dumps(empty[2])
    assert empty[0]["items"] == 0 and empty[0]["source"] == "news"
    assert empty[0]["scorer"] == with_news["scorer"] == scorer.identity.to_payload()
    for name in ("Trump", "Bitcoin"):
        assert empty[0]["keywords"][name] == {"mentions": 0, "sentences": 0, "score_sum": 0.0,
                                              "mean": 0.0, "hits": []}
    assert with_news["keywords"]["Bitcoin"] == empty[0]["keywords"]["Bitcoin"]


def test_the_recorded_scorer_follows_a_changed_identity() -> None:
    scorer = Counting()
    oracle = SentimentOracle("sentiment", source="news", keywords=KEYWORDS, scorer=scorer)
    before = oracle.observe(AT, NoBlobs(), news([]))["scorer"]

    scorer.identity = ScorerIdentity("counting", "2", "len")
    after = oracle.observe(AT, NoBlobs(), news([]))["scorer"]

    assert before["version"] == "1" and after == scorer.identity.to_payload()


def test_the_model_scorer_kinds_load_only_when_asked_for() -> None:
    code = ("import sys; from agentfund.oracles.scorers import KINDS, scorer_options;"
            "scorer_options('vader'); names = sorted(KINDS);"
            "print(names, 'httpx' in sys.modules, 'llama_cpp' in sys.modules);"
            "KINDS['openai']; print('httpx' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)

    assert done.stdout.split("\n")[:2] == [
        "['llama', 'openai', 'plugin', 'vader', 'wordllama'] False False", "True"]
    assert {"llama", "openai"} <= set(KINDS) and KINDS["openai"].name == "openai"
