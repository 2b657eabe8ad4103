"""Scorers as configuration: one registry of scorer kinds, and the sentiment oracle.

A strategy names its scorer with the ``scorer`` option of a sentiment oracle, either as a
table — ``{ kind = "vader" }``, ``{ kind = "wordllama", head = "my-head.json" }``,
``{ kind = "plugin", class = "pkg.mod:Class", options = { ... } }`` — or, as configs and
journals written before tables did, as a string: ``"vader"`` or ``"pkg.mod:Class"``.

Each kind is one :class:`ScorerKind` in :data:`KINDS`: a pydantic model of its options
(unknown keys and wrong types are errors naming the key), a builder from validated
options to a :class:`Scorer`, and the class whose code a Start entry identifies. Adding a
kind is adding one entry. Deterministic scorers are put behind the score cache, keyed by
(text sha256, scorer identity).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentfund.oracles.base import OracleError
from agentfund.oracles.llm import kind_parts
from agentfund.oracles.mentions import Keyword
from agentfund.oracles.scoring import (
    _CORRUPT,
    _SCHEMA,
    CachedScorer,
    ScoreCache,
    Scorer,
    VaderScorer,
    default_cache_path,
)
from agentfund.oracles.sentiment import SentimentOracle
from fund.cache import HeldConnection
from fund.plugins import PluginError, import_object

_T = TypeVar("_T")


class ScorerConfigError(OracleError):
    """A scorer setting that cannot be used; ``key`` is where in it (``scorer.head``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class Options(BaseModel):
    """Base of every kind's options: TOML types as written, no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: str


class VaderOptions(Options):
    """``{ kind = "vader" }``: VADER with its packaged lexicon (or ``lexicon``, a file)."""

    lexicon: str | None = None


class WordLlamaOptions(Options):
    """``{ kind = "wordllama" }``: the packaged head, or ``head``, a head file's path."""

    head: str | None = None


class PluginOptions(Options):
    """``{ kind = "plugin", class = "pkg.mod:Class", options = {...} }``: your own Scorer
    class, called with the options as keyword arguments."""

    cls: str = Field(alias="class", pattern=r"^[\w.]+:\w+$")
    options: dict[str, Any] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class ScorerKind:
    """One kind of scorer: its options model, how to build it, the class that scores."""

    name: str
    options: type[Options]
    build: Callable[[Any], Scorer]  # validated options → scorer (not cached yet)
    code: Callable[[Any], type[Any]]  # validated options → the class a Start entry identifies


def _vader(options: VaderOptions) -> Scorer:
    if options.lexicon is None:
        return VaderScorer()
    path = Path(options.lexicon)
    if not path.is_file():
        raise ScorerConfigError("scorer.lexicon", f"no such file: {path}")
    return VaderScorer(path)


def _wordllama(options: WordLlamaOptions) -> Scorer:
    from agentfund.oracles.wordllama import ModelError, WordLlamaScorer

    try:
        return WordLlamaScorer(Path(options.head) if options.head is not None else None)
    except ModelError as exc:
        raise ScorerConfigError("scorer.head" if options.head else "scorer", str(exc)) from None


def _wordllama_class(_options: WordLlamaOptions) -> type[Any]:
    from agentfund.oracles.wordllama import WordLlamaScorer

    return WordLlamaScorer


def _plugin_class(options: PluginOptions) -> type[Any]:
    try:
        cls: type[Any] = import_object(options.cls)
    except PluginError as exc:
        raise ScorerConfigError("scorer.class", str(exc)) from None
    return cls


def _plugin(options: PluginOptions) -> Scorer:
    cls = _plugin_class(options)
    try:
        scorer = cls(**options.options)
    except (TypeError, ValueError) as exc:
        raise ScorerConfigError("scorer.options", f"{options.cls}: {exc}") from None
    if not isinstance(scorer, Scorer):
        raise ScorerConfigError("scorer.class", f"{options.cls} is not a Scorer")
    return scorer


class _Registry(Mapping[str, ScorerKind]):
    """The kinds by name. A model kind is loaded when it is first asked for, so that
    checking a config or scoring with VADER never imports an HTTP client or model bindings."""

    def __init__(self, kinds: Sequence[ScorerKind],
                 loaders: Mapping[str, Callable[[], ScorerKind]]) -> None:
        self._kinds = {kind.name: kind for kind in kinds}
        self._loaders = dict(loaders)
        self._names = (*self._kinds, *(name for name in loaders if name not in self._kinds))

    def __getitem__(self, name: str) -> ScorerKind:
        kind = self._kinds.get(name)
        if kind is None:
            kind = self._kinds[name] = self._loaders[name]()  # KeyError: not a kind
        return kind

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


KINDS: Mapping[str, ScorerKind] = _Registry((
    ScorerKind(name="vader", options=VaderOptions, build=_vader,
               code=lambda _options: VaderScorer),
    ScorerKind(name="wordllama", options=WordLlamaOptions, build=_wordllama,
               code=_wordllama_class),
    ScorerKind(name="plugin", options=PluginOptions, build=_plugin, code=_plugin_class),
), {
    "llama": lambda: ScorerKind(name="llama", **kind_parts("llama")),  # GGUF in-process
    "openai": lambda: ScorerKind(name="openai", **kind_parts("openai")),  # an HTTP server
})


def _from_string(name: str) -> dict[str, Any]:
    """The table an old string setting means: ``vader`` or ``pkg.mod:Class``."""
    if ":" in name:
        return {"kind": "plugin", "class": name}
    if name in KINDS and name != "plugin":
        return {"kind": name}
    raise ScorerConfigError("scorer", f"unknown scorer {name!r} (a table with kind = "
                                      f"{', '.join(sorted(KINDS))}, or package.module:Class)")


def scorer_options(setting: Any) -> Options:
    """Validate a scorer setting (a table or an old string) into its kind's options."""
    raw = _from_string(setting) if isinstance(setting, str) else setting
    if not isinstance(raw, Mapping):
        raise ScorerConfigError("scorer", "expected a table with a kind, or a string")
    name = raw.get("kind")
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        what = "missing" if "kind" not in raw else f"unknown scorer kind {raw['kind']!r}"
        raise ScorerConfigError("scorer.kind", f"{what} (known: {', '.join(sorted(KINDS))})")
    try:
        return kind.options.model_validate(dict(raw))
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(["scorer", *(str(part) for part in error["loc"])])
        message = {"missing": "missing required key",
                   "extra_forbidden": "unknown key"}.get(error["type"], error["msg"])
        raise ScorerConfigError(key, message) from None


def scorer_class(setting: Any) -> type[Any]:
    """The class a scorer setting means: what a Start entry records the code identity of."""
    options = scorer_options(setting)
    return KINDS[options.kind].code(options)


class HeldScoreCache(ScoreCache):
    """The score cache with its connection held across calls (fund.cache.HeldConnection):
    a run asks it once a wake with news, and opening the file each time cost more than the
    queries. A damaged or vanished file is handled as ScoreCache handles it; a busy one is
    a miss at once. (It is here, not in oracles/scoring.py, because a Start entry records
    the sha256 of that module's source, VADER's code identity.)"""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._held = HeldConnection(self.path, _prepare)

    def _run(self, action: Callable[[sqlite3.Connection], _T], default: _T) -> _T:
        for attempt in (1, 2):
            try:
                db = self._held.get()
                with db:
                    return action(db)
            except OSError:
                self._held.close()
                return default
            except sqlite3.DatabaseError as exc:  # a stale connection gets one more try
                self._held.close()
                code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
                if attempt == 2 or code in _BUSY or (code in _CORRUPT and not self._discard()):
                    return default
        return default


_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED: another process writes; waited for already


def _prepare(db: sqlite3.Connection) -> None:
    # no fsync, as losing the newest entries of a cache only costs recomputation
    db.execute("PRAGMA synchronous=OFF")
    db.execute(_SCHEMA)


def make_scorer(setting: Any) -> Scorer:
    """Build the scorer a setting names; a deterministic one behind the score cache."""
    options = scorer_options(setting)
    scorer = KINDS[options.kind].build(options)
    if scorer.deterministic:
        return CachedScorer(scorer, HeldScoreCache(default_cache_path()))
    return scorer


def sentiment_oracle(spec: Any) -> SentimentOracle:
    """Build a SentimentOracle from an oracle spec (``name`` and ``options``)."""
    options: Mapping[str, Any] = spec.options
    keywords = [Keyword(name=name, aliases=tuple(aliases))
                for name, aliases in options["keywords"]]
    return SentimentOracle(spec.name, source=options["source"], keywords=keywords,
                           scorer=make_scorer(options.get("scorer", "vader")))
