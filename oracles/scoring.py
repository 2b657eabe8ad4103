"""Sentiment scorers (VADER by default) and a persistent cache of their scores."""

from __future__ import annotations

import hashlib
import math
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import TypeVar

from vaderSentiment import vaderSentiment as _vader

from fund.cache import cache_root

VADER_LEXICON = Path(_vader.__file__).resolve().parent / "vader_lexicon.txt"

CacheKey = tuple[str, str]  # (sha256 of the text, ScorerIdentity.key)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ScorerIdentity:
    """What a scorer is: a name, a version and a detail (e.g. a hash of its weights)."""

    name: str
    version: str
    detail: str

    @property
    def key(self) -> str:
        """Return a short stable key of the identity (16 hex digits of a sha256)."""
        text = "\x1f".join((self.name, self.version, self.detail))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_payload(self) -> dict[str, str]:
        """Return the journaled form of the identity."""
        return {"name": self.name, "version": self.version, "detail": self.detail,
                "key": self.key}


class Scorer(ABC):
    """Scores texts for sentiment: one float in [-1, 1] per text, negative is bad news.

    To plug in another model (a local open-weight model, a hosted API), subclass this,
    set ``identity`` to a name, version and detail that no other model shares (say, the
    sha256 of the weights file) and implement :meth:`score`. Set ``deterministic`` to
    False if the same text can score differently from one call to the next (sampling, GPU
    kernels): the scores are journaled with the observation, so a replay reads the
    recorded scores and never asks the model again. The identity is journaled as well,
    and it is the cache key: change it whenever the outputs may change.
    """

    identity: ScorerIdentity
    deterministic: bool = True

    @abstractmethod
    def score(self, texts: Sequence[str]) -> list[float]:
        """Return one score in [-1, 1] per text, in the order given."""


def text_key(text: str) -> str:
    """Return the sha256 of a text, the cache's key for it."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def clean_score(value: float) -> float:
    """Return a score rounded to 4 decimals (never -0.0); reject one outside [-1, 1]."""
    number = float(value)
    if not math.isfinite(number) or not -1.0 <= number <= 1.0:
        raise ValueError(f"score {value!r} is not a number in [-1, 1]")
    return round(number, 4) + 0.0  # + 0.0 turns -0.0 into 0.0


class VaderScorer(Scorer):
    """VADER's compound score (rule-based, deterministic), rounded to 4 decimals.

    The identity carries the installed vaderSentiment version and the sha256 of the
    lexicon, so a different lexicon or version is a different scorer.
    """

    def __init__(self, lexicon: Path | None = None) -> None:
        path = (lexicon or VADER_LEXICON).resolve()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        # an absolute path replaces vaderSentiment's own directory in its os.path.join
        self._analyzer = _vader.SentimentIntensityAnalyzer(lexicon_file=str(path))
        self.identity = ScorerIdentity("vader", version("vaderSentiment"), digest)

    def score(self, texts: Sequence[str]) -> list[float]:
        """Return VADER's compound score of each text."""
        polarity = self._analyzer.polarity_scores
        return [clean_score(polarity(text)["compound"]) for text in texts]


def default_cache_path() -> Path:
    """Return ``$AGENTFUND_CACHE/scores.sqlite``, else ``~/.cache/agentfund/scores.sqlite``."""
    return cache_root() / "scores.sqlite"


_CORRUPT = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
_CHUNK = 500  # keys per query, well under SQLite's limit on bound variables
_SCHEMA = ("CREATE TABLE IF NOT EXISTS scores_v1 (text TEXT NOT NULL, scorer TEXT NOT NULL,"
           " score REAL NOT NULL, PRIMARY KEY (text, scorer)) WITHOUT ROWID")


def _select(query: str, args: tuple[str, ...], db: sqlite3.Connection
            ) -> list[tuple[str, float]]:
    return db.execute(query, args).fetchall()


def _insert(rows: list[tuple[str, str, float]], db: sqlite3.Connection) -> None:
    db.executemany("INSERT OR REPLACE INTO scores_v1 VALUES (?, ?, ?)", rows)


class ScoreCache:
    """Scores already computed, in an SQLite file: (text sha256, scorer key) → score.

    Only an optimisation: a deleted file starts empty, a corrupt one is replaced, and a
    busy or unwritable one is skipped (a miss, a lost write), never an error.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with suppress(OSError):  # an unwritable place only means nothing is cached
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def get_many(self, keys: Iterable[CacheKey]) -> dict[CacheKey, float]:
        """Return the cached score of each key that has one."""
        by_scorer: dict[str, list[str]] = {}
        for text, scorer in keys:
            by_scorer.setdefault(scorer, []).append(text)
        found: dict[CacheKey, float] = {}
        for scorer, texts in by_scorer.items():
            for start in range(0, len(texts), _CHUNK):
                chunk = texts[start:start + _CHUNK]
                query = ("SELECT text, score FROM scores_v1 WHERE scorer = ? AND text IN "
                         f"({','.join('?' * len(chunk))})")
                rows: list[tuple[str, float]] = self._run(
                    partial(_select, query, (scorer, *chunk)), [])
                found.update(((text, scorer), score) for text, score in rows)
        return found

    def put_many(self, scores: Mapping[CacheKey, float]) -> None:
        """Store scores (replacing any held under the same key)."""
        rows = [(text, scorer, score) for (text, scorer), score in scores.items()]
        if rows:
            self._run(partial(_insert, rows), None)

    def _run(self, action: Callable[[sqlite3.Connection], _T], default: _T) -> _T:
        for attempt in (1, 2):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
                    # a connection per call survives the file being replaced underneath; no
                    # fsync, as losing the newest entries of a cache only costs recomputation
                    db.execute("PRAGMA synchronous=OFF")
                    db.execute(_SCHEMA)
                    return action(db)
            except OSError:
                return default
            except sqlite3.DatabaseError as exc:
                code = getattr(exc, "sqlite_errorcode", None) or 0
                if attempt == 2 or code & 0xFF not in _CORRUPT or not self._discard():
                    return default
        return default

    def _discard(self) -> bool:
        try:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        except OSError:
            return False
        return True


class CachedScorer(Scorer):
    """Another scorer behind a ScoreCache: only texts never scored before reach it."""

    def __init__(self, inner: Scorer, cache: ScoreCache) -> None:
        self.inner = inner
        self.cache = cache
        self.identity = inner.identity
        self.deterministic = inner.deterministic

    def score(self, texts: Sequence[str]) -> list[float]:
        """Return the scores of ``texts``, asking the inner scorer once for the new ones."""
        scorer = self.identity.key
        keys = [(text_key(text), scorer) for text in texts]
        known = self.cache.get_many(dict.fromkeys(keys))
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in known}
        if missing:
            scores = self.inner.score(list(missing.values()))
            if len(scores) != len(missing):
                raise ValueError(f"scorer {self.identity.name} returned {len(scores)} scores"
                                 f" for {len(missing)} texts")
            new = {key: float(score) for key, score in zip(missing, scores, strict=True)}
            self.cache.put_many(new)
            known.update(new)
        return [known[key] for key in keys]
