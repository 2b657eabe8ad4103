"""Keyword-mention sentiment: news about a keyword moves a position in its mapped asset.

At each wake the runtime records the news items (an Observation named ``news``) and the
scorer's verdict on every sentence mentioning a keyword (an Observation named
``sentiment``: mentions, mentioning sentences and their compound scores per keyword).
This handler only does arithmetic on those recorded numbers.

Per asset, over the last ``lookback`` wakes (this one included):

    mean   = Σ sentence scores / Σ mentioning sentences        (0 when there are none)
    signal = mean × min(1, mentions / min_mentions)            (few mentions, weak signal)

With no position, it buys when ``signal ≥ enter``: ``size`` of NAV (at most
``max_weight``, and no more than the cash allows after fees). Holding, it sells everything
when ``signal ≤ exit`` — the buzz decayed or turned negative. Long only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict

from fund.messages import Decision, OrderIntent
from fund.strategy import Context, OracleSpec, Strategy, ordered_pairs, register

ZERO = Decimal(0)

Window = tuple[dict[str, tuple[int, int, float]], ...]
"""Per past wake: symbol → (mentions, mentioning sentences, score sum)."""

_QUIET: dict[str, tuple[int, int, float]] = {}
"""The tally of a wake in which no keyword was mentioned (shared, never mutated)."""


@dataclass(frozen=True, kw_only=True)
class KeywordRule:
    """Which asset a keyword moves, and the other spellings that count as a mention."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    symbol: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class MentionSentimentParams:
    """Keywords (in order) and the signal's thresholds; see the module docstring."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    keywords: Annotated[tuple[tuple[str, KeywordRule], ...], BeforeValidator(ordered_pairs)]
    lookback: int = 12
    min_mentions: int = 3
    enter: float = 0.2
    exit: float = 0.0
    size: Decimal = Decimal("0.2")
    max_weight: Decimal = Decimal("0.5")
    scorer: str | dict[str, Any] = "vader"  # a kind's table, or "vader" / "pkg.mod:Class"

    def __post_init__(self) -> None:
        if not self.keywords:
            raise ValueError("keywords must name at least one keyword")
        for name, rule in self.keywords:
            if "/" not in rule.symbol:
                raise ValueError(f"keywords.{name}.symbol: {rule.symbol!r} is not BASE/QUOTE")
        if self.lookback < 1 or self.min_mentions < 1:
            raise ValueError("lookback and min_mentions must be at least 1")
        if not -1 <= self.exit < self.enter <= 1:
            raise ValueError("need -1 <= exit < enter <= 1")
        if not ZERO < self.size <= 1 or not ZERO < self.max_weight <= 1:
            raise ValueError("size and max_weight must be in (0, 1]")


@register
class MentionSentiment(Strategy[MentionSentimentParams, Window]):
    """Trade the assets mapped to keywords on the sentiment of the news mentioning them."""

    name = "mention_sentiment"
    Params = MentionSentimentParams

    def symbols(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rule.symbol for _, rule in self.params.keywords))

    def oracles(self) -> tuple[OracleSpec, ...]:
        keywords = [[name, [name, *rule.aliases]] for name, rule in self.params.keywords]
        return (
            OracleSpec(name="prices", kind="prices", options={"symbols": self.symbols()}),
            OracleSpec(name="news", kind="news", options={}),
            OracleSpec(name="sentiment", kind="sentiment",
                       options={"source": "news", "keywords": keywords,
                                "scorer": self.params.scorer}),
        )

    def initial_state(self) -> Window:
        return ()

    def on_wake(self, state: Window, ctx: Context) -> tuple[Window, Decision]:
        sentiment = ctx.observations.get("sentiment")
        if sentiment is None or sentiment.data is None:
            reason = sentiment.error if sentiment is not None else "no sentiment observation"
            return state, Decision(rule="hold: no news", reasons={"error": reason})
        window = (*state, self._tally(sentiment.data["keywords"]))[-self.params.lookback:]
        reasons: dict[str, Any] = {"sentiment_seq": sentiment.seq, "lookback": len(window)}
        if all(wake is _QUIET for wake in window) and not any(ctx.portfolio.positions.values()):
            reasons["quiet"] = "no mentions in the window, nothing held"
            return window, Decision(rule="hold", reasons=reasons)
        prices = ctx.prices()
        intents: list[OrderIntent] = []
        for symbol in self.symbols():
            figures = self._signal(window, symbol)
            figures["hits"] = self._hits(sentiment.data["keywords"], symbol)
            reasons[symbol] = figures
            intent = self._act(ctx, symbol, prices.get(symbol), figures)
            if intent is not None:
                intents.append(intent)
        rule = ",".join(f"{i.side} {i.symbol}" for i in intents) or "hold"
        return window, Decision(rule=rule, reasons=reasons, intents=tuple(intents))

    def _tally(self, keywords: dict[str, Any]) -> dict[str, tuple[int, int, float]]:
        if not any((keywords.get(name) or {}).get("mentions") for name, _ in self.params.keywords):
            return _QUIET
        tally: dict[str, tuple[int, int, float]] = {}
        for name, rule in self.params.keywords:
            found = keywords.get(name) or {}
            mentions, sentences, total = tally.get(rule.symbol, (0, 0, 0.0))
            tally[rule.symbol] = (mentions + int(found.get("mentions", 0)),
                                  sentences + int(found.get("sentences", 0)),
                                  math.fsum((total, float(found.get("score_sum", 0.0)))))
        return tally

    def _signal(self, window: Window, symbol: str) -> dict[str, Any]:
        mentions = sum(wake.get(symbol, (0, 0, 0.0))[0] for wake in window)
        sentences = sum(wake.get(symbol, (0, 0, 0.0))[1] for wake in window)
        total = math.fsum(wake.get(symbol, (0, 0, 0.0))[2] for wake in window)
        mean = total / sentences if sentences else 0.0
        signal = mean * min(1.0, mentions / self.params.min_mentions)
        return {"mentions": mentions, "sentences": sentences, "score_sum": round(total, 6),
                "mean": round(mean, 6), "signal": round(signal, 6)}

    def _hits(self, keywords: dict[str, Any], symbol: str) -> list[dict[str, Any]]:
        """This wake's mentioning sentences for a symbol: the news that moved it."""
        return [{"keyword": name, "item": hit["item"], "sentence": hit["sentence"],
                 "score": hit["score"]}
                for name, rule in self.params.keywords if rule.symbol == symbol
                for hit in (keywords.get(name) or {}).get("hits", [])]

    def _act(self, ctx: Context, symbol: str, price: Decimal | None,
             figures: dict[str, Any]) -> OrderIntent | None:
        held = ctx.portfolio.holding(symbol)
        signal = figures["signal"]
        if price is None:
            figures["action"] = "hold: no price"
            return None
        if held > 0 and signal <= self.params.exit:
            figures["action"] = "exit"
            return OrderIntent(symbol=symbol, side="sell", amount=held, reference_price=price)
        if held == 0 and signal >= self.params.enter:
            fee = ctx.terms.fee_rate
            nav = ctx.portfolio.cash + sum(
                (a * ctx.portfolio.prices[s] for s, a in ctx.portfolio.positions.items() if a),
                ZERO)
            spend = min(min(self.params.size, self.params.max_weight) * nav,
                        ctx.portfolio.cash / (1 + fee))
            if spend > 0:
                figures["action"] = "enter"
                return OrderIntent(symbol=symbol, side="buy", amount=spend / price,
                                   reference_price=price)
        figures["action"] = "hold"
        return None
