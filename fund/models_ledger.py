"""The model ledger: every text a fund's models scored, the entry that holds it, and the
decisions that used it.

Pure reading of a journal (or a bundle, or a JSON-lines export): one pass per actor
stream over its Wake, Observation and Decision entries. A scored observation (one that
records a scorer's identity, read by :func:`agentfund.oracles.ledger.scored_texts`) was
used by the Decision of its own wake: the first Decision after it, before the next Wake.
Observations recorded after a wake's decision (a backtest's final observations, before
its End) were used by none. A strategy that keeps a window of past wakes
(mention_sentiment's ``lookback``) reads a score again in later wakes through its own
state; those later decisions are not listed.

The public ledger (:func:`ledger_lines`) is one canonical JSON line per text scored per
observation: ``sha256`` of the text (UTF-8), ``model`` (the journaled identity, every
field), ``output`` (``score`` and any other per-text field recorded), ``time`` (the
entry's logical time), ``actor``, ``seq``, ``entry_hash`` and ``oracle``. docs/models.md
says how anyone holding a text and its claimed score checks it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentfund.oracles.ledger import (
    ModelIdentity,
    ScoredText,
    is_scored,
    model_identity,
    scored_texts,
)
from fund.canonical import dumps, loads
from fund.journal import Entry, EntryFilter, Journal
from fund.messages import DECISION, OBSERVATION, WAKE, is_side_stream

_SCORED = '"scorer":{'  # in the canonical text of every scored observation's payload


@dataclass(frozen=True, slots=True)
class EntryRef:
    """Where something is recorded: the actor's stream, the entry's seq, time and hash."""

    actor: str
    seq: int
    ts: str
    hash: str

    @classmethod
    def of(cls, entry: Entry) -> EntryRef:
        """Return the reference to a journal entry."""
        return cls(actor=entry.process_id, seq=entry.seq, ts=entry.ts, hash=entry.hash)


@dataclass(frozen=True, slots=True)
class DecisionRef:
    """A Decision entry that used a scored observation: where it is, its rule, its orders."""

    entry: EntryRef
    rule: str
    intents: int


@dataclass(frozen=True, slots=True)
class ScoredObservation:
    """An Observation entry recorded with a scorer's identity, its texts and its users."""

    entry: EntryRef
    oracle: str
    model: ModelIdentity
    texts: tuple[ScoredText, ...]
    decisions: tuple[DecisionRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Scoring:
    """One text scored in one observation."""

    scored: ScoredText
    observation: ScoredObservation


@dataclass(slots=True)
class ModelUse:
    """How a fund used one model: texts scored (one per text per observation), distinct
    texts, observations recorded with it, the first and last one that scored a text."""

    model: ModelIdentity
    texts: int = 0
    observations: int = 0
    first: str | None = None
    last: str | None = None
    actors: list[str] = field(default_factory=list)
    _distinct: set[str] = field(default_factory=set, repr=False)

    @property
    def distinct(self) -> int:
        """Return how many different texts (by sha256) it scored."""
        return len(self._distinct)

    def add(self, observation: ScoredObservation, texts: Sequence[ScoredText]) -> None:
        """Count an observation recorded with this model and the texts it scored with it."""
        self.observations += 1
        if observation.entry.actor not in self.actors:
            self.actors.append(observation.entry.actor)
        if texts:
            self.texts += len(texts)
            self._distinct.update(text.sha256 for text in texts)
            self.first = self.first or observation.entry.ts
            self.last = observation.entry.ts


def actor_streams(journal: Journal, actors: Sequence[str] = ()) -> list[str]:
    """Return the named actors' streams (all of them when none is named)."""
    known = [p for p in journal.processes() if not is_side_stream(p)]
    return [a for a in known if a in actors] if actors else known


def scored_observations(journal: Journal, actors: Sequence[str] = ()
                        ) -> Iterator[ScoredObservation]:
    """Yield every scored observation of the actors' streams with its wake's Decision."""
    for actor in actor_streams(journal, actors):
        pending: list[ScoredObservation] = []
        for entry in journal.read(actor, EntryFilter(kinds=(WAKE, OBSERVATION, DECISION))):
            if entry.kind == OBSERVATION:
                found = _scored(entry)
                if found is not None:
                    pending.append(found)
                continue
            used = _decision(entry) if entry.kind == DECISION else None
            for observation in pending:
                yield observation if used is None else _used(observation, used)
            pending.clear()
        yield from pending


def _scored(entry: Entry) -> ScoredObservation | None:
    if _SCORED not in entry.payload:  # most observations: prices, news; no parsing
        return None
    payload = loads(entry.payload)
    data = payload.get("data")
    if not is_scored(data):
        return None
    texts = scored_texts(data)
    model = model_identity(data["scorer"])
    return ScoredObservation(entry=EntryRef.of(entry), oracle=str(payload.get("oracle")),
                             model=model, texts=tuple(texts))


def _decision(entry: Entry) -> DecisionRef:
    payload = loads(entry.payload)
    intents = payload.get("intents")
    return DecisionRef(entry=EntryRef.of(entry), rule=str(payload.get("rule", "")),
                       intents=intents if isinstance(intents, int) else 0)


def _used(observation: ScoredObservation, decision: DecisionRef) -> ScoredObservation:
    return ScoredObservation(entry=observation.entry, oracle=observation.oracle,
                             model=observation.model, texts=observation.texts,
                             decisions=(*observation.decisions, decision))


def scorings(journal: Journal, actors: Sequence[str] = ()) -> Iterator[Scoring]:
    """Yield every text scored, observation by observation, in journal order."""
    for observation in scored_observations(journal, actors):
        for text in observation.texts:
            yield Scoring(scored=text, observation=observation)


def models_used(journal: Journal, actors: Sequence[str] = ()) -> list[ModelUse]:
    """Return each model the actors used, in the order first recorded."""
    uses: dict[str, ModelUse] = {}
    for observation in scored_observations(journal, actors):
        by_model: dict[str, list[ScoredText]] = {observation.model.canonical: []}
        for text in observation.texts:
            by_model.setdefault(text.model.canonical, []).append(text)
        for canonical, texts in by_model.items():
            model = texts[0].model if texts else observation.model
            uses.setdefault(canonical, ModelUse(model=model)).add(observation, texts)
    return list(uses.values())


def provenance(journal: Journal, sha256: str, actors: Sequence[str] = ()) -> list[Scoring]:
    """Return every recorded scoring of the text whose sha256 is given."""
    wanted = sha256.lower()
    return [s for s in scorings(journal, actors) if s.scored.sha256 == wanted]


def ledger_record(scoring: Scoring) -> dict[str, Any]:
    """Return one line of the public model ledger as a mapping."""
    entry = scoring.observation.entry
    return {"sha256": scoring.scored.sha256, "model": scoring.scored.model.fields,
            "output": dict(scoring.scored.output), "time": entry.ts, "actor": entry.actor,
            "seq": entry.seq, "entry_hash": entry.hash, "oracle": scoring.observation.oracle}


def ledger_lines(journal: Journal, actors: Sequence[str] = ()) -> Iterator[str]:
    """Yield the public model ledger: one canonical JSON line per text scored."""
    for scoring in scorings(journal, actors):
        yield dumps(ledger_record(scoring)) + "\n"


def decision_record(decision: DecisionRef) -> dict[str, Any]:
    """Return a decision reference as a mapping (for ``--json``)."""
    entry = decision.entry
    return {"actor": entry.actor, "seq": entry.seq, "time": entry.ts, "hash": entry.hash,
            "rule": decision.rule, "intents": decision.intents}
