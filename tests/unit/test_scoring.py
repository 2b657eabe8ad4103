"""Scorers, their cache and the sentiment oracle agree with a direct computation."""

from __future__ import annotations

import gzip
import json
import math
import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from vaderSentiment.vaderSentiment import (  # type: ignore[import-untyped]
    SentimentIntensityAnalyzer,
)

from agentfund.oracles.base import OracleError, Recorded
from agentfund.oracles.mentions import Keyword
from agentfund.oracles.scoring import (
    VADER_LEXICON,
    CachedScorer,
    ScoreCache,
    Scorer,
    ScorerIdentity,
    VaderScorer,
    default_cache_path,
)
from agentfund.oracles.sentiment import SentimentOracle
from fund.canonical import dumps
from fund.messages import Observation
from tests.conftest import SAMPLE

HEADLINES = SAMPLE / "news" / "reddit_headlines_2021-12-31_2022-01-20.json.gz"
AT = datetime(2022, 1, 20, tzinfo=UTC)
KEYWORDS = [Keyword("Trump"), Keyword("Biden", ("Joe Biden", "President Biden")),
            Keyword("Russia"), Keyword("Ukraine"), Keyword("Covid", ("COVID-19",))]
# written out by hand, independently of oracles.mentions
PATTERNS = {"Trump": r"\btrump\b", "Biden": r"\b(?:president biden|joe biden|biden)\b",
            "Russia": r"\brussia\b", "Ukraine": r"\bukraine\b",
            "Covid": r"\b(?:covid-19|covid)\b"}


class NoBlobs:
    def put_blob(self, data: bytes) -> str:
        raise AssertionError("sentiment needs no blobs")


class Counting(Scorer):
    """A fake model that records every batch it is asked to score."""

    def __init__(self, name: str = "counting") -> None:
        self.identity = ScorerIdentity(name, "1", "test")
        self.batches: list[list[str]] = []

    def score(self, texts: Sequence[str]) -> list[float]:
        self.batches.append(list(texts))
        return [(len(text) % 21 - 10) / 10 for text in texts]


def headline_items() -> list[dict[str, Any]]:
    with gzip.open(HEADLINES, "rt", encoding="utf-8") as handle:
        rows = json.load(handle)
    return [{"id": f"reddit-{i}", "title": row["title"], "text": "", "link": row["link"],
             "published": datetime.fromtimestamp(row["timestamp"], UTC).isoformat(),
             "source": row["domain"]} for i, row in enumerate(rows)]


def news(items: list[dict[str, Any]] | None = None, **fields: Any) -> Recorded:
    data = {"items": headline_items() if items is None else items}
    return Recorded(this_wake={"news": Observation(
        oracle="news", seq=1, as_of=AT, **({"data": data} | fields))})


def observe(recorded: Recorded, scorer: Scorer | None = None) -> dict[str, Any]:
    oracle = SentimentOracle("sentiment", "news", KEYWORDS, scorer or VaderScorer())
    return oracle.observe(AT, NoBlobs(), recorded)


def test_the_oracle_agrees_with_regex_and_vader_computed_directly() -> None:
    items = headline_items()
    analyzer = SentimentIntensityAnalyzer()

    seen = observe(news(items))

    assert len(items) == 369 and seen["items"] == 369
    assert seen["source"] == "news" and seen["scorer"]["name"] == "vader"
    for name, pattern in PATTERNS.items():
        counts = [len(re.findall(pattern, item["title"], re.IGNORECASE)) for item in items]
        scores = [round(analyzer.polarity_scores(item["title"])["compound"], 4)
                  for item, count in zip(items, counts, strict=True) if count]
        total = round(math.fsum(scores), 4)
        got = seen["keywords"][name]
        assert got["mentions"] == sum(counts) > 10, name
        assert got["sentences"] == len(scores), name
        assert got["score_sum"] == total, name
        assert got["mean"] == round(total / len(scores), 4), name
        assert [hit["score"] for hit in got["hits"]] == scores, name
        assert [hit["item"] for hit in got["hits"]] == [
            item["id"] for item, count in zip(items, counts, strict=True) if count]


