"""Fund configuration: TOML files, ``--set`` overrides, validation with clear errors.

Validation happens at this edge with pydantic; the rest of agentfund sees frozen
dataclasses (:class:`FundConfig`, :class:`~fund.actor.ActorSpec`). Every error is one
line naming the file and the dotted key: ``examples/x.toml: actors.r.cron: …``.
Relative paths in a file are relative to that file; in ``--set`` to the working directory.
"""

from __future__ import annotations

import os
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
    field_validator,
)

from fund.accounting.config import (
    AccountingSection,
    Amount,
    Flow,
    FlowSection,
    FlowsError,
    from_csv,
    from_sections,
)
from fund.accounting.spec import AccountingSpec
from fund.actor import ActorSpec
from fund.alerts.settings import NotifySection, NotifySettings
from fund.markets import Market
from fund.messages import ALERTS_SUFFIX, COMMANDS_SUFFIX
from fund.money import exact_amount
from fund.news_sources import NewsSection, NewsSource
from fund.risk import RiskLimits
from fund.schedule import CronError, cron_trigger
from fund.strategy import (
    FundTerms,
    Strategy,
    StrategyError,
    parse_params,
    strategy_class,
)
from fund.toml_types import (
    MAX_DEPTH,
    MISSING,
    check_toml,
    deepest_line,
    error_location,
    is_toml_error,
    too_deep,
)

ACTOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
"""An actor's id: its journal stream is named by it (and its commands by ID.commands)."""
EXCHANGE_ID = re.compile(r"[a-z][a-z0-9]{0,63}")
"""The shape of ccxt's exchange ids (membership is checked by check_exchange)."""


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
    initial_cash: Amount = Field(gt=0)
    quote: str = Field(min_length=1)
    fee_rate: Decimal = Field(default=Decimal(0), ge=0, lt=1)
    slippage_bps: Decimal = Field(default=Decimal(0), ge=0, lt=10_000)
    volume_fraction: Decimal | None = Field(default=None, gt=0, le=1)
    markets: dict[str, dict[str, Amount]] = {}


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
    initial_cash: Amount | None = Field(default=None, gt=0)
    risk: dict[str, Any] = {}


def _exchange_id(value: str) -> str:
    if not EXCHANGE_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not an exchange id: ccxt's are lowercase letters "
                         "and digits, such as binance or kraken")
    return value


class ExchangeSection(_Model):
    id: Annotated[str, AfterValidator(_exchange_id)] = "binance"
    urls: dict[str, str] = {}  # e.g. {api = "https://testnet.binance.vision"}
    timeout_ms: int = Field(default=10_000, ge=100, le=300_000)  # one request to the exchange
    order_validity_ms: int = Field(default=5_000, ge=1_000, le=60_000)  # binance recvWindow
    api_key_env: str = "AGENTFUND_API_KEY"  # names of environment variables, never the keys
    secret_env: str = "AGENTFUND_SECRET"
    password_env: str = "AGENTFUND_PASSWORD"  # the passphrase, where the exchange needs one
    uid_env: str = "AGENTFUND_UID"  # the account's user id, where the exchange needs one


class DaemonSection(_Model):
    journal: str | None = None
    misfire_grace_s: float = Field(default=30.0, ge=0, le=366 * 86_400)
    wake_budget_s: float = Field(default=60.0, gt=0, le=3600)  # a wake's observations, in all
    news: NewsSection | None = None  # live news sources (fund/news_sources.py)
    metrics: str | None = None  # HOST:PORT (or PORT, on 127.0.0.1): /metrics and /healthz

    @field_validator("metrics")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            metrics_address(value)
        return value


class AttestSection(_Model):
    key_file: Path | None = None  # the manager's private key (fund keys generate)
    key_env: str | None = None  # or: the environment variable holding the key file's path
    every_s: float = Field(default=3600.0, gt=0, le=366 * 86_400)  # a checkpoint this often
    publish: Path | None = None  # the heads feed's directory, re-published at each checkpoint


class ConfigFile(_Model):
    fund: FundSection
    attest: AttestSection | None = None
    notify: NotifySection | None = None
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
    password_env: str = "AGENTFUND_PASSWORD"
    uid_env: str = "AGENTFUND_UID"
    news: tuple[NewsSource, ...] = ()  # [daemon.news]: feeds, then pages
    wake_budget: timedelta = timedelta(seconds=60)  # oracles still out then: recorded failed
    exchange_timeout_ms: int = 10_000
    order_validity_ms: int = 5_000  # how late the exchange may accept an order it was sent
    metrics: tuple[str, int] | None = None  # where /metrics and /healthz are served


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestSettings:
    """Signed checkpoints (fund/attest.py): whose key, how often, where they are published."""

    key_file: Path | None = None
    key_env: str | None = None
    every: timedelta = timedelta(hours=1)
    publish: Path | None = None

    def key_path(self) -> Path | None:
        """The private key file: named in the config, or by the environment variable."""
        if self.key_file is not None:
            return self.key_file
        if self.key_env:
            named = os.environ.get(self.key_env, "")
            return Path(named) if named else None
        return None


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
    attest: AttestSettings | None = None  # signed checkpoints, when [attest] is set
    notify: NotifySettings | None = None  # alerts, when [notify] is set (fund/alerts/)


