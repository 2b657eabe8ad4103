"""Fund configuration: TOML files, ``--set`` overrides, validation with clear errors.

Validation happens at this edge with pydantic; the rest of agentfund sees frozen
dataclasses (:class:`FundConfig`, :class:`~fund.actor.ActorSpec`). Every error is one
line naming the file and the dotted key: ``examples/x.toml: actors.r.cron: …``.
Relative paths in a file are relative to that file; in ``--set`` to the working directory.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from fund.accounting.config import (
    AccountingSection,
    Flow,
    FlowSection,
    FlowsError,
    from_csv,
    from_sections,
)
from fund.accounting.spec import AccountingSpec
from fund.actor import ActorSpec
from fund.markets import Market
from fund.news_sources import NewsSection, NewsSource
from fund.risk import RiskLimits
from fund.schedule import CronError, cron_trigger
from fund.strategy import FundTerms, StrategyError, parse_params, strategy_class


@dataclass(frozen=True, slots=True, kw_only=True)
class NewsFields:
    """Which dataset field holds what; ``text``/``id``/``source`` may be absent."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    time: str = "timestamp"
    title: str = "title"
    text: str = ""
    link: str = "link"
    id: str = ""
    source: str = "domain"


class ConfigError(Exception):
    """A configuration problem; the message names the file and key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FundSection(_Model):
    name: str = "fund"
    initial_cash: Decimal = Field(gt=0)
    quote: str = Field(min_length=1)
    fee_rate: Decimal = Field(default=Decimal(0), ge=0, lt=1)
    slippage_bps: Decimal = Field(default=Decimal(0), ge=0, lt=10_000)
    markets: dict[str, dict[str, Decimal]] = {}


def _timeframe(value: Any) -> str:
    text = str(value)
    if not re.fullmatch(r"[1-9]\d{0,4}[mhdw]", text):
        raise ValueError(f"{text!r} is not a timeframe like 1m, 5m, 1h, 1d or 1w")
    return text


def _date_or_time(value: Any) -> date | datetime | None:
    if value is None or isinstance(value, date):  # datetime is a date too
        return value
    if isinstance(value, str):
        with suppress(ValueError):
            return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
    raise ValueError(f"{value!r} is not a date (2024-01-31) or a date-time")


class BacktestSection(_Model):
    prices: Path
    news: dict[str, Any] | None = None  # path, and the NewsFields above
    timeframe: Annotated[str, BeforeValidator(_timeframe)]
    max_price_age: Annotated[str, BeforeValidator(_timeframe)] = "1d"
    start: Annotated[Any, AfterValidator(_date_or_time)] = None
    end: Annotated[Any, AfterValidator(_date_or_time)] = None


class ActorSection(_Model):
    cron: str
    strategy: str
    params: dict[str, Any] = {}
    initial_cash: Decimal | None = Field(default=None, gt=0)
    risk: dict[str, Any] = {}


class ExchangeSection(_Model):
    id: str = "binance"
    urls: dict[str, str] = {}  # e.g. {api = "https://testnet.binance.vision"}
    api_key_env: str = "AGENTFUND_API_KEY"  # names of environment variables, never the keys
    secret_env: str = "AGENTFUND_SECRET"


class DaemonSection(_Model):
    journal: str | None = None
    misfire_grace_s: float = Field(default=30.0, ge=0)
    news: NewsSection | None = None  # live news sources (fund/news_sources.py)


class ConfigFile(_Model):
    fund: FundSection
    accounting: AccountingSection | None = None
    flows: list[FlowSection] = []
    backtest: BacktestSection | None = None
    exchange: ExchangeSection = ExchangeSection()
    daemon: DaemonSection = DaemonSection()
    risk: dict[str, Any] = {}
    actors: dict[str, ActorSection] = Field(min_length=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestSettings:
    """Where the history is and which period to run."""

    prices: Path
    timeframe: timedelta
    start: datetime | None
    end: datetime | None
    news: Path | None = None
    news_fields: NewsFields = field(default_factory=NewsFields)
    max_price_age: timedelta = timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonSettings:
    """How ``fund run`` schedules and where its live data comes from."""

    misfire_grace: timedelta = timedelta(seconds=30)
    exchange_id: str = "binance"
    exchange_urls: Mapping[str, str] | None = None
    journal: str | None = None
    api_key_env: str = "AGENTFUND_API_KEY"
    secret_env: str = "AGENTFUND_SECRET"
    news: tuple[NewsSource, ...] = ()  # [daemon.news]: feeds, then pages


@dataclass(frozen=True, slots=True, kw_only=True)
class FundConfig:
    """A validated fund: its name, actors (with their cash) and backtest settings."""

    name: str
    source: str
    actors: tuple[ActorSpec, ...]
    initial_cash: Mapping[str, Decimal]
    backtest: BacktestSettings | None
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    flows: tuple[Flow, ...] = ()  # investors' requests a backtest replays, in time order


def parse_timeframe(text: str) -> timedelta:
    """Turn ``5m``/``1h``/``1d``/``1w`` into a duration."""
    unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[text[-1]]
    return timedelta(**{unit: int(text[:-1])})


def _moment(value: date | datetime | None, *, end: bool) -> datetime | None:
    """A date means its whole day: start at 00:00, end at the next midnight (inclusive)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return moment + timedelta(days=1) if end else moment


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str], cwd: Path) -> None:
    """Apply ``dotted.key=value`` overrides (values parsed as TOML, else taken as text)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = [p.strip().strip('"') for p in key.split(".")]
        if not sep or not all(parts):
            raise ConfigError(f"--set {item!r}: expected dotted.key=value")
        table = raw
        for part in parts[:-1]:
            nxt = table.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {item!r}: {part} is not a table")
            table = nxt
        value = _parse_value(text)
        if parts == ["backtest", "prices"] and isinstance(value, str):
            value = str((cwd / value).resolve())
        table[parts[-1]] = value


def _location(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc if not str(part).startswith("function-"))


def _first_error(exc: ValidationError, prefix: str = "") -> str:
    error = exc.errors()[0]
    where = ".".join(p for p in (prefix, _location(error["loc"])) if p)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "missing required key"
    elif error["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        message = "unknown key"
    return f"{where}: {message}" if where else message


def raw_config(path: Path, overrides: Sequence[str] = (), cwd: Path | None = None
               ) -> dict[str, Any]:
    """Read a config file and apply overrides (not validated yet); ConfigError if unreadable."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    apply_overrides(raw, overrides, cwd or Path.cwd())
    return raw