def test_a_mentioning_sentence_of_a_text_is_scored_alone() -> None:
    item = {"id": "a", "title": "Markets today",
            "text": "Russia is praised for a wonderful gesture. Awful, terrible news for "
                    "Ukraine.\nNothing here."}

    seen = observe(news([item]))["keywords"]

    analyzer = SentimentIntensityAnalyzer()
    good = "Russia is praised for a wonderful gesture."
    bad = "Awful, terrible news for Ukraine."
    assert seen["Russia"]["hits"] == [{"item": "a", "sentence": good, "count": 1,
                                       "score": analyzer.polarity_scores(good)["compound"]}]
    assert seen["Ukraine"]["hits"][0]["sentence"] == bad
    assert seen["Ukraine"]["mean"] < 0 < seen["Russia"]["mean"]
    assert seen["Trump"] == {"mentions": 0, "sentences": 0, "score_sum": 0.0, "mean": 0.0,
                             "hits": []}


def test_each_distinct_sentence_is_scored_once_in_one_batch() -> None:
    items: list[dict[str, Any]] = [
        {"id": "1", "title": "Russia and Ukraine talk", "text": "Russia and Ukraine talk"},
        {"id": "2", "title": "Russia and Ukraine talk", "text": "Biden calls Russia."},
        {"id": "3", "title": "Nothing", "text": None}]
    scorer = Counting()

    seen = observe(news(items), scorer)["keywords"]

    assert scorer.batches == [["Russia and Ukraine talk", "Biden calls Russia."]]
    # repeated within item 1: once; repeated across items 1 and 2: once per item
    assert [hit["item"] for hit in seen["Russia"]["hits"]] == ["1", "2", "2"]
    assert seen["Russia"]["mentions"] == 3 and seen["Ukraine"]["sentences"] == 2


def test_scores_are_rounded_and_negative_zero_is_zero() -> None:
    class Noisy(Counting):
        def score(self, texts: Sequence[str]) -> list[float]:
            return [-0.00001, 0.123456789][:len(texts)]

    items = [{"id": "1", "title": "Trump", "text": "Trump again"}]

    seen = observe(news(items), Noisy())["keywords"]["Trump"]

    assert [hit["score"] for hit in seen["hits"]] == [0.0, 0.1235]
    assert dumps(seen["hits"][0]["score"]) == "0.0"
    assert seen["score_sum"] == 0.1235 and seen["mean"] == 0.0617


@pytest.mark.parametrize("scores", [[0.5], [0.5, 0.5, 0.5], [1.5, 0.0], [math.nan, 0.0]])
def test_a_misbehaving_scorer_is_an_oracle_error(scores: list[float]) -> None:
    class Broken(Counting):
        def score(self, texts: Sequence[str]) -> list[float]:
            return scores

    items = [{"id": "1", "title": "Trump", "text": "Biden"}]

    with pytest.raises(OracleError, match="scorer 'counting'"):
        observe(news(items), Broken())


@pytest.mark.parametrize("recorded", [
    Recorded(),
    Recorded(this_wake={"prices": Observation(oracle="prices", seq=1, as_of=AT, data={})}),
    news(error="OracleError: feed down", data=None),
    news(data={"prices": {}}),
    news(data={"items": "not a list"}),
])
def test_a_missing_or_failed_source_is_an_oracle_error(recorded: Recorded) -> None:
    with pytest.raises(OracleError, match="source 'news' has no data"):
        observe(recorded, Counting())


def test_an_item_that_is_not_a_mapping_is_an_oracle_error() -> None:
    with pytest.raises(OracleError, match="not a mapping"):
        observe(news(["a headline"]), Counting())  # type: ignore[list-item]
    with pytest.raises(OracleError, match="title that is not text"):
        observe(news([{"id": "x", "title": 3}]), Counting())


def test_items_a_feed_flags_as_not_new_are_not_scored_again() -> None:
    scorer = Counting()
    items = [{"id": "old", "title": "Trump wins", "new": False},
             {"id": "fresh", "title": "Trump loses", "new": True},
             {"id": "historical", "title": "Trump speaks"}]  # no flag: historical news

    seen = observe(news(items), scorer)

    assert seen["items"] == 2
    assert scorer.batches == [["Trump loses", "Trump speaks"]]
    assert [hit["item"] for hit in seen["keywords"]["Trump"]["hits"]] == ["fresh", "historical"]


def test_an_empty_feed_gives_zero_mentions_without_asking_the_scorer() -> None:
    scorer = Counting()

    seen = observe(news([]), scorer)

    assert seen["items"] == 0 and scorer.batches == []
    assert all(k["mentions"] == 0 and k["mean"] == 0.0 for k in seen["keywords"].values())


def test_the_output_is_identical_across_runs_and_dict_insertion_orders() -> None:
    items = headline_items()
    shuffled = [dict(reversed(list(item.items()))) for item in items]

    first = dumps(observe(news(items)))
    second = dumps(observe(news(items)))
    third = dumps(observe(news(shuffled)))

    assert first == second == third