def metrics_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6), or ``PORT`` alone: on 127.0.0.1 (0: any
    free port)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) < 65_536 or not host:
        raise ValueError(f"{text!r} is not HOST:PORT, such as 127.0.0.1:9464")
    return host, int(port)


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


def _parse_value(text: str, item: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise ConfigError(f"--set {item!r}: arrays or tables nested more than {MAX_DEPTH} "
                          "levels deep") from None


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
        value = _parse_value(text, item)
        if parts == ["backtest", "prices"] and isinstance(value, str):
            value = str((cwd / value).resolve())
        table[parts[-1]] = value


def _first_error(exc: ValidationError, prefix: str = "", raw: Any = MISSING) -> str:
    errors = exc.errors()
    error = next((e for e in errors if is_toml_error(e["type"])), errors[0])
    where = ".".join(p for p in (prefix, error_location(error["loc"], raw)) if p)
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
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ConfigError(f"{path}: invalid TOML: arrays or inline tables nested too deeply "
                          f"(line {deepest_line(text)}); at most {MAX_DEPTH} levels") from None
    apply_overrides(raw, overrides, cwd or Path.cwd())
    deep = too_deep(raw)
    if deep is not None:
        raise ConfigError(f"{path}: {deep}: arrays or tables nested more than "
                          f"{MAX_DEPTH} levels deep")
    return raw


def load_config(path: Path, overrides: Sequence[str] = (), cwd: Path | None = None) -> FundConfig:
    """Read, override and validate a fund config file; raise ConfigError on any problem."""
    raw = raw_config(path, overrides, cwd)
    try:
        check_toml(ConfigFile, raw)
        model = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_error(exc, raw=raw)}") from None
    return _build(model, path)


def check_exchange(config: FundConfig) -> None:
    """Refuse an ``[exchange] id`` that is not one of ccxt's exchanges, suggesting close
    ones. (Not done while loading: importing ccxt takes longer than a short backtest.)"""
    import difflib

    import ccxt  # type: ignore[import-untyped]

    name = config.daemon.exchange_id
    if name in ccxt.exchanges:
        return
    close = difflib.get_close_matches(name, ccxt.exchanges, n=3)
    hint = f"did you mean {' or '.join(close)}?" if close else "see ccxt.exchanges"
    raise ConfigError(f"{config.source}: exchange.id: {name!r} is not one of ccxt's "
                      f"{len(ccxt.exchanges)} exchanges ({hint})")


CREDENTIAL_KEYS = {"apiKey": "api_key_env", "secret": "secret_env", "password": "password_env",
                   "uid": "uid_env"}
"""Each ccxt credential, and the [exchange] key naming the variable that holds it."""


def credential_names(settings: DaemonSettings) -> dict[str, str]:
    """ccxt's name of each credential, and the environment variable holding it."""
    return {cred: getattr(settings, key) for cred, key in CREDENTIAL_KEYS.items()}


