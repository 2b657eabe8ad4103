"""Large language models as sentiment scorers, on the fund's own machine.

Two kinds, configured as a scorer table: ``{ kind = "llama", model = "m.gguf" }`` runs a
GGUF file in-process through llama-cpp-python (oracles/llm_llama.py, the ``llama``
extra), and ``{ kind = "openai", url = "http://127.0.0.1:8080/v1", model = "…" }`` asks
a server that speaks the OpenAI chat API — llama.cpp's, Ollama, vLLM (oracles/llm_openai.py,
loopback only unless ``allow_remote = true``). Both ask, for each text, for a JSON object
``{"score": x}`` with x in [-1, 1], constrained by a grammar or a JSON schema.

What is recorded: every call's exact request (the prompt) and the model's raw answer (the
completion) are blobs of the journal, and the sentiment observation lists, per text, the
two digests and the score parsed from the completion — or the error, when the answer is
not a score (that text is then left out of the figures). The scorer's identity pins what
decides the output: the GGUF file's sha256 or the server's reported model, the prompt's
sha256 and the decoding parameters.

Such a model is not bit-reproducible across machines, so the scorers are not
``deterministic``: ``fund verify`` replays a recorded observation from its recorded
completions (parsing each again, checking each prompt is what the configured prompt gives
for its text and that the identity is the configured one), and ``fund verify --rescore``
asks the model again and reports how often it agrees.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentfund.oracles.base import BlobSink, OracleError
from agentfund.oracles.scoring import Scorer, ScorerIdentity, clean_score, text_key
from fund.cache import cache_root
from fund.canonical import dumps
from fund.journal.base import blob_digest

EXTRA = "pip install 'agentfund[llama]'"
DEFAULT_SYSTEM = ("You rate the sentiment of news headlines for traders. Answer with a JSON "
                  "object {\"score\": x}, x from -1 (very bad news) to 1 (very good news).")
DEFAULT_PROMPT = "Headline: {text}\nSentiment score from -1 to 1:"
SCORE_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["score"],
    "properties": {"score": {"type": "number", "minimum": -1, "maximum": 1}}}
# the same answer as a llama.cpp grammar (GBNF): a number in [-1, 1], at most 4 decimals
SCORE_GRAMMAR = r'''root ::= "{\"score\": " num "}"
num ::= "-"? ("0" ("." d d? d? d?)? | "1" (".0" "0"? "0"? "0"?)?)
d ::= [0-9]
'''
Structured = Literal["grammar", "json_schema", "json_object", "none"]


class LLMOptions(BaseModel):
    """The options both kinds share: the prompt, decoding and the cache (validated as the
    registry validates every scorer's: TOML types as written, no unknown keys)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: str

    prompt: str = Field(DEFAULT_PROMPT, description="the user message; {text} is the text")
    system: str = Field(DEFAULT_SYSTEM, description="the system message")
    temperature: float = Field(0.0, ge=0, le=2, description="0: greedy decoding")
    seed: int = Field(1, description="the sampler's seed")
    max_tokens: int = Field(24, ge=1, le=4096, description="tokens an answer may take")
    timeout_s: float = Field(60.0, gt=0, description="seconds one answer may take")
    cache: bool = Field(True, description="reuse a completion of the same text and identity")

    @field_validator("prompt")
    @classmethod
    def _has_text(cls, value: str) -> str:
        if "{text}" not in value:
            raise ValueError("the prompt must contain {text}, where the text goes")
        return value

    def prompt_sha256(self) -> str:
        """The sha256 of the prompt template (system and user message)."""
        return hashlib.sha256(dumps({"prompt": self.prompt, "system": self.system})
                              .encode()).hexdigest()

    def messages(self, text: str) -> list[dict[str, str]]:
        """The chat messages that ask for the score of ``text``."""
        return [{"role": "system", "content": self.system},
                {"role": "user", "content": self.prompt.replace("{text}", text)}]

    def decoding(self) -> dict[str, Any]:
        """The decoding parameters, as the identity pins them."""
        return {"temperature": self.temperature, "seed": self.seed,
                "max_tokens": self.max_tokens}


@dataclass(frozen=True, slots=True)
class Answer:
    """What one call gave: the raw completion (None if there was none), or why the model
    gave no usable answer (an HTTP error status, a timeout)."""

    completion: bytes | None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One text's record in an observation: its prompt and completion blobs, and its score
    or why it has none — ``failed`` is ``"answer"`` when the model gave no usable answer,
    ``"parse"`` when its answer is not a score."""

    text: str
    prompt: str
    completion: str | None
    score: float | None = None
    error: str | None = None
    failed: Literal["answer", "parse"] | None = None

    def to_payload(self) -> dict[str, Any]:
        """The journaled form."""
        payload: dict[str, Any] = {"text": self.text, "prompt": self.prompt}
        if self.completion is not None:
            payload["completion"] = self.completion
        if self.error is None:
            payload["score"] = self.score
        else:
            payload.update(error=self.error, failed=self.failed or "parse")
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Call:
        """Rebuild a call from its journaled form."""
        failed = payload.get("failed")
        return cls(text=str(payload["text"]), prompt=str(payload["prompt"]),
                   completion=payload.get("completion"), score=payload.get("score"),
                   error=payload.get("error"),
                   failed="answer" if failed == "answer" else "parse" if failed else None)


class ReplayError(Exception):
    """A recorded model observation does not replay: the message says where and why."""


class ModelScorer(Scorer):
    """A scorer that asks a model, one call per text, and records each call.

    Subclasses say how a request is written (:meth:`request`), how a batch of requests is
    answered (:meth:`complete`, OracleError when the model cannot answer at all), how the
    generated text is read from a raw completion (:meth:`content`), and what the identity
    pins that is known without the model running (:meth:`pinned`).
    """

    deterministic = False
    kind: str  # the scorer kind, the identity's name
    options: LLMOptions

    @abstractmethod
    def current_identity(self) -> ScorerIdentity:
        """The identity as of now (a server is asked which model it serves)."""

    @abstractmethod
    def pinned(self) -> dict[str, Any]:
        """The parts of the identity's detail that the configuration alone decides."""

    @abstractmethod
    def request(self, text: str) -> bytes:
        """The exact request that asks for the score of ``text`` (recorded as its prompt)."""

    @abstractmethod
    def complete(self, requests: Sequence[bytes]) -> list[Answer]:
        """Answer each request; raise OracleError when the model cannot answer at all."""

    @abstractmethod
    def content(self, completion: bytes) -> str:
        """The text the model generated, read from a raw completion (ValueError if none)."""

    def parse(self, completion: bytes) -> float:
        """The score in a raw completion; ValueError saying why there is none."""
        return parse_score(self.content(completion))

    def score_calls(self, texts: Sequence[str], blobs: BlobSink, *,
                    fresh: bool = False) -> list[Call]:
        """Score each text, storing its prompt and completion in ``blobs`` (``fresh``: ask
        the model even for a text whose completion is cached)."""
        identity = self.current_identity()
        requests = [self.request(text) for text in texts]
        cache = CompletionCache(default_cache_path()) if self.options.cache else None
        keys = [(text_key(text), identity.key) for text in texts]
        known = cache.get_many(keys) if cache is not None and not fresh else {}
        todo = [i for i, key in enumerate(keys) if key not in known]
        answers = dict(zip(todo, self.complete([requests[i] for i in todo]), strict=True))
        calls, new = [], {}
        for index, text in enumerate(texts):
            answer = answers.get(index) or Answer(known[keys[index]])
            call = self._call(text, blobs.put_blob(requests[index]), answer, blobs)
            calls.append(call)
            if index in answers and call.error is None and answer.completion is not None:
                new[keys[index]] = answer.completion
        if cache is not None:
            cache.put_many(new)
        return calls

    def _call(self, text: str, prompt: str, answer: Answer, blobs: BlobSink) -> Call:
        completion = None if answer.completion is None else blobs.put_blob(answer.completion)
        if answer.error is not None:
            return Call(text=text, prompt=prompt, completion=completion, error=answer.error,
                        failed="answer")
        try:
            score = self.parse(answer.completion or b"")
        except ValueError as exc:
            return Call(text=text, prompt=prompt, completion=completion, error=str(exc),
                        failed="parse")
        return Call(text=text, prompt=prompt, completion=completion, score=score)

    def score(self, texts: Sequence[str]) -> list[float]:
        """Score texts without recording (``fund oracle``); OracleError if one fails."""
        calls = self.score_calls(texts, _Discard())
        failed = next((call for call in calls if call.score is None), None)
        if failed is not None:
            raise OracleError(f"scorer {self.identity.name}: {failed.text!r}: {failed.error}")
        return [float(call.score or 0.0) for call in calls]

    def replaying(self, data: Mapping[str, Any], blob: Callable[[str], bytes]) -> Scorer:
        """A scorer that answers from an observation's recorded calls (``fund verify``);
        ReplayError if the recorded identity is not this scorer's."""
        recorded = data.get("scorer") or {}
        check_identity(recorded, self.kind, self.pinned())  # asks no server
        identity = ScorerIdentity(str(recorded["name"]), str(recorded["version"]),
                                  str(recorded["detail"]))
        calls = {call.text: call for call in recorded_calls(data)}
        return _Replaying(self, identity, calls, blob)


def check_identity(recorded: Mapping[str, Any], name: str, pinned: Mapping[str, Any]) -> None:
    """The recorded identity must be of scorer ``name`` and agree with what is pinned."""
    if recorded.get("name") != name:
        raise ReplayError(f"scored by {recorded.get('name')!r}, but the configured scorer is "
                          f"{name!r}")
    try:
        detail = json.loads(str(recorded.get("detail")))
    except ValueError:
        raise ReplayError("the recorded scorer identity has no readable detail") from None
    for key, value in pinned.items():
        if not isinstance(detail, dict) or detail.get(key) != value:
            was = detail.get(key) if isinstance(detail, dict) else None
            raise ReplayError(f"scored with {key} {dumps(was)}, but the configured scorer "
                              f"has {dumps(value)}")


class _Replaying(ModelScorer):
    """The recorded calls of one observation, checked and parsed again."""

    def __init__(self, model: ModelScorer, identity: ScorerIdentity,
                 calls: Mapping[str, Call], blob: Callable[[str], bytes]) -> None:
        self.model = model
        self.kind = model.kind
        self.identity = identity
        self.options = model.options.model_copy(update={"cache": False})
        self.calls = calls
        self.blob = blob

    def current_identity(self) -> ScorerIdentity:
        return self.identity

    def pinned(self) -> dict[str, Any]:
        return self.model.pinned()

    def request(self, text: str) -> bytes:
        return self.model.request(text)

    def complete(self, requests: Sequence[bytes]) -> list[Answer]:
        raise AssertionError("a replay never asks the model")

    def content(self, completion: bytes) -> str:
        return self.model.content(completion)

    def score_calls(self, texts: Sequence[str], blobs: BlobSink, *,
                    fresh: bool = False) -> list[Call]:
        replayed = []
        for text in texts:
            call = self.calls.get(text)
            if call is None:
                raise ReplayError(f"no recorded call scored {text!r}")
            if call.prompt != blob_digest(self.request(text)):
                raise ReplayError(f"the recorded prompt for {text!r} is not what the "
                                  "configured prompt gives")
            completion = None if call.completion is None else self.blob(call.completion)
            # a model's refusal is an input; an answer's score is parsed again
            answer = Answer(completion, call.error if call.failed == "answer" else None)
            replayed.append(self._call(text, call.prompt, answer, _Discard()))
        return replayed


class _Discard:
    """A blob sink that keeps nothing (scoring outside a wake)."""

    def put_blob(self, data: bytes) -> str:
        return blob_digest(data)


def parse_score(content: str) -> float:
    """The score in a model's answer: ``{"score": x}`` (or a bare number) with x in [-1, 1]."""
    try:
        value = json.loads(content.strip())
    except ValueError:
        raise ValueError(f"unparsable completion {content[:80]!r}") from None
    if isinstance(value, dict):
        value = value.get("score")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"completion {content[:80]!r} holds no score")
    try:
        return clean_score(value)
    except ValueError as exc:
        raise ValueError(f"completion {content[:80]!r}: {exc}") from None


