"""A sentiment scorer on wordllama's token embeddings (derived from Llama 2's), offline.

The ``wordllama`` wheel ships a 32,000 × 256 token-embedding matrix and its tokenizer.
The scorer is a linear *head* on those embeddings: each token's valence is the dot
product of its embedding with the head's weights, a text's raw valence is the sum over its
(lower-cased) tokens, and the score is VADER's normalisation of it, ``s / sqrt(s² + α)``.
The head ships in ``heads/`` (fitted by ``scripts/fit_wordllama_head.py`` on VADER's
human-rated lexicon); another head is a JSON file of the same format.

Bit-identical everywhere: the head's weights are float32 values, so each product with a
float32 embedding is exact in float64, and every sum is ``math.fsum`` (correctly rounded,
independent of order, threads and BLAS). Nothing is downloaded: wordllama is loaded from
the files its wheel installed, laid out as its cache expects, with downloads disabled.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from agentfund.oracles.scoring import Scorer, ScorerIdentity, clean_score

MODEL = "l2_supercat"
DIM = 256
HEAD_FORMAT = "agentfund/wordllama-head/1"
PACKAGED_HEAD = Path(__file__).resolve().parent / "heads" / "wordllama-vader-lexicon.json"


class ModelError(ValueError):
    """The wordllama model or a head cannot be loaded (missing, corrupted, mismatched)."""


@dataclass(frozen=True, slots=True)
class Model:
    """wordllama's embeddings and tokenizer, with the sha256 of the files they came from."""

    embedding: Any  # numpy float32 array, (vocabulary, DIM)
    tokenizer: Any  # tokenizers.Tokenizer, padding off
    weights_sha256: str
    tokenizer_sha256: str
    version: str


@dataclass(frozen=True, slots=True)
class Head:
    """A linear head: one float32 weight per embedding dimension, and its parameters."""

    weights: tuple[float, ...]
    alpha: float
    lowercase: bool
    sha256: str


def packaged_files() -> tuple[Path, Path]:
    """Return the weights and tokenizer files the wordllama wheel installed."""
    spec = find_spec("wordllama")
    if spec is None or spec.origin is None:
        raise ModelError("wordllama is not installed (pip install wordllama)")
    root = Path(spec.origin).parent
    return (root / "weights" / f"{MODEL}_{DIM}.safetensors",
            root / "tokenizers" / f"{MODEL}_tokenizer_config.json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _lay_out(cache: Path, weights: Path, tokenizer: Path) -> None:
    """Place the packaged files where WordLlama.load looks in a cache directory."""
    for source, folder in ((weights, "weights"), (tokenizer, "tokenizers")):
        target = cache / folder / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(source, target)
        except OSError:  # no symlinks here (some filesystems): a copy does as well
            shutil.copyfile(source, target)


@functools.cache
def load_model() -> Model:
    """Load wordllama from its packaged files, never from the network (once per process)."""
    weights, tokenizer = packaged_files()
    for path in (weights, tokenizer):
        if not path.is_file():
            raise ModelError(f"wordllama's packaged file {path} is missing: reinstall wordllama")
    from wordllama import WordLlama

    with tempfile.TemporaryDirectory(prefix="agentfund-wordllama-") as cache:
        _lay_out(Path(cache), weights, tokenizer)
        try:
            model = WordLlama.load(config=MODEL, cache_dir=cache, dim=DIM,
                                   disable_download=True)
        except Exception as exc:  # noqa: BLE001 - any failure to read the files is one error
            raise ModelError(f"cannot load wordllama from {weights.parent.parent}: "
                             f"{type(exc).__name__}: {exc}") from None
    embedding = np.ascontiguousarray(model.embedding, dtype=np.float32)
    if embedding.ndim != 2 or embedding.shape[1] != DIM:
        raise ModelError(f"wordllama's embeddings have shape {embedding.shape}, not (n, {DIM})")
    model.tokenizer.no_padding()  # score each text's own tokens, never padding
    return Model(embedding=embedding, tokenizer=model.tokenizer,
                 weights_sha256=_sha256(weights), tokenizer_sha256=_sha256(tokenizer),
                 version=version("wordllama"))


def load_head(path: Path) -> Head:
    """Read a head file; ModelError saying why when it is missing or not a valid head."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        head = json.loads(data)
        if head.get("format") != HEAD_FORMAT:
            raise ValueError(f"format is {head.get('format')!r}, not {HEAD_FORMAT!r}")
        weights = tuple(float(w) for w in head["weights"])
        alpha = float(head["alpha"])
        lowercase = head["lowercase"]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ModelError(f"{path} is not a wordllama head: {type(exc).__name__}: {exc}"
                         ) from None
    if len(weights) != DIM or not isinstance(lowercase, bool) or not alpha > 0:
        raise ModelError(f"{path} is not a wordllama head: needs {DIM} weights, alpha > 0 "
                         f"and lowercase true or false")
    if any(not math.isfinite(w) or float(np.float32(w)) != w for w in weights):
        raise ModelError(f"{path} is not a wordllama head: its weights must be float32 values")
    return Head(weights=weights, alpha=alpha, lowercase=lowercase,
                sha256=hashlib.sha256(data).hexdigest())


class WordLlamaScorer(Scorer):
    """Sentiment from wordllama's token embeddings and a linear head (deterministic).

    The identity pins everything that decides a score: wordllama's version, the sha256 of
    its weights and tokenizer files, and the sha256 of the head file (which holds the
    weights and the parameters, α and lower-casing).
    """

    def __init__(self, head: Path | None = None) -> None:
        self.head = load_head(Path(head) if head is not None else PACKAGED_HEAD)
        self.model = load_model()
        self._weights = np.array(self.head.weights, dtype=np.float64)
        self._valence: dict[int, float] = {}
        model = self.model
        self.identity = ScorerIdentity(
            "wordllama", model.version,
            f"{MODEL}_{DIM} weights={model.weights_sha256} "
            f"tokenizer={model.tokenizer_sha256} head={self.head.sha256}")

    def score(self, texts: Sequence[str]) -> list[float]:
        """Return each text's score in [-1, 1], rounded to 4 decimals."""
        if not texts:
            return []
        lowered = [text.lower() for text in texts] if self.head.lowercase else list(texts)
        encoded = self.model.tokenizer.encode_batch(lowered, add_special_tokens=False)
        return [clean_score(self.compound(item.ids)) for item in encoded]

    def compound(self, ids: Sequence[int]) -> float:
        """Return the unrounded score of a text given as token ids."""
        valence = self._valence
        total = math.fsum(valence[i] if i in valence else self._token(i) for i in ids)
        return total / math.sqrt(total * total + self.head.alpha)

    def _token(self, token: int) -> float:
        # float32 × float32-valued float64 is exact in float64; fsum rounds the sum once
        row = self.model.embedding[token].astype(np.float64) * self._weights
        value = math.fsum(row.tolist())
        self._valence[token] = value
        return value
