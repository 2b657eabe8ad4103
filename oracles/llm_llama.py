"""A sentiment scorer that runs a GGUF model in this process, through llama-cpp-python.

Needs the ``llama`` extra (``pip install 'agentfund[llama]'``). The file is checked and
hashed when the scorer is built (a missing, truncated or foreign file is a one-line
error at start), and loaded at the first call. The texts of a batch are answered one
after another (a llama.cpp context serves one sequence at a time); each answer is
constrained by a grammar (or a JSON schema) to ``{"score": x}``, and one that takes longer
than ``timeout_s`` is cut off — an error for that text. The raw completion recorded is the
text the model generated.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from agentfund.oracles.base import OracleError
from agentfund.oracles.llm import (
    EXTRA,
    SCORE_GRAMMAR,
    SCORE_SCHEMA,
    Answer,
    LLMOptions,
    ModelScorer,
    Structured,
    identity_detail,
)
from agentfund.oracles.scoring import ScorerIdentity
from fund.canonical import dumps

_HASHES: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) → sha256, this process
_LOCK = threading.Lock()


class LlamaOptions(LLMOptions):
    """``{ kind = "llama", model = "path/to/model.gguf" }``."""

    kind: Literal["llama"] = "llama"
    model: str = Field(description="the GGUF file (relative to the working directory)")
    structured: Structured = Field("grammar", description="how the answer is constrained")
    n_ctx: int = Field(512, ge=64, le=131072, description="context length in tokens")
    n_threads: int | None = Field(None, ge=1, le=256, description="CPU threads (default: all)")
    chat_format: str | None = Field(None, description="llama-cpp-python chat format "
                                                      "(default: the file's template)")


def llama_cpp() -> Any:
    """The llama_cpp module; OracleError naming the extra when it is not installed."""
    try:
        import llama_cpp as module
    except ImportError:
        raise OracleError(f"the llama scorer needs llama-cpp-python: {EXTRA}") from None
    return module


def file_sha256(path: Path) -> str:
    """The sha256 of a file, remembered per (path, size, modification time)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def check_gguf(path: Path) -> None:
    """OracleError unless ``path`` is a whole GGUF file (its header read, its tensors in)."""
    if not path.is_file():
        raise OracleError(f"scorer.model: {path}: no such file")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise OracleError(f"scorer.model: {path}: not a GGUF file")
    try:
        from gguf import GGUFReader
    except ImportError:
        raise OracleError(f"the llama scorer needs the gguf package: {EXTRA}") from None
    try:
        reader = GGUFReader(path)
        end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    except (ValueError, IndexError, KeyError, OSError) as exc:
        raise OracleError(f"scorer.model: {path}: a damaged GGUF file ({exc})") from None
    if end > path.stat().st_size:
        raise OracleError(f"scorer.model: {path}: a damaged GGUF file (truncated)")


class LlamaScorer(ModelScorer):
    """Scores with a GGUF model loaded in this process."""

    kind = "llama"
    options: LlamaOptions

    def __init__(self, options: LlamaOptions) -> None:
        self.module = llama_cpp()
        path = Path(options.model).expanduser().resolve()
        check_gguf(path)
        self.options = options
        self.path = path
        self.identity = ScorerIdentity(self.kind, str(self.module.__version__), identity_detail(
            {**self.pinned(), "file": path.name}))
        self._model: Any = None

    def pinned(self) -> dict[str, Any]:
        """The weights' sha256, the prompt's, the decoding, the answer's form, the context."""
        options = self.options
        return {"model": file_sha256(self.path),
                "prompt": options.prompt_sha256(), "decoding": options.decoding(),
                "structured": options.structured, "n_ctx": options.n_ctx,
                "chat_format": options.chat_format}

    def current_identity(self) -> ScorerIdentity:
        """The identity pinned when built."""
        return self.identity

    def request(self, text: str) -> bytes:
        """What the model is asked (canonical JSON): the messages, decoding and the form."""
        options = self.options
        body: dict[str, Any] = {"messages": options.messages(text), **options.decoding()}
        if options.structured == "grammar":
            body["grammar"] = SCORE_GRAMMAR
        elif options.structured != "none":
            body["response_format"] = {"type": "json_object", "schema": SCORE_SCHEMA}
        return dumps(body).encode()

    def complete(self, requests: Sequence[bytes]) -> list[Answer]:
        """Answer the requests one after another."""
        with _LOCK:  # one generation at a time (a late call of an earlier wake, too)
            model = self._load()
            return [self._generate(model, request) for request in requests]

    def content(self, completion: bytes) -> str:
        """The generated text is the completion."""
        return completion.decode("utf-8", "replace")

    def _load(self) -> Any:
        if self._model is None:
            options = self.options
            try:
                self._model = self.module.Llama(
                    model_path=str(self.path), n_ctx=options.n_ctx, seed=options.seed,
                    n_threads=options.n_threads or os.cpu_count(),
                    chat_format=options.chat_format, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise OracleError(f"scorer.model: {self.path}: cannot load it "
                                  f"({exc})") from None
        return self._model

    def _generate(self, model: Any, request: bytes) -> Answer:
        """Generate one answer, streamed so that one past ``timeout_s`` is cut off."""
        body = json.loads(request)
        grammar = body.pop("grammar", None)
        if grammar is not None:
            body["grammar"] = self.module.LlamaGrammar.from_string(grammar, verbose=False)
        due = time.monotonic() + self.options.timeout_s
        parts: list[str] = []
        try:
            for chunk in model.create_chat_completion(**body, stream=True):
                parts.append(chunk["choices"][0]["delta"].get("content") or "")
                if time.monotonic() > due:
                    text = "".join(parts).encode()
                    return Answer(text, f"no complete answer within {self.options.timeout_s:g} s")
        except (ValueError, RuntimeError) as exc:  # e.g. a text longer than the context
            return Answer(None, f"the model refused it: {exc}")
        return Answer("".join(parts).encode())