def check_live(config: FundConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """Refuse live trading the exchange cannot do: an exchange not supported live, an order
    kind a strategy may send that it cannot take, a credential the environment lacks.
    Return the credentials (ccxt's names) the exchange needs; secrets are never printed."""
    from fund.exchange.venues import CREDENTIALS, UnsupportedVenue, venue

    name = config.daemon.exchange_id
    try:
        found = venue(name)
    except UnsupportedVenue as exc:
        raise ConfigError(f"{config.source}: exchange.id: {exc}") from None
    for spec in config.actors:
        for kind in strategy_class(spec.strategy)(spec.params).order_types():
            refused = found.refusal(kind)
            if refused:
                raise ConfigError(f"{config.source}: actors.{spec.actor_id}.strategy: "
                                  f"{spec.strategy} may send {kind} orders, but {refused} "
                                  f"(it takes {', '.join(found.kinds())})")
    names = credential_names(config.daemon)
    missing = [c for c in found.credentials if not environ.get(names[c])]
    if missing:
        what = " and ".join(CREDENTIALS[c] for c in missing)
        raise ConfigError(f"{config.source}: exchange.{CREDENTIAL_KEYS[missing[0]]}: --live on "
                          f"{name} needs {what}: set {' and '.join(names[c] for c in missing)} "
                          "(the variables [exchange] names)")
    return {c: environ[names[c]] for c in found.credentials}


def _build(model: ConfigFile, path: Path) -> FundConfig:
    fund = model.fund
    terms = FundTerms(quote=fund.quote, fee_rate=fund.fee_rate, slippage_bps=fund.slippage_bps,
                      volume_fraction=fund.volume_fraction)
    actors: list[ActorSpec] = []
    cash: dict[str, Decimal] = {}
    for actor_id, section in model.actors.items():
        if not ACTOR_ID.fullmatch(actor_id) or \
                actor_id.endswith((COMMANDS_SUFFIX, ALERTS_SUFFIX)):
            raise ConfigError(f"{path}: actors.{actor_id}: an actor id is 1 to 100 letters, "
                              "digits and _ . : - (starting with a letter or digit, not "
                              f"ending in {COMMANDS_SUFFIX} or {ALERTS_SUFFIX}); it names the "
                              "actor's journal stream")
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
    if model.daemon.news is not None:
        _check_user_agents(model.daemon.news, path)
    daemon = DaemonSettings(misfire_grace=timedelta(seconds=model.daemon.misfire_grace_s),
                            exchange_id=model.exchange.id,
                            exchange_urls=dict(model.exchange.urls) or None,
                            journal=model.daemon.journal,
                            api_key_env=model.exchange.api_key_env,
                            secret_env=model.exchange.secret_env,
                            password_env=model.exchange.password_env,
                            uid_env=model.exchange.uid_env,
                            news=model.daemon.news.sources() if model.daemon.news else (),
                            wake_budget=timedelta(seconds=model.daemon.wake_budget_s),
                            exchange_timeout_ms=model.exchange.timeout_ms,
                            order_validity_ms=model.exchange.order_validity_ms,
                            metrics=metrics_address(model.daemon.metrics)
                            if model.daemon.metrics else None)
    flows: tuple[Flow, ...] = ()
    if model.accounting is not None:
        actors = [replace(spec, accounting=_accounting(model.accounting, path))
                  for spec in actors]
        flows = _flows(model, path, [spec.actor_id for spec in actors])
    elif model.flows:
        raise ConfigError(f"{path}: flows: investors' flows need an [accounting] section")
    attest = None
    if model.attest is not None:
        signing = model.attest
        attest = AttestSettings(
            key_file=_relative(signing.key_file, path) if signing.key_file else None,
            key_env=signing.key_env, every=timedelta(seconds=signing.every_s),
            publish=_relative(signing.publish, path) if signing.publish else None)
        if attest.key_file is None and not attest.key_env:
            raise ConfigError(f"{path}: attest: name the key: key_file, or key_env")
    return FundConfig(name=fund.name, source=str(path), actors=tuple(actors),
                      initial_cash=cash, backtest=backtest, daemon=daemon, flows=flows,
                      attest=attest, notify=model.notify.settings() if model.notify else None)


def _check_user_agents(news: NewsSection, path: Path) -> None:
    """Refuse a user agent HTTP cannot send (a header is ASCII)."""
    agents = [("daemon.news", news.user_agent)] + [
        (f"daemon.news.{kind}.{number}", source.user_agent)
        for kind, sources in (("feeds", news.feeds), ("pages", news.pages))
        for number, source in enumerate(sources)]
    for where, agent in agents:
        if agent is not None and not agent.isascii():
            raise ConfigError(f"{path}: {where}.user_agent: {agent!r} is not ASCII, as an "
                              "HTTP header must be")


def _cron_problem(exc: ValueError, expr: str) -> str:
    return str(exc) if isinstance(exc, CronError) else f"cron {expr!r}: {exc}"


def _accounting(section: AccountingSection, path: Path) -> AccountingSpec:
    try:
        cron_trigger(section.valuation_cron)
    except ValueError as exc:  # a CronError, or a digit int() cannot read ("²")
        raise ConfigError(f"{path}: accounting.valuation_cron: "
                          f"{_cron_problem(exc, section.valuation_cron)}") from None
    return section.spec()


def _flows(model: ConfigFile, path: Path, actors: list[str]) -> tuple[Flow, ...]:
    """Every flow, each naming its actor (the only one, when the fund has one)."""
    assert model.accounting is not None
    flows = from_sections(model.flows)
    if model.accounting.flows_csv is not None:
        try:
            flows += from_csv(_relative(model.accounting.flows_csv, path,
                                        "accounting.flows_csv"))
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


def _relative(target: Path, config: Path, key: str = "") -> Path:
    """``target`` relative to the config file; with a ``key``, refused (naming it) if the
    system cannot even look it up (a name too long, a symlink loop)."""
    resolved = (target if target.is_absolute() else config.parent / target).resolve()
    try:
        resolved.exists()
    except OSError as exc:
        raise ConfigError(f"{config}: {key}: cannot use {resolved}: "
                          f"{exc.strerror or exc}") from None
    return resolved


def _news(raw: Mapping[str, Any] | None, path: Path) -> tuple[Path | None, NewsFields]:
    if raw is None:
        return None, NewsFields()
    fields = dict(raw)
    if not isinstance(fields.get("path"), str):
        raise ConfigError(f"{path}: backtest.news.path: missing required key (the dataset file)")
    dataset = _relative(Path(fields.pop("path")), path, "backtest.news.path")
    try:
        check_toml(NewsFields, fields)
        return dataset, TypeAdapter(NewsFields).validate_python(fields)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_error(exc, 'backtest.news', fields)}") from None


