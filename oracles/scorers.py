"""Choosing a scorer by name, and building the sentiment oracle a strategy declares."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from oracles.base import OracleError
from oracles.mentions import Keyword
from oracles.scoring import CachedScorer, ScoreCache, Scorer, VaderScorer, default_cache_path
from oracles.sentiment import SentimentOracle


def make_scorer(name: str) -> Scorer:
    """``vader`` (cached by text and scorer identity) or ``package.module:Class``."""
    if name == "vader":
        return CachedScorer(VaderScorer(), ScoreCache(default_cache_path()))
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise OracleError(f"cannot import scorer {name!r}: {exc}") from None
        scorer = cls()
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
