"""Every oracle kind, in one registry: its options, its live and historical sources, and
what it yields.

A strategy declares oracles by kind (``OracleSpec(name, kind, options)``); the backtest
engine, the daemon, the runtime and ``fund verify`` ask this registry what a kind is:
which options it takes, how to build it live (the exchange's public API, the
``[daemon.news]`` sources) and over history (candles and a news dataset) — or why it has
no history, which is the one-line refusal a backtest gives — whether it prices the books
(observed again at valuation points and at the end) and whether it is derived from other
observations (sentiment: ``fund verify`` derives it again). Adding a kind means adding an
entry here and its own module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agentfund.oracles.base import Oracle, OracleError

if TYPE_CHECKING:
    from fund.config import DaemonSettings
    from fund.strategy import OracleSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class History:
    """What historical oracles are built from: candles by market, a news dataset as
    (epoch microseconds, item) pairs, where the period starts and how stale a price may be."""

    candles: Mapping[str, Any]
    news: list[tuple[int, dict[str, Any]]] | None = None
    since: datetime | None = None
    max_age: timedelta | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Live:
    """What live oracles are built from: the daemon's settings (exchange, news sources)."""

    settings: DaemonSettings
    actor_id: str = ""


Factory = Callable[["OracleSpec", Any], Oracle]


@dataclass(frozen=True, slots=True, kw_only=True)
class OracleKind:
    """One kind of oracle."""

    name: str
    options: frozenset[str] = field(default_factory=frozenset)
    live: Factory | None = None
    historical: Factory | None = None
    no_history: str = ""  # why a backtest cannot read it (the refusal), when historical is None
    prices: bool = False  # its data carries prices that mark the books
    derived: bool = False  # computed from this wake's other observations, not read


def _symbols(spec: OracleSpec, markets: Any) -> list[str]:
    return list(spec.options.get("symbols", markets))


def _live_prices(spec: OracleSpec, live: Live) -> Oracle:
    from agentfund.oracles.exchange_prices import ExchangePrices

    settings = live.settings
    return ExchangePrices(spec.name, list(spec.options["symbols"]), shared_tickers(
        settings.exchange_id, tuple(sorted((settings.exchange_urls or {}).items()))))


def _historical_prices(spec: OracleSpec, history: History) -> Oracle:
    from agentfund.backtests.oracle import HistoricalPrices

    symbols = spec.options.get("symbols", tuple(history.candles))
    return HistoricalPrices(spec.name, {s: history.candles[s] for s in symbols},
                            history.max_age)


def _live_book(spec: OracleSpec, live: Live) -> Oracle:
    from agentfund.oracles.exchange_books import ExchangeOrderBook

    return ExchangeOrderBook(spec.name, list(spec.options["symbols"]), _market_data(live),
                             depth=int(spec.options.get("depth", 20)))


def _live_candles(spec: OracleSpec, live: Live) -> Oracle:
    from agentfund.oracles.exchange_candles import ExchangeOHLCV

    return ExchangeOHLCV(spec.name, list(spec.options["symbols"]), _market_data(live),
                         timeframe=str(spec.options.get("timeframe", "1h")),
                         count=int(spec.options.get("candles", 24)))


def _historical_candles(spec: OracleSpec, history: History) -> Oracle:
    from agentfund.backtests.candles import HistoricalOHLCV

    symbols = spec.options.get("symbols", tuple(history.candles))
    return HistoricalOHLCV(spec.name, {s: history.candles[s] for s in symbols},
                           timeframe=str(spec.options.get("timeframe", "1h")),
                           count=int(spec.options.get("candles", 24)), max_age=history.max_age)


def _live_news(spec: OracleSpec, live: Live) -> Oracle:
    from agentfund.oracles.news import live_news

    if not live.settings.news:
        raise OracleError("it reads news: list feeds or pages under [daemon.news]")
    return live_news(spec.name, live.settings.news)


def _historical_news(spec: OracleSpec, history: History) -> Oracle:
    from agentfund.backtests.news import HistoricalNews

    if history.news is None or history.since is None:
        raise OracleError("the strategy reads news; set backtest.news")
    return HistoricalNews(spec.name, history.news, history.since)


def _sentiment(spec: OracleSpec, _sources: Any) -> Oracle:
    from agentfund.oracles.scorers import sentiment_oracle

    return sentiment_oracle(spec)


KINDS: dict[str, OracleKind] = {kind.name: kind for kind in (
    OracleKind(name="prices", options=frozenset({"symbols"}), live=_live_prices,
               historical=_historical_prices, prices=True),
    OracleKind(name="order_book", options=frozenset({"symbols", "depth"}), live=_live_book,
               no_history="there are no historical order books to backtest on"),
    OracleKind(name="ohlcv", options=frozenset({"symbols", "timeframe", "candles"}),
               live=_live_candles, historical=_historical_candles, prices=True),
    OracleKind(name="news", live=_live_news, historical=_historical_news),
    OracleKind(name="sentiment", options=frozenset({"source", "keywords", "scorer"}),
               live=_sentiment, historical=_sentiment, derived=True),
)}


