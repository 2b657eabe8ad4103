"""Sentiment of the news per keyword: a derived oracle that scores another one's items."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentfund.oracles.base import NOTHING_RECORDED, BlobSink, Oracle, OracleError, Recorded
from agentfund.oracles.llm import ModelScorer
from agentfund.oracles.mentions import Keyword, split_sentences
from agentfund.oracles.scoring import Scorer, clean_score


@dataclass(frozen=True, slots=True)
class _Hit:
    keyword: int  # index into the oracle's keywords
    item: Any  # the item's id
    sentence: str
    count: int


class SentimentOracle(Oracle):
    """Per keyword: how often the news of this wake mentions it, and how warmly.

    Reads the items that the feed oracle ``source`` recorded earlier in the same wake,
    except those flagged ``"new": false`` (an RSS oracle lists a feed's old items too;
    historical and combined live news list only new ones). A title is one sentence; a
    text is split into sentences; a sentence repeated within one item (a summary that
    repeats the title) counts once. Every sentence that mentions a keyword is scored,
    each distinct sentence once, in one call to the scorer.
    """

    def __init__(self, name: str, source: str, keywords: Sequence[Keyword],
                 scorer: Scorer) -> None:
        names = [keyword.name for keyword in keywords]
        if not names:
            raise ValueError(f"sentiment oracle {name!r} needs at least one keyword")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"sentiment oracle {name!r} repeats keywords {repeated}")
        self.name = name
        self.source = source
        self.keywords = tuple(keywords)
        self.scorer = scorer
        self._patterns = tuple(keyword.compile() for keyword in self.keywords)
        self._quiet = {keyword.name: _aggregate([], {}) for keyword in self.keywords}
        self._identity: tuple[Any, dict[str, str]] | None = None

    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        """Return the mentions and sentiment per keyword of the source's items."""
        items = self._items(recorded)
        if not items:  # most wakes: the figures of no news, built once, nothing to score
            return {"scorer": self._scorer_payload(), "source": self.source, "items": 0,
                    "keywords": self._quiet}
        hits = [hit for item in items for hit in self._find(item)]
        sentences = list(dict.fromkeys(hit.sentence for hit in hits))
        calls: dict[str, Any] = {}
        if isinstance(self.scorer, ModelScorer):  # a model's calls are recorded, each text's
            scores, calls = self._score_model(sentences, blobs)
            hits = [hit for hit in hits if hit.sentence in scores]  # unscored: left out
        elif hits:
            scores = self._score(sentences)
        if hits:
            keywords = {keyword.name: _aggregate([h for h in hits if h.keyword == index], scores)
                        for index, keyword in enumerate(self.keywords)}
        else:
            keywords = self._quiet  # the same figures _aggregate gives for no hits
        return {"scorer": self._scorer_payload(), "source": self.source,
                "items": len(items), "keywords": keywords, **calls}

    def _scorer_payload(self) -> dict[str, str]:
        """The scorer's identity as journaled, encoded again only when the identity changes
        (shared between observations: never mutated)."""
        identity = self.scorer.identity
        if self._identity is None or self._identity[0] is not identity:
            self._identity = (identity, identity.to_payload())
        return self._identity[1]

    def _score_model(self, sentences: list[str], blobs: BlobSink
                     ) -> tuple[dict[str, float], dict[str, Any]]:
        """Scores of the sentences a model scored, and the record of every call: its prompt
        and completion (blobs), its score or its error."""
        assert isinstance(self.scorer, ModelScorer)
        if not sentences:
            return {}, {}
        calls = self.scorer.score_calls(sentences, blobs)
        if [call.text for call in calls] != sentences:
            raise OracleError(f"scorer {self.scorer.identity.name!r} did not answer for "
                              "each sentence in order")
        digests = [d for call in calls for d in (call.prompt, call.completion) if d]
        return ({call.text: call.score for call in calls if call.score is not None},
                {"calls": [call.to_payload() for call in calls],
                 "blobs": list(dict.fromkeys(digests))})

    def _items(self, recorded: Recorded) -> list[Mapping[str, Any]]:
        observation = recorded.this_wake.get(self.source)
        data = observation.data if observation is not None and observation.ok else None
        items = data.get("items") if data else None
        if not isinstance(items, list | tuple):
            raise OracleError(f"source {self.source!r} has no data")
        for position, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise OracleError(f"item {position} of source {self.source!r} is not a mapping")
        # a feed oracle lists every item and flags those seen before: they were scored then
        return [item for item in items if item.get("new") is not False]

    def _find(self, item: Mapping[str, Any]) -> list[_Hit]:
        title = _text(item, "title").strip()
        sentences = dict.fromkeys([title] if title else [])
        sentences.update(dict.fromkeys(split_sentences(_text(item, "text"))))
        hits = []
        for index, pattern in enumerate(self._patterns):
            for sentence in sentences:
                count = sum(1 for _ in pattern.finditer(sentence))
                if count:
                    hits.append(_Hit(index, item.get("id"), sentence, count))
        return hits

    def _score(self, sentences: list[str]) -> dict[str, float]:
        if not sentences:
            return {}
        identity = self.scorer.identity.name
        scores = self.scorer.score(sentences)
        if len(scores) != len(sentences):
            raise OracleError(f"scorer {identity!r} returned {len(scores)} scores for"
                              f" {len(sentences)} sentences")
        try:
            cleaned = [clean_score(score) for score in scores]
        except (TypeError, ValueError) as exc:
            raise OracleError(f"scorer {identity!r}: {exc}") from None
        return dict(zip(sentences, cleaned, strict=True))


def _text(item: Mapping[str, Any], field: str) -> str:
    value = item.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise OracleError(f"item {item.get('id')!r} has a {field} that is not text")
    return value


def _aggregate(hits: list[_Hit], scores: Mapping[str, float]) -> dict[str, Any]:
    values = [scores[hit.sentence] for hit in hits]
    total = round(math.fsum(values), 4) + 0.0  # + 0.0 turns -0.0 into 0.0
    mean = round(total / len(values), 4) + 0.0 if values else 0.0
    return {
        "mentions": sum(hit.count for hit in hits),
        "sentences": len(hits),
        "score_sum": total,
        "mean": mean,
        "hits": [{"item": hit.item, "sentence": hit.sentence, "score": scores[hit.sentence],
                  "count": hit.count} for hit in hits],
    }
