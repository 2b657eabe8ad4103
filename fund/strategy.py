"""The strategy author's API: a pure handler, its typed parameters, and its context.

A strategy is a class registered under a name with :func:`register`. Its parameters are
a frozen stdlib dataclass (``Params``) validated from config by pydantic. Its one entry
point, :meth:`Strategy.on_wake`, is a pure function of ``(state, ctx)``: it must not read
the clock, the environment, files or the network, nor use unseeded randomness. The
runtime records every input before the handler sees it, so a replay feeds it the same
inputs and must get the same :class:`~fund.messages.Decision`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError

from fund.ledger import PortfolioView
from fund.markets import Market
from fund.messages import Decision, Observation
from fund.plugins import PluginError, import_object
from fund.toml_types import check_toml

if TYPE_CHECKING:
    from fund.exchange.resting import WorkingOrder

P = TypeVar("P")
S = TypeVar("S")


class StrategyError(Exception):
    """A strategy could not be found, configured or run."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OracleSpec:
    """An oracle a strategy reads at every wake: its name, kind and options (the kinds and
    their options: agentfund/oracles/kinds.py)."""

    name: str
    kind: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class FundTerms:
    """The trading terms a handler may plan with (the adapter enforces them)."""

    quote: str
    fee_rate: Decimal
    slippage_bps: Decimal
    volume_fraction: Decimal | None = None  # a resting order's fills per candle: at most
    # this fraction of its volume (None: fund.exchange.resting.DEFAULT_VOLUME_FRACTION)


_NO_ORDERS: Mapping[str, WorkingOrder] = MappingProxyType({})
_NOTHING_OWED = Decimal(0)


class Context:
    """Everything a handler may use: logical time, recorded observations, the portfolio,
    the markets and a seeded RNG. Read-only by convention."""

    __slots__ = (
        "_rng",
        "actor_id",
        "cash_required",
        "markets",
        "observations",
        "orders",
        "portfolio",
        "terms",
        "time",
        "wake_seq",
    )

    def __init__(self, *, actor_id: str, time: datetime, wake_seq: int,
                 observations: Mapping[str, Observation], portfolio: PortfolioView,
                 markets: Mapping[str, Market], terms: FundTerms,
                 cash_required: Decimal | None = None,
                 orders: Mapping[str, WorkingOrder] | None = None) -> None:
        self.actor_id = actor_id
        # the actor's resting orders still working, by client order id, oldest first
        self.orders: Mapping[str, WorkingOrder] = MappingProxyType(
            {coid: dataclasses.replace(o) for coid, o in orders.items()}) if orders else \
            _NO_ORDERS  # (most wakes have none: no copy made at each)
        # cash the fund owes or must pay out soon (fees owed, queued redemptions): a
        # strategy should keep this much in cash and invest only the rest
        self.cash_required = cash_required or _NOTHING_OWED
        self.time = time
        self.wake_seq = wake_seq
        self.observations = observations
        self.portfolio = portfolio
        self.markets = markets
        self.terms = terms
        self._rng: random.Random | None = None

    @property
    def rng(self) -> random.Random:
        """A random generator seeded by (actor, wake position): the same in every replay."""
        if self._rng is None:
            seed = hashlib.sha256(f"{self.actor_id}\x1f{self.wake_seq}".encode()).digest()
            self._rng = random.Random(int.from_bytes(seed[:8], "big"))
        return self._rng

    def prices(self, oracle: str = "prices") -> dict[str, Decimal]:
        """Return the prices an observation recorded at this wake ({} if it failed)."""
        observation = self.observations.get(oracle)
        if observation is None or observation.prices is None:
            return {}
        return dict(observation.prices)