def _backtest(section: BacktestSection, path: Path) -> BacktestSettings:
    news, fields = _news(section.news, path)
    try:
        end = _moment(section.end, end=True)
    except OverflowError:  # the day after 9999-12-31
        raise ConfigError(f"{path}: backtest.end: {section.end} is the last day a date can "
                          "have, and a date means up to the next midnight") from None
    settings = BacktestSettings(
        prices=_relative(section.prices, path, "backtest.prices"),
        timeframe=parse_timeframe(section.timeframe),
        start=_moment(section.start, end=False), end=end,
        news=news, news_fields=fields, max_price_age=parse_timeframe(section.max_price_age))
    if settings.start and settings.end and settings.end <= settings.start:
        raise ConfigError(f"{path}: backtest.end: {section.end} is not after "
                          f"backtest.start {section.start}")
    return settings


def _risk(fund_wide: Mapping[str, Any], own: Mapping[str, Any], actor_id: str,
          path: Path) -> RiskLimits:
    """The actor's limits: the fund-wide [risk] table, overridden key by key by its own."""
    validator = TypeAdapter(RiskLimits)
    for where, table in (("risk", dict(fund_wide)), (f"actors.{actor_id}.risk", own)):
        try:
            check_toml(RiskLimits, {**fund_wide, **table})
            limits = validator.validate_python({**fund_wide, **table})
        except ValidationError as exc:
            raise ConfigError(f"{path}: {_first_error(exc, where, table)}") from None
        notional = table.get("max_order_notional")
        if notional is not None and limits.max_order_notional is not None:
            try:
                exact_amount(limits.max_order_notional, written=notional)
            except ValueError as exc:
                raise ConfigError(f"{path}: {where}.max_order_notional: {exc}") from None
    return limits


def _actor(actor_id: str, section: ActorSection, terms: FundTerms,
           rules: Mapping[str, Mapping[str, Decimal]], source: Path) -> ActorSpec:
    where = f"{source}: actors.{actor_id}"
    try:
        cron_trigger(section.cron)
    except ValueError as exc:  # a CronError, or a digit int() cannot read ("²")
        raise ConfigError(f"{where}.cron: {_cron_problem(exc, section.cron)}") from None
    try:
        cls = strategy_class(section.strategy, search=(source.parent,))
    except StrategyError as exc:
        raise ConfigError(f"{where}.strategy: {exc}") from None
    if not isinstance(getattr(cls, "Params", None), type):
        raise ConfigError(f"{where}.strategy: {section.strategy} declares no Params class")
    try:
        params = parse_params(cls, section.params, toml=True)
    except ValidationError as exc:
        raise ConfigError(f"{where}.{_first_error(exc, 'params', section.params)}") from None
    strategy = cls(params)
    _check_keywords(strategy, where)
    markets: dict[str, Market] = {}
    for symbol in strategy.symbols():
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


def _check_keywords(strategy: Strategy[Any, Any], where: str) -> None:
    """Refuse sentiment keywords that cannot be looked for (a blank name or alias) and a
    scorer setting that is not valid now: the sentiment oracle is built only when the
    actor runs."""
    for oracle in strategy.oracles():
        if oracle.kind != "sentiment":
            continue
        from agentfund.oracles.mentions import Keyword  # only for a strategy that scores news
        from agentfund.oracles.scorers import ScorerConfigError, scorer_options

        try:
            scorer_options(oracle.options.get("scorer", "vader"))
        except ScorerConfigError as exc:
            raise ConfigError(f"{where}.params.{exc}") from None
        for name, aliases in oracle.options.get("keywords", ()):
            try:
                Keyword(name=name, aliases=tuple(aliases))
            except ValueError as exc:
                raise ConfigError(f"{where}.params.keywords.{name}: {exc}") from None