def default_cache_path() -> Path:
    """``$AGENTFUND_CACHE/completions.sqlite`` (else under ``~/.cache/agentfund``)."""
    return cache_root() / "completions.sqlite"


_SCHEMA = ("CREATE TABLE IF NOT EXISTS completions_v1 (text TEXT NOT NULL, scorer TEXT NOT NULL,"
           " completion BLOB NOT NULL, PRIMARY KEY (text, scorer)) WITHOUT ROWID")


class CompletionCache:
    """Completions already received, in an SQLite file: (text sha256, scorer key) → raw
    completion. An optimisation only: any failure is a miss or a lost write."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        """The cached completion of each key that has one."""
        found: dict[tuple[str, str], bytes] = {}
        for key in dict.fromkeys(keys):
            row = self._run(partial(_get, key))
            if row is not None:
                found[key] = bytes(row[0])
        return found

    def put_many(self, completions: Mapping[tuple[str, str], bytes]) -> None:
        """Store completions."""
        if completions:
            self._run(partial(_put, [(*key, value) for key, value in completions.items()]))

    def _run(self, action: Callable[[sqlite3.Connection], Any]) -> Any:
        with suppress(OSError, sqlite3.Error):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
                db.execute("PRAGMA synchronous=OFF")
                db.execute(_SCHEMA)
                return action(db)
        return None


def _get(key: tuple[str, str], db: sqlite3.Connection) -> Any:
    return db.execute("SELECT completion FROM completions_v1 WHERE text = ? AND scorer = ?",
                      key).fetchone()


def _put(rows: list[tuple[str, str, bytes]], db: sqlite3.Connection) -> None:
    db.executemany("INSERT OR REPLACE INTO completions_v1 VALUES (?, ?, ?)", rows)


def identity_detail(parts: Mapping[str, Any]) -> str:
    """The identity's detail: the pinned parts as canonical JSON."""
    return dumps(dict(parts))


def kind_parts(kind: str) -> dict[str, Any]:
    """The ``options``, ``build`` and ``code`` of scorer kind ``llama`` or ``openai``, for
    the registry of scorer kinds (oracles/scorers.py)."""
    if kind == "llama":
        from agentfund.oracles.llm_llama import LlamaOptions, LlamaScorer

        return {"options": LlamaOptions, "build": LlamaScorer, "code": lambda _: LlamaScorer}
    from agentfund.oracles.llm_openai import OpenAIOptions, OpenAIScorer

    return {"options": OpenAIOptions, "build": OpenAIScorer, "code": lambda _: OpenAIScorer}


def recorded_calls(data: Mapping[str, Any]) -> list[Call]:
    """The calls an observation's data records (none for a scorer that records none)."""
    return [Call.from_payload(call) for call in data.get("calls") or ()]
