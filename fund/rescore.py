"""``fund verify --rescore``: score every recorded text again and say how often the scorer
agrees with what was recorded.

``fund verify`` replays a model's observations from their recorded completions: it proves
the journal is what the model said, not that the model says it again. Rescoring asks the
configured scorer — the GGUF file, the server — once more for every distinct text a
stream's derived observations scored (never from a cache), and counts, per recorded
score, the ones it gives again: a score equal to 4 decimals, or an error again where one
was recorded. A greedy model on the machine that ran it agrees 100 %; another machine,
thread count or build may not. It also says whether the identity it runs under now is the
one recorded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fund.actor import ActorSpec
from fund.canonical import dumps, loads
from fund.journal import EntryFilter, Journal
from fund.messages import OBSERVATION, START

_BATCH = 64  # texts per call to the scorer


@dataclass(frozen=True, slots=True)
class Agreement:
    """How one derived oracle of one stream scored its recorded texts again."""

    actor: str
    oracle: str
    scorer: str  # name and version of the scorer as it runs now
    scores: int  # recorded scores and errors compared
    texts: int  # distinct texts scored again
    agree: int
    identity: str | None = None  # what differs in the identity, if anything

    def line(self) -> str:
        """One line for the terminal."""
        if not self.scores:
            return f"{self.actor}: {self.oracle}: nothing to rescore"
        rate = self.agree / self.scores
        text = (f"{self.actor}: {self.oracle}: rescored {self.texts} texts with {self.scorer}: "
                f"{self.agree} of {self.scores} scores agree ({rate:.1%})").replace("%", " %")
        if self.identity:
            text += f"; {self.identity}"
        return text


def rescore_stream(journal: Journal, actor: str) -> list[Agreement]:
    """Score again every text the stream's derived observations scored; one Agreement per
    derived oracle. Raises what the scorer raises (OracleError: the model cannot answer)."""
    from agentfund.oracles.kinds import History, build, derives

    entries = journal.read(actor, EntryFilter(kinds=(START, OBSERVATION)))
    start = next(iter(entries), None)
    if start is None or start.kind != START:
        return []
    spec = ActorSpec.from_start(loads(start.payload))
    derived = [o for o in spec.declared() if derives(o)]
    if not derived:
        return []
    recorded: dict[str, list[tuple[str, float | None]]] = {o.name: [] for o in derived}
    identities: dict[str, dict[str, Any]] = {}
    for entry in entries:
        payload = loads(entry.payload)
        data = payload.get("data")
        if payload.get("oracle") in recorded and isinstance(data, Mapping):
            recorded[payload["oracle"]].extend(_recorded(data))
            identities.setdefault(payload["oracle"], dict(data.get("scorer") or {}))
    oracles: dict[str, Any] = build(tuple(derived), {}, History(candles={}))
    return [_agreement(actor, name, oracles[name].scorer, pairs, identities.get(name))
            for name, pairs in recorded.items()]


def _recorded(data: Mapping[str, Any]) -> Iterator[tuple[str, float | None]]:
    """(text, score or None for an error) of each text an observation scored."""
    calls = data.get("calls")
    if isinstance(calls, list):
        for call in calls:
            yield str(call["text"]), call.get("score") if "error" not in call else None
        return
    seen: set[str] = set()
    for figures in (data.get("keywords") or {}).values():
        for hit in figures.get("hits") or ():
            if hit["sentence"] not in seen:
                seen.add(hit["sentence"])
                yield hit["sentence"], hit.get("score")


def _agreement(actor: str, name: str, scorer: Any, pairs: Sequence[tuple[str, float | None]],
               was: Mapping[str, Any] | None) -> Agreement:
    texts = list(dict.fromkeys(text for text, _ in pairs))
    again: dict[str, float | None] = {}
    for start in range(0, len(texts), _BATCH):
        again.update(_score(scorer, texts[start:start + _BATCH]))
    agree = sum(1 for text, score in pairs if again.get(text) == score)
    now = scorer.identity.to_payload() if texts else None
    differs = None
    if was and now and dumps(was) != dumps(now):
        differs = f"identity now {dumps(now)}, recorded {dumps(was)}"
    return Agreement(actor=actor, oracle=name,
                     scorer=f"{scorer.identity.name} {scorer.identity.version}",
                     scores=len(pairs), texts=len(texts), agree=agree, identity=differs)


def _score(scorer: Any, texts: list[str]) -> dict[str, float | None]:
    """Fresh scores (None for a text the model gave no score), bypassing any cache."""
    from agentfund.oracles.llm import ModelScorer

    if isinstance(scorer, ModelScorer):
        calls = scorer.score_calls(texts, _Discard(), fresh=True)
        return {call.text: call.score for call in calls}
    inner = getattr(scorer, "inner", scorer)  # a CachedScorer's own scorer
    return dict(zip(texts, (float(s) for s in inner.score(texts)), strict=True))


class _Discard:
    def put_blob(self, data: bytes) -> str:
        from fund.journal.base import blob_digest

        return blob_digest(data)