class Strategy(ABC, Generic[P, S]):
    """Base class of strategies: subclass, set ``name`` and ``Params``, write ``on_wake``."""

    name: ClassVar[str]
    Params: ClassVar[type[Any]]

    def __init__(self, params: P) -> None:
        self.params = params

    @abstractmethod
    def symbols(self) -> tuple[str, ...]:
        """Return the markets (``BASE/QUOTE``) this strategy may trade, in a fixed order."""

    def oracles(self) -> tuple[OracleSpec, ...]:
        """Declare the oracles read at every wake (default: prices of ``symbols()``)."""
        return (OracleSpec(name="prices", kind="prices", options={"symbols": self.symbols()}),)

    def order_types(self) -> tuple[str, ...]:
        """Declare the order kinds this strategy may send (``market``, ``limit:IOC``, …: see
        fund/exchange/venues.py); a live exchange that cannot take one is refused at start."""
        return ("market", "limit:IOC")

    def initial_state(self) -> S:
        """Return the state before the first wake (default: None)."""
        return None  # type: ignore[return-value]

    @abstractmethod
    def on_wake(self, state: S, ctx: Context) -> tuple[S, Decision]:
        """Decide at a wake. Pure: same (state, ctx) gives the same result.

        If it raises, the runtime journals the failure as a Decision with rule "error" and
        no orders, keeps the previous state, and the actor carries on at the next wake.
        """


_REGISTRY: dict[str, type[Strategy[Any, Any]]] = {}


def register(cls: type[Strategy[P, S]]) -> type[Strategy[P, S]]:
    """Class decorator: make a strategy available under its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


ENTRY_POINTS = "agentfund.strategies"
"""The entry-point group naming strategies: the built-ins' and any installed package's."""


def strategy_class(name: str, search: Sequence[Path] = ()) -> type[Strategy[Any, Any]]:
    """Find a strategy: by registered name, by the name of an ``agentfund.strategies`` entry
    point (the built-ins, or an installed package's), or by ``package.module:Class`` (looked
    for in ``search`` first: a config's own directory; see fund.plugins)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    target = _named().get(name)
    if target is None and ":" not in name:
        known = ", ".join(sorted({*_REGISTRY, *_named()}))
        raise StrategyError(f"unknown strategy {name!r} (known: {known}; or use module:Class)")
    try:
        cls = import_object(target or name, search)
    except PluginError as exc:
        raise StrategyError(f"strategy: {exc}") from None
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise StrategyError(f"{name!r} is not a Strategy subclass")
    return cls


@functools.cache
def _named() -> dict[str, str]:
    """Strategy names published as entry points, and the ``module:Class`` each names."""
    return {point.name: point.value for point in entry_points(group=ENTRY_POINTS)}


def parse_params(cls: type[Strategy[Any, Any]], raw: Mapping[str, Any], *,
                 toml: bool = False) -> Any:
    """Validate raw values into the strategy's Params; raise ValidationError.

    ``toml``: the values come from a config file, so a number must be a TOML number, not
    a string (:func:`fund.toml_types.check_toml`); journaled params (Decimals as text)
    are not.
    """
    if toml:
        check_toml(cls.Params, dict(raw))
    return TypeAdapter(cls.Params).validate_python(dict(raw))


def ordered_pairs(value: Any) -> Any:
    """Pydantic before-validator: accept a mapping and keep its order as (key, value) pairs.

    Journaled JSON sorts mapping keys, so a parameter whose order matters (trade order,
    priority) must be a sequence; this lets config still write it as a TOML table.
    """
    if isinstance(value, Mapping):
        return tuple(value.items())
    return value


def params_payload(params: Any) -> dict[str, Any]:
    """Return validated params as a JSON-able dict (Decimals kept for canonical encoding)."""
    return dataclasses.asdict(params)


def source_hash(cls: type[Strategy[Any, Any]]) -> str:
    """The code identity of a strategy: its module's source hash, or its installed
    distribution's (fund/identity.py)."""
    from fund.identity import code_identity

    return code_identity(cls)


__all__ = ["Context", "FundTerms", "OracleSpec", "Strategy", "StrategyError",
           "ValidationError", "ordered_pairs", "params_payload", "parse_params", "register",
           "source_hash", "strategy_class"]