def load_config(path: Path, overrides: Sequence[str] = (), cwd: Path | None = None) -> FundConfig:
    """Read, override and validate a fund config file; raise ConfigError on any problem."""
    raw = raw_config(path, overrides, cwd)
    try:
        model = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_error(exc)}") from None
    return _build(model, path)


def _build(model: ConfigFile, path: Path) -> FundConfig:
    fund = model.fund
    terms = FundTerms(quote=fund.quote, fee_rate=fund.fee_rate, slippage_bps=fund.slippage_bps)
    actors: list[ActorSpec] = []
    cash: dict[str, Decimal] = {}
    for actor_id, section in model.actors.items():
        spec = _actor(actor_id, section, terms, fund.markets, path)
        actors.append(replace(spec, risk=_risk(model.risk, section.risk, actor_id, path)))
        cash[actor_id] = section.initial_cash or fund.initial_cash
    traded = {symbol for spec in actors for symbol in spec.markets}
    for symbol in fund.markets:
        if symbol not in traded:
            raise ConfigError(f"{path}: fund.markets.{symbol}: no actor trades this market")
    backtest = None
    if model.backtest is not None:
        backtest = _backtest(model.backtest, path)
    daemon = DaemonSettings(misfire_grace=timedelta(seconds=model.daemon.misfire_grace_s),
                            exchange_id=model.exchange.id,
                            exchange_urls=dict(model.exchange.urls) or None,
                            journal=model.daemon.journal,
                            api_key_env=model.exchange.api_key_env,
                            secret_env=model.exchange.secret_env,
                            news=model.daemon.news.sources() if model.daemon.news else ())
    flows: tuple[Flow, ...] = ()
    if model.accounting is not None:
        actors = [replace(spec, accounting=_accounting(model.accounting, path))
                  for spec in actors]
        flows = _flows(model, path, [spec.actor_id for spec in actors])
    elif model.flows:
        raise ConfigError(f"{path}: flows: investors' flows need an [accounting] section")
    return FundConfig(name=fund.name, source=str(path), actors=tuple(actors),
                      initial_cash=cash, backtest=backtest, daemon=daemon, flows=flows)