def kind_of(spec: OracleSpec) -> OracleKind:
    """The registry's entry for a declared oracle; OracleError for an unknown kind or
    options the kind does not take."""
    kind = KINDS.get(spec.kind)
    if kind is None:
        raise OracleError(f"unknown oracle kind {spec.kind!r} (known: {', '.join(KINDS)})")
    unknown = set(spec.options) - kind.options
    if unknown:
        raise OracleError(f"unknown option(s) {', '.join(sorted(unknown))} for kind "
                          f"{spec.kind!r} (it takes {', '.join(sorted(kind.options)) or 'none'})")
    return kind


def no_history(spec: OracleSpec) -> str | None:
    """Why a backtest cannot read this oracle, or None."""
    kind = kind_of(spec)
    if kind.historical is not None:
        return None
    return f"oracle {spec.name!r} (kind {spec.kind!r}) is live only: {kind.no_history}"


def build(specs: tuple[OracleSpec, ...], markets: Any, sources: History | Live
          ) -> dict[str, Oracle]:
    """Build every declared oracle from historical or live sources, in declared order;
    OracleError naming the oracle when one cannot be."""
    oracles: dict[str, Oracle] = {}
    for spec in specs:
        kind = kind_of(spec)
        if kind.options >= {"symbols"} and "symbols" not in spec.options:
            spec = _with_symbols(spec, _symbols(spec, markets))
        factory = kind.historical if isinstance(sources, History) else kind.live
        if factory is None:
            raise OracleError(no_history(spec) or f"oracle {spec.name!r} has no source")
        try:
            oracles[spec.name] = factory(spec, sources)
        except (OracleError, ValueError) as exc:
            raise OracleError(f"oracle {spec.name!r}: {exc}") from None
    return oracles


def derives(spec: OracleSpec | None) -> bool:
    """Whether an oracle is derived from the wake's other observations (a kind this
    registry does not know — a test's own oracle — is read, not derived)."""
    kind = KINDS.get(spec.kind) if spec is not None else None
    return kind is not None and kind.derived


def prices(spec: OracleSpec | None) -> bool:
    """Whether an oracle's data prices the books (an unknown kind's does not)."""
    kind = KINDS.get(spec.kind) if spec is not None else None
    return kind is not None and kind.prices


def code_identities(specs: tuple[OracleSpec, ...]) -> dict[str, str]:
    """The code identity of each derived oracle's scorer, by oracle name (empty when the
    strategy derives nothing): what a Start entry records beside the strategy's."""
    derived = [spec for spec in specs if derives(spec)]
    if not derived:  # the scorers (and their libraries) are not even imported
        return {}
    from agentfund.oracles.scorers import scorer_class
    from fund.identity import code_identity

    return {spec.name: code_identity(scorer_class(spec.options.get("scorer", "vader")))
            for spec in derived}


def rederiving_oracle(spec: OracleSpec | None) -> Any:
    """For ``fund verify``: the oracle that derives this observation again, or None when
    it is read, not derived, or derived by a model whose outputs vary (then the recorded
    output is the input)."""
    if spec is None or not derives(spec):
        return None
    oracle: Any = _sentiment(spec, None)
    # a model that varies is replayed from its recorded calls when it records them
    return oracle if oracle.scorer.deterministic or hasattr(oracle.scorer, "replaying") \
        else None


def _with_symbols(spec: OracleSpec, symbols: list[str]) -> OracleSpec:
    from dataclasses import replace

    return replace(spec, options={**spec.options, "symbols": tuple(symbols)})


@functools.cache
def shared_tickers(exchange_id: str, urls: tuple[tuple[str, str], ...]) -> Any:
    """One ticker snapshot per exchange for all actors: one request serves every actor
    that asks within half a second (each still records its own observation)."""
    from agentfund.oracles.exchange_prices import SharedTickers, public_client

    return SharedTickers(public_client(exchange_id, urls=dict(urls) or None), max_age=0.5)


def _market_data(live: Live) -> Any:
    settings = live.settings
    return shared_market_data(settings.exchange_id,
                              tuple(sorted((settings.exchange_urls or {}).items())))


@functools.cache
def shared_market_data(exchange_id: str, urls: tuple[tuple[str, str], ...]) -> Any:
    """One public client per exchange for order books and candles, one request at a time."""
    from agentfund.oracles.exchange_books import SerialClient
    from agentfund.oracles.exchange_prices import public_client

    return SerialClient(public_client(exchange_id, urls=dict(urls) or None))
