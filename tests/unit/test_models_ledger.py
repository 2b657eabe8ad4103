"""The model ledger's reader and fold (oracles/ledger.py, fund/models_ledger.py) on payloads
and streams written here: extra identity and output fields kept, texts found under two
keywords scored once, each observation tied to its own wake's decision."""

from __future__ import annotations

import hashlib
from typing import Any

from agentfund.oracles.ledger import scored_texts
from fund.canonical import loads
from fund.journal import JournalWriter
from fund.journal.memory import MemoryJournal
from fund.messages import DECISION, OBSERVATION, WAKE
from fund.models_ledger import ledger_lines, models_used, provenance

VADER = {"name": "vader", "version": "3.3.2", "detail": "ab" * 32, "key": "84cdfb46d79a8594"}
LLAMA = {"name": "llama", "version": "b1", "detail": "cd" * 32, "key": "0123456789abcdef",
         "prompt_sha256": "ef" * 32, "temperature": 0}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hit(sentence: str, score: float | None, **extra: Any) -> dict[str, Any]:
    return {"item": f"id-{sentence[:3]}", "sentence": sentence, "score": score, "count": 1,
            **extra}


def sentiment(scorer: dict[str, Any], **keywords: list[dict[str, Any]]) -> dict[str, Any]:
    return {"scorer": scorer, "source": "news", "items": 1,
            "keywords": {name: {"hits": hits, "mentions": len(hits), "sentences": len(hits),
                                "score_sum": 0.0, "mean": 0.0}
                         for name, hits in keywords.items()}}


def test_a_text_under_two_keywords_is_one_scored_text_with_both() -> None:
    both = hit("Biden and Trump meet", 0.25)
    data = sentiment(VADER, Biden=[both], Trump=[both, hit("Trump sues", -0.5)])

    found = scored_texts(data)

    assert [(t.text, t.keywords, t.score) for t in found] == [
        ("Biden and Trump meet", ("Biden", "Trump"), 0.25), ("Trump sues", ("Trump",), -0.5)]
    assert found[0].sha256 == sha("Biden and Trump meet")
    assert found[0].model.label == "vader 3.3.2 (84cdfb46d79a8594)"


def test_fields_the_reader_does_not_know_are_kept() -> None:
    data = sentiment(LLAMA, Trump=[hit("Trump wins", 0.9, completion="aa" * 32),
                                   hit("Trump?", None, error="unparsable completion")])
    data["blobs"] = ["aa" * 32]

    found = scored_texts(data)

    assert found[0].model.fields == LLAMA
    assert found[0].output == {"score": 0.9, "completion": "aa" * 32}
    assert found[1].score is None and found[1].output["error"] == "unparsable completion"


def test_a_models_calls_join_the_output_and_a_failed_text_is_still_listed() -> None:
    data = sentiment(LLAMA, Trump=[hit("Trump wins", 0.9)])
    data["calls"] = [{"text": "Trump wins", "prompt": "aa" * 32, "completion": "bb" * 32,
                      "score": 0.9},
                     {"text": "Trump?", "prompt": "cc" * 32, "completion": "dd" * 32,
                      "error": "not a number", "failed": "parse"}]

    wins, failed = scored_texts(data)

    assert wins.output == {"score": 0.9, "prompt": "aa" * 32, "completion": "bb" * 32}
    assert wins.keywords == ("Trump",)
    assert (failed.text, failed.score, failed.keywords, failed.model.name) == \
        ("Trump?", None, (), "llama")
    assert failed.output == {"prompt": "cc" * 32, "completion": "dd" * 32,
                             "error": "not a number", "failed": "parse"}


def test_a_hit_with_its_own_scorer_names_that_model() -> None:
    data = sentiment(VADER, Trump=[hit("Trump wins", 0.9, scorer=LLAMA), hit("Trump", 0.0)])

    found = scored_texts(data)

    assert [t.model.name for t in found] == ["llama", "vader"]
    assert "scorer" not in found[0].output


def test_data_without_a_scorer_holds_no_scored_text() -> None:
    assert scored_texts(None) == []
    assert scored_texts({"items": [{"title": "Trump wins"}]}) == []
    assert scored_texts({"scorer": VADER, "keywords": {"Trump": {"hits": "junk"}}}) == []


def stream() -> MemoryJournal:
    """Three wakes: VADER, VADER (no text), then LLAMA; a final observation after the last
    decision, as a backtest's end records."""
    journal = MemoryJournal()
    writer = JournalWriter(journal, "mentions")
    for minute, data in enumerate([
            sentiment(VADER, Trump=[hit("Trump wins", 0.5), hit("Trump loses", -0.5)]),
            sentiment(VADER, Trump=[]),
            sentiment(LLAMA, Trump=[hit("Trump wins", 0.75)])]):
        ts = f"2024-01-01T00:0{minute}:00.000000Z"
        writer.append(WAKE, ts, {"scheduled": ts})
        writer.append(OBSERVATION, ts, {"oracle": "prices", "as_of": ts, "data": {}})
        writer.append(OBSERVATION, ts, {"oracle": "sentiment", "as_of": ts, "data": data})
        writer.append(DECISION, ts, {"rule": f"rule-{minute}", "reasons": {}, "intents": 1})
    ts = "2024-01-01T00:09:00.000000Z"
    writer.append(OBSERVATION, ts, {"oracle": "sentiment", "as_of": ts,
                                    "data": sentiment(LLAMA, Trump=[hit("Trump ends", 0.1)])})
    writer.append(OBSERVATION, ts, {"oracle": "sentiment", "as_of": ts, "error": "down"})
    writer.flush()
    return journal


def test_models_count_texts_observations_and_first_and_last_use() -> None:
    vader, llama = models_used(stream())

    assert (vader.model.key, vader.texts, vader.distinct, vader.observations) == \
        (VADER["key"], 2, 2, 2)
    assert (vader.first, vader.last) == ("2024-01-01T00:00:00.000000Z",) * 2
    assert (llama.texts, llama.observations, llama.first, llama.last) == \
        (2, 2, "2024-01-01T00:02:00.000000Z", "2024-01-01T00:09:00.000000Z")


def test_provenance_ties_each_scoring_to_its_own_wakes_decision() -> None:
    journal = stream()

    found = provenance(journal, sha("Trump wins"))
    late, = provenance(journal, sha("Trump ends"))

    assert [(s.scored.model.name, s.scored.score, [d.rule for d in s.observation.decisions])
            for s in found] == [("vader", 0.5, ["rule-0"]), ("llama", 0.75, ["rule-2"])]
    assert [s.observation.entry.seq for s in found] == [3, 11]
    assert late.observation.decisions == ()
    assert provenance(journal, sha("Biden")) == []


def test_the_ledger_has_a_line_per_text_scored_naming_its_entry() -> None:
    journal = stream()
    entries = {e.seq: e for e in journal.read("mentions")}

    lines = [loads(line) for line in ledger_lines(journal)]

    assert len(lines) == 4
    for line in lines:
        entry = entries[line["seq"]]
        assert line["entry_hash"] == entry.hash and line["time"] == entry.ts
        hits = loads(entry.payload)["data"]["keywords"]["Trump"]["hits"]
        assert {sha(h["sentence"]): h["score"] for h in hits}[line["sha256"]] == \
            line["output"]["score"]
    assert lines[-1]["model"] == LLAMA