def test_repeated_keywords_are_refused() -> None:
    with pytest.raises(ValueError, match="repeats keywords"):
        SentimentOracle("s", "news", [Keyword("Trump"), Keyword("Trump", ("Donald",))],
                        Counting())
    with pytest.raises(ValueError, match="at least one keyword"):
        SentimentOracle("s", "news", [], Counting())


def test_vader_scores_are_vaders_compound_rounded_to_four_decimals() -> None:
    texts = ["Great news!", "Terrible, awful disaster", "The meeting is on Tuesday", ""]
    analyzer = SentimentIntensityAnalyzer()

    scores = VaderScorer().score(texts)

    assert scores == [round(analyzer.polarity_scores(t)["compound"], 4) for t in texts]
    assert scores[0] > 0 > scores[1] and scores[2] == scores[3] == 0.0


def test_the_vader_identity_follows_the_version_and_the_lexicon_bytes(tmp_path: Path) -> None:
    same = tmp_path / "same.txt"
    same.write_bytes(VADER_LEXICON.read_bytes())
    edited = tmp_path / "edited.txt"
    edited.write_bytes(re.sub(rb"(?m)^great\t3\.1\t", b"great\t-3.1\t",
                              VADER_LEXICON.read_bytes()))

    default, copy, other = VaderScorer(), VaderScorer(same), VaderScorer(edited)

    assert default.identity.name == "vader"
    assert default.identity.version == version("vaderSentiment") == "3.3.2"
    assert default.identity == copy.identity
    assert other.identity.detail != default.identity.detail
    assert other.identity.key != default.identity.key
    assert other.score(["great"])[0] < 0 < default.score(["great"])[0]


def test_an_identity_key_is_a_short_stable_hash() -> None:
    identity = ScorerIdentity("vader", "3.3.2", "abc")

    assert identity.key == ScorerIdentity("vader", "3.3.2", "abc").key
    assert re.fullmatch(r"[0-9a-f]{16}", identity.key)
    assert identity.key != ScorerIdentity("vader", "3.3.2", "abd").key
    assert identity.key != ScorerIdentity("vader", "3.3.", "2abc").key
    assert identity.to_payload() == {"name": "vader", "version": "3.3.2", "detail": "abc",
                                     "key": identity.key}


def test_the_cache_scores_each_text_once_across_calls(tmp_path: Path) -> None:
    inner = Counting()
    scorer = CachedScorer(inner, ScoreCache(tmp_path / "deep" / "scores.sqlite"))

    first = scorer.score(["a", "bb", "a", "ccc"])
    second = scorer.score(["ccc", "dddd", "a", "dddd"])
    nothing = scorer.score([])

    assert inner.batches == [["a", "bb", "ccc"], ["dddd"]]
    assert first == Counting().score(["a", "bb", "a", "ccc"])
    assert second == Counting().score(["ccc", "dddd", "a", "dddd"])
    assert nothing == []
    assert scorer.identity == inner.identity


def test_the_cache_persists_and_is_kept_apart_per_scorer(tmp_path: Path) -> None:
    path = tmp_path / "scores.sqlite"
    texts = [f"headline {i}" for i in range(1200)]  # more keys than one query holds
    expected = CachedScorer(Counting(), ScoreCache(path)).score(texts)

    again, other = Counting(), Counting("other model")
    assert CachedScorer(again, ScoreCache(path)).score(texts) == expected
    CachedScorer(other, ScoreCache(path)).score(texts[:3])

    assert again.batches == [] and other.batches == [texts[:3]]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "deleted", "table dropped"])
def test_a_damaged_cache_starts_over(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "scores.sqlite"
    cache = ScoreCache(path)
    CachedScorer(Counting(), cache).score([f"text {i}" for i in range(300)])
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 500)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    elif damage == "deleted":
        path.unlink()
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


def test_vader_behind_the_cache_gives_vaders_scores(tmp_path: Path) -> None:
    texts = ["Great news!", "Terrible, awful disaster"]
    cached = CachedScorer(VaderScorer(), ScoreCache(tmp_path / "scores.sqlite"))

    assert cached.score(texts) == cached.score(texts) == VaderScorer().score(texts)


def test_the_default_cache_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENTFUND_CACHE", str(tmp_path))
    assert default_cache_path() == tmp_path / "scores.sqlite"

    monkeypatch.delenv("AGENTFUND_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / ".cache" / "agentfund" / "scores.sqlite"
