"""Choosing a scorer by name, and building the sentiment oracle a strategy declares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentfund.oracles.base import OracleError
from agentfund.oracles.mentions import Keyword
from agentfund.oracles.scoring import (
    CachedScorer,
    ScoreCache,
    Scorer,
    VaderScorer,
    default_cache_path,
)
from agentfund.oracles.sentiment import SentimentOracle
from fund.plugins import PluginError, import_object


def scorer_class(name: str) -> type[Any]:
    """The class a scorer name means (``vader``, or ``package.module:Class``)."""
    if name == "vader":
        return VaderScorer
    if ":" in name:
        try:
            cls: type[Any] = import_object(name)
        except PluginError as exc:
            raise OracleError(f"scorer: {exc}") from None
        return cls
    raise OracleError(f"unknown scorer {name!r} (vader, or package.module:Class)")


def make_scorer(name: str) -> Scorer:
    """``vader`` (cached by text and scorer identity) or ``package.module:Class``."""
    if name == "vader":
        return CachedScorer(VaderScorer(), ScoreCache(default_cache_path()))
    if ":" in name:
        try:
            scorer = import_object(name)()
        except PluginError as exc:
            raise OracleError(f"scorer: {exc}") from None
        if not isinstance(scorer, Scorer):
            raise OracleError(f"{name!r} is not a Scorer")
        return scorer
    raise OracleError(f"unknown scorer {name!r} (vader, or package.module:Class)")


def sentiment_oracle(spec: Any) -> SentimentOracle:
    """Build a SentimentOracle from an oracle spec (``name`` and ``options``)."""
    options: Mapping[str, Any] = spec.options
    keywords = [Keyword(name=name, aliases=tuple(aliases))
                for name, aliases in options["keywords"]]
    return SentimentOracle(spec.name, source=options["source"], keywords=keywords,
                           scorer=make_scorer(options.get("scorer", "vader")))