def _accounting(section: AccountingSection, path: Path) -> AccountingSpec:
    try:
        cron_trigger(section.valuation_cron)
    except CronError as exc:
        raise ConfigError(f"{path}: accounting.valuation_cron: {exc}") from None
    return section.spec()


def _flows(model: ConfigFile, path: Path, actors: list[str]) -> tuple[Flow, ...]:
    """Every flow, each naming its actor (the only one, when the fund has one)."""
    assert model.accounting is not None
    flows = from_sections(model.flows)
    if model.accounting.flows_csv is not None:
        try:
            flows += from_csv(_relative(model.accounting.flows_csv, path))
        except FlowsError as exc:
            raise ConfigError(str(exc)) from None
    named = []
    for number, flow in enumerate(flows, 1):
        actor = flow.actor or (actors[0] if len(actors) == 1 else None)
        if actor not in actors:
            raise ConfigError(f"{path}: flow {number} ({flow.investor} at {flow.at:%Y-%m-%d}): "
                              f"name its actor ({', '.join(actors)})" if actor is None else
                              f"{path}: flow {number}: no actor {actor!r}")
        named.append(replace(flow, actor=actor))
    return tuple(sorted(named, key=lambda f: f.at))


def _relative(target: Path, config: Path) -> Path:
    return (target if target.is_absolute() else config.parent / target).resolve()


def _news(raw: Mapping[str, Any] | None, path: Path) -> tuple[Path | None, NewsFields]:
    if raw is None:
        return None, NewsFields()
    fields = dict(raw)
    if not isinstance(fields.get("path"), str):
        raise ConfigError(f"{path}: backtest.news.path: missing required key (the dataset file)")
    dataset = _relative(Path(fields.pop("path")), path)
    try:
        return dataset, TypeAdapter(NewsFields).validate_python(fields)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_error(exc, 'backtest.news')}") from None


def _backtest(section: BacktestSection, path: Path) -> BacktestSettings:
    news, fields = _news(section.news, path)
    settings = BacktestSettings(
        prices=_relative(section.prices, path),
        timeframe=parse_timeframe(section.timeframe),
        start=_moment(section.start, end=False), end=_moment(section.end, end=True),
        news=news, news_fields=fields, max_price_age=parse_timeframe(section.max_price_age))
    if settings.start and settings.end and settings.end <= settings.start:
        raise ConfigError(f"{path}: backtest.end: {section.end} is not after "
                          f"backtest.start {section.start}")
    return settings


def _risk(fund_wide: Mapping[str, Any], own: Mapping[str, Any], actor_id: str,
          path: Path) -> RiskLimits:
    """The actor's limits: the fund-wide [risk] table, overridden key by key by its own."""
    try:
        TypeAdapter(RiskLimits).validate_python(dict(fund_wide))
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_error(exc, 'risk')}") from None
    try:
        return TypeAdapter(RiskLimits).validate_python({**fund_wide, **own})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_error(exc, f'actors.{actor_id}.risk')}") from None


def _actor(actor_id: str, section: ActorSection, terms: FundTerms,
           rules: Mapping[str, Mapping[str, Decimal]], source: Path) -> ActorSpec:
    where = f"{source}: actors.{actor_id}"
    try:
        cron_trigger(section.cron)
    except CronError as exc:
        raise ConfigError(f"{where}.cron: {exc}") from None
    try:
        cls = strategy_class(section.strategy)
    except StrategyError as exc:
        raise ConfigError(f"{where}.strategy: {exc}") from None
    if not isinstance(getattr(cls, "Params", None), type):
        raise ConfigError(f"{where}.strategy: {section.strategy} declares no Params class")
    try:
        params = parse_params(cls, section.params)
    except ValidationError as exc:
        raise ConfigError(f"{where}.{_first_error(exc, 'params')}") from None
    markets: dict[str, Market] = {}
    for symbol in cls(params).symbols():
        quote = symbol.partition("/")[2]
        if quote != terms.quote:
            raise ConfigError(f"{where}.params: market {symbol} is not quoted in fund.quote "
                              f"{terms.quote}")
        try:
            markets[symbol] = Market.parse(symbol, dict(rules.get(symbol, {})))
        except ValueError as exc:
            raise ConfigError(f"{source}: fund.markets.{symbol}: {exc}") from None
    return ActorSpec(actor_id=actor_id, strategy=section.strategy, params=params,
                     cron=section.cron, terms=terms, markets=markets, mode="backtest")
