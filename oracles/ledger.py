"""What a scored observation says about its model: the one reader of a scored payload.

A derived oracle that scores texts (``SentimentOracle``) records, in its observation's
``data``, the scorer's identity under ``scorer`` and, per keyword, the hits: the text
scored (``sentence``), its ``score``, the ``item`` it came from and how often the keyword
occurs in it (``count``). Everything that reads "which model produced which output" (the
model ledger, ``fund models``, ``fund provenance``, the UI) reads it through
:func:`scored_texts`, so a change of that shape is made here once.

The reader keeps what it does not know: every field of the identity (a weights file's
sha256, a prompt's, decoding parameters) and every per-text field besides the text, the
item and the count (an error, the blobs of a prompt and a completion) — they are the
output the model produced. A hit may carry its own ``scorer`` (a text scored by another
model than the observation's); it is used for that text.

A model that is called per text (an LLM) also records ``calls``: per text, the ``text``,
the blob digests of its ``prompt`` and ``completion``, and its ``score`` or its ``error``
(``failed``). Those fields join the text's output; a text the model failed to score has a
call and no hit, and is a scored text all the same, with no score.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentfund.oracles.scoring import text_key
from fund.canonical import dumps, loads

_PLACE = frozenset({"sentence", "item", "count", "scorer"})  # where a text was, not output


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    """A scorer or model as journaled: name, version, key, and every field recorded."""

    name: str
    version: str
    key: str
    canonical: str  # the journaled identity as canonical JSON: what tells two models apart

    @property
    def fields(self) -> dict[str, Any]:
        """Return every field of the journaled identity."""
        found: dict[str, Any] = loads(self.canonical)
        return found

    @property
    def detail(self) -> str:
        """Return the identity's detail (e.g. the sha256 of the lexicon or weights)."""
        return str(self.fields.get("detail", ""))

    @property
    def label(self) -> str:
        """Return ``name version (key)``, how a page or a table names the model."""
        return " ".join(part for part in (self.name, self.version, f"({self.key})") if part)


@dataclass(frozen=True, slots=True)
class ScoredText:
    """One distinct text an observation scored: its sha256, the model and its output."""

    text: str
    sha256: str
    model: ModelIdentity
    output: Mapping[str, Any]  # {"score": …} and any other per-text field recorded
    keywords: tuple[str, ...] = ()  # the keywords it was found under
    items: tuple[Any, ...] = field(default=())  # the ids of the items it came from

    @property
    def score(self) -> float | None:
        """Return the recorded score, or None when the model gave none (an error)."""
        value = self.output.get("score")
        return float(value) if isinstance(value, int | float) else None


def model_identity(payload: Mapping[str, Any]) -> ModelIdentity:
    """Return the identity a journaled ``scorer`` mapping records."""
    canonical = dumps(dict(payload))
    key = payload.get("key")
    if not isinstance(key, str) or not key:
        key = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return ModelIdentity(name=str(payload.get("name", "?")),
                         version=str(payload.get("version", "")), key=key,
                         canonical=canonical)


def is_scored(data: Any) -> bool:
    """Whether an observation's data was produced by a scorer (records its identity)."""
    return isinstance(data, Mapping) and isinstance(data.get("scorer"), Mapping)


def scored_texts(data: Mapping[str, Any] | None) -> list[ScoredText]:
    """Return each distinct text a scored observation's data holds, with model and output.

    In the order first found (keywords as recorded, hits in order); a text found under
    several keywords is one entry listing them all. Data that records no scorer (a price
    or news observation, a failed one: None) holds none.
    """
    if data is None or not is_scored(data):
        return []
    model = model_identity(data["scorer"])
    found: dict[str, ScoredText] = {}
    keywords = data.get("keywords")
    for name, figures in (keywords.items() if isinstance(keywords, Mapping) else ()):
        hits = figures.get("hits") if isinstance(figures, Mapping) else None
        for hit in hits if isinstance(hits, list) else ():
            if not isinstance(hit, Mapping) or not isinstance(hit.get("sentence"), str):
                continue
            text = hit["sentence"]
            known = found.get(text)
            if known is None:
                own = hit.get("scorer")
                found[text] = ScoredText(
                    text=text, sha256=text_key(text),
                    model=model_identity(own) if isinstance(own, Mapping) else model,
                    output={k: v for k, v in hit.items() if k not in _PLACE},
                    keywords=(str(name),), items=(hit.get("item"),))
            else:
                found[text] = ScoredText(
                    text=text, sha256=known.sha256, model=known.model, output=known.output,
                    keywords=_add(known.keywords, str(name)),
                    items=_add(known.items, hit.get("item")))
    _add_calls(found, data.get("calls"), model)
    return list(found.values())


def _add_calls(found: dict[str, ScoredText], calls: Any, model: ModelIdentity) -> None:
    """Merge a model's call records (its prompt and completion blobs, its score or error)
    into the texts' outputs; a text the model failed to score has a call and no hit."""
    for call in calls if isinstance(calls, list) else ():
        if not isinstance(call, Mapping) or not isinstance(call.get("text"), str):
            continue
        text = call["text"]
        known = found.get(text)
        output = {k: v for k, v in call.items() if k not in _PLACE and k != "text"}
        if known is None:
            found[text] = ScoredText(text=text, sha256=text_key(text), model=model,
                                     output=output)
        else:
            found[text] = ScoredText(text=text, sha256=known.sha256, model=known.model,
                                     output={**output, **known.output},
                                     keywords=known.keywords, items=known.items)


def _add(values: tuple[Any, ...], value: Any) -> tuple[Any, ...]:
    return values if value in values else (*values, value)
