"""The mention-sentiment strategy on hand-computed signals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from pydantic import ValidationError

from agentfund.strategies.mention_sentiment import MentionSentiment
from fund.ledger import PortfolioView
from fund.markets import Market
from fund.messages import Observation
from fund.strategy import Context, FundTerms, parse_params

D = Decimal
T = datetime(2022, 1, 17, tzinfo=UTC)
PARAMS = {"keywords": {"Trump": {"symbol": "BTC/USD", "aliases": ["Donald Trump"]},
                       "Biden": {"symbol": "BTC/USD"}},
          "lookback": 3, "min_mentions": 4, "enter": 0.2, "exit": -0.1, "size": "0.25"}


def strategy(**changes: Any) -> MentionSentiment:
    return MentionSentiment(parse_params(MentionSentiment, {**PARAMS, **changes}))


def sentiment(trump: tuple[int, int, float] = (0, 0, 0.0),
              biden: tuple[int, int, float] = (0, 0, 0.0)) -> dict[str, Any]:
    def one(m: int, s: int, total: float) -> dict[str, Any]:
        return {"mentions": m, "sentences": s, "score_sum": total,
                "mean": total / s if s else 0.0,
                "hits": [{"item": "i1", "sentence": "x", "score": total, "count": m}] if m else []}
    return {"keywords": {"Trump": one(*trump), "Biden": one(*biden)}}


def context(data: dict[str, Any] | None, held: str = "0", cash: str = "1000",
            price: str | None = "100", error: str | None = None) -> Context:
    prices = {"BTC/USD": D(price)} if price else {}
    view = PortfolioView(quote="USD", cash=D(cash),
                         positions=MappingProxyType({"BTC/USD": D(held)}),
                         avg_costs=MappingProxyType({}), prices=MappingProxyType(prices),
                         fees_paid=D(0))
    observations = {
        "prices": Observation(oracle="prices", seq=2, as_of=T, data={}, prices=prices),
        "sentiment": Observation(oracle="sentiment", seq=4, as_of=T, data=data, error=error),
    }
    return Context(actor_id="a", time=T, wake_seq=1, observations=observations,
                   portfolio=view, markets={"BTC/USD": Market.parse("BTC/USD")},
                   terms=FundTerms(quote="USD", fee_rate=D("0.001"), slippage_bps=D(0)))


def test_signal_is_the_window_mean_shrunk_by_few_mentions() -> None:
    fund = strategy()
    state = fund.initial_state()
    state, first = fund.on_wake(state, context(sentiment(trump=(1, 1, 0.6))))
    # window: 1 mention, mean 0.6 → signal 0.6 × 1/4 = 0.15 < 0.2: hold
    assert first.intents == () and first.reasons["BTC/USD"]["signal"] == 0.15
    state, second = fund.on_wake(state, context(sentiment(biden=(2, 2, 0.5))))
    # window: 3 mentions, 3 sentences, sum 1.1 → mean 0.366667, × 3/4 = 0.275 ≥ 0.2: buy
    figures = second.reasons["BTC/USD"]
    assert (figures["mentions"], figures["sentences"]) == (3, 3)
    assert figures["signal"] == pytest.approx(1.1 / 3 * 0.75, abs=1e-6)
    [buy] = second.intents
    assert buy.side == "buy" and buy.amount == D("0.25") * D(1000) / D(100)
    assert figures["action"] == "enter" and figures["hits"][0]["keyword"] == "Biden"


def test_the_window_forgets_wakes_older_than_the_lookback() -> None:
    fund = strategy(lookback=2)
    state = fund.initial_state()
    for data in (sentiment(trump=(8, 8, 8.0)), sentiment(), sentiment()):
        state, decision = fund.on_wake(state, context(data, held="1"))
    assert len(state) == 2
    assert decision.reasons["BTC/USD"]["mentions"] == 0  # the loud wake has left the window


def test_it_exits_when_the_signal_decays_or_turns_negative() -> None:
    _, decision = strategy().on_wake((), context(sentiment(trump=(4, 4, -2.0)), held="3"))

    [sell] = decision.intents
    assert (sell.side, sell.amount) == ("sell", D(3))
    assert decision.reasons["BTC/USD"]["signal"] == -0.5


def test_without_sentiment_or_price_it_holds() -> None:
    fund = strategy()
    _, no_news = fund.on_wake((), context(None, error="OracleError: source 'news' has no data"))
    _, no_price = fund.on_wake((), context(sentiment(trump=(4, 4, 4.0)), price=None))

    assert no_news.intents == () and no_news.rule == "hold: no news"
    assert no_price.intents == () and no_price.reasons["BTC/USD"]["action"] == "hold: no price"


def test_a_buy_never_spends_more_than_the_cash_after_fees() -> None:
    _, decision = strategy(size="1", max_weight="1").on_wake(
        (), context(sentiment(trump=(4, 4, 4.0)), cash="50"))

    [buy] = decision.intents
    assert buy.amount * D(100) * D("1.001") <= D(50)


@pytest.mark.parametrize("change", [{"enter": -0.2}, {"lookback": 0}, {"size": "0"},
                                    {"keywords": {"X": {"symbol": "BTCUSD"}}}, {"colour": 1}])
def test_invalid_params_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        strategy(**change)
