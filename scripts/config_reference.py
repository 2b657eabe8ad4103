"""The configuration reference page, generated from the config models.

Every section and key a fund config may hold, with its type, default and bounds, is read
from the models that validate it (``fund.config.ConfigFile`` and what it nests, the risk
limits, the market limits, the news-dataset fields and every built-in strategy's
``Params``). Only the one-line descriptions are written by hand, below, keyed by dotted
key. A key the models have and DESCRIPTIONS lacks, or a description of a key the models
no longer have, is an error: the page cannot drift from the code.

    python scripts/config_reference.py            # print the page (exit 1 naming a key)
    python scripts/config_reference.py --out FILE

MkDocs runs this file as a hook (``hooks:`` in mkdocs.yml): every build, ``make docs`` and
the test suite's included, adds the page as ``reference/configuration.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

PAGE = "reference/configuration.md"
STRATEGIES = "agentfund.strategies"  # the entry-point group; built-ins are agentfund.*

# ---------------------------------------------------------------------------------------
# The hand-written part: one description per dotted key. ``<name>`` stands for an actor's
# id, ``<market>`` for a BASE/QUOTE symbol, ``<keyword>`` for a keyword; strategy
# parameters are keyed ``strategies.STRATEGY.KEY``. A section's own entry is its intro.
# ---------------------------------------------------------------------------------------
DESCRIPTIONS: dict[str, str] = {
    # [fund]
    "fund": "The fund: its name, money and trading terms.",
    "fund.name": "The fund's name: the default output directory is `runs/NAME-TIME/`.",
    "fund.initial_cash": "Cash each actor starts with, in the quote currency "
                         "(`actors.<name>.initial_cash` overrides it per actor).",
    "fund.quote": "The quote currency, such as `USDT`: every market an actor trades must be "
                  "quoted in it.",
    "fund.fee_rate": "Fee per fill, as a fraction of its notional (0.001 = 0.1 %), paid in "
                     "the quote currency.",
    "fund.slippage_bps": "Paper fills: buys fill this many basis points above the observed "
                         "price, sells below (replaced by the book when one is recorded).",
    "fund.volume_fraction": "Paper and backtest fills of resting orders (GTC and post-only "
                            "limits, stops): each candle fills an order by at most this "
                            "fraction of the candle's volume, the rest stays working "
                            "(default 0.1).",
    "fund.markets": "Per-market limits the paper exchange honours, one table per market.",
    "fund.markets.<market>": "Limits of one market, such as `[fund.markets.\"BTC/USDT\"]`; "
                             "a market no actor trades is refused.",
    "fund.markets.<market>.amount_step": "Lot size: order amounts are truncated to a "
                                         "multiple of it.",
    "fund.markets.<market>.price_step": "Tick size: prices are rounded to a multiple of it.",
    "fund.markets.<market>.min_amount": "Smallest order amount, in the base currency.",
    "fund.markets.<market>.min_notional": "Smallest order value, in the quote currency.",
    # [attest]
    "attest": "Signed checkpoints: the manager signs the journal's heads so an investor "
              "can hold them to a published record (see [Verification]"
              "(../verification.md#signed-checkpoints)).",
    "attest.key_file": "The manager's private key, from `fund keys generate`; it must be "
                       "readable by its owner only.",
    "attest.key_env": "Or: the environment variable that holds the key file's path.",
    "attest.every_s": "A daemon writes a signed checkpoint this often (and one when it "
                      "stops); a backtest signs once, at its end.",
    "attest.publish": "A directory: each checkpoint is appended to `heads.json` and "
                      "`heads.atom` there, for investors to fetch.",
    # [notify]
    "notify": "Alerts to the operator through [apprise](https://github.com/caronc/apprise) "
              "(Telegram, Slack, Discord, e-mail, ntfy, webhooks…): which events go to which "
              "target (see [Operations](../operations.md#alerts)).",
    "notify.urls": "Apprise URLs that get every event, named `urls.1`, `urls.2`… in the log "
                   "and the journal. `{NAME}` in a URL is the environment variable NAME "
                   "(keep tokens there, never in the file).",
    "notify.targets": "Named targets, each with its own events: `[notify.targets.ops]`.",
    "notify.targets.<name>": "One target; its name is all the log and the journal show of it.",
    "notify.targets.<name>.url": "The target's apprise URL; `{NAME}` is the environment "
                                 "variable NAME.",
    "notify.targets.<name>.events": "The events sent to this target (default: all of them).",
    "notify.summary_at": "When the daily summary (NAV, return, fills and fees per actor) is "
                         "sent, HH:MM UTC.",
    "notify.rate_limit_s": "The same event for the same actor is sent at most once this "
                           "often; the ones in between become one message with their count.",
    "notify.timeout_s": "Seconds to connect, and to read the answer, per attempt.",
    "notify.retries": "More attempts after a failed send, waiting `backoff_s`, then twice "
                      "that, …",
    "notify.backoff_s": "Wait before the first retry, in seconds.",
    "notify.queue": "Alerts waiting to be sent; when full, new ones are dropped (and "
                    "logged): a wake never waits on an alert.",
    # [accounting], [[flows]]
    "accounting": "Investor accounts: units, NAV per share, fees and dealing at valuation "
                  "points (see [Investors and accounting](../investors.md)). Without it "
                  "the fund has no investors.",
    "accounting.management_fee": "Yearly rate on net assets, accrued at every valuation "
                                 "point and borne by all units alike.",
    "accounting.performance_fee": "Rate on each investor's gain over their own high-water "
                                  "mark, paid by cancelling some of their units.",
    "accounting.initial_price": "NAV per share of the first units (the seed money's).",
    "accounting.currency_step": "Cash is paid in multiples of this (0.01: whole cents).",
    "accounting.valuation_cron": "When the fund values itself and deals (5-field cron, "
                                 "UTC); daily at midnight by default.",
    "accounting.seed_investor": "The investor whose units `fund.initial_cash` buys at the "
                                "start.",
    "accounting.flows_csv": "Backtests: a CSV of flows to replay, columns "
                            "`at,investor,action,amount,units[,actor]` (relative to the "
                            "config file).",
    "flows": "Backtests: investors' requests, replayed at their times; one `[[flows]]` "
             "table each. They need an `[accounting]` section.",
    "flows.at": "When the request is made (UTC if no offset is given); it is dealt at the "
                "next valuation point.",
    "flows.investor": "The investor's id.",
    "flows.actor": "The actor whose units are dealt; needed when the fund has several.",
    "flows.subscribe": "Cash to invest. Give exactly one of `subscribe`, `redeem` and "
                       "`redeem_units`.",
    "flows.redeem": "Cash to take out (converted to units at the dealing price).",
    "flows.redeem_units": "Units to sell.",
    # [backtest]
    "backtest": "History for `fund backtest` and `fund sweep` (see "
                "[Backtests](../backtests.md)).",
    "backtest.prices": "Directory of candle files `<BASE>_<QUOTE>-<timeframe>.feather`, "
                       "`.csv` or `.csv.gz` (relative to the config file).",
    "backtest.news": "A news dataset for strategies that read news (see "
                     "[Oracles and scoring](../oracles.md)).",
    "backtest.news.path": "The dataset: a JSON array, JSON lines or CSV file, optionally "
                          "gzipped (relative to the config file).",
    "backtest.news.time": "Field holding the publication time: Unix seconds or ISO 8601 "
                          "(UTC if naive).",
    "backtest.news.title": "Field holding the headline.",
    "backtest.news.text": "Field holding the body text (`\"\"`: none).",
    "backtest.news.link": "Field holding the item's URL.",
    "backtest.news.id": "Field holding a unique id (`\"\"`: none).",
    "backtest.news.source": "Field naming the publisher.",
    "backtest.timeframe": "The candles' timeframe, as in the file names: `1m`, `5m`, `1h`, "
                          "`1d`, `1w`.",
    "backtest.max_price_age": "A close older than this is not served (the fund holds "
                              "rather than trade on a stale price); same form as "
                              "`timeframe`.",
    "backtest.start": "First day or time of the period (`--start` overrides it); default: "
                      "the data's start.",
    "backtest.end": "Last day (the whole day is included) or time of the period (`--end` "
                    "overrides it); default: the data's end.",
    # [exchange]
    "exchange": "The exchange `fund run` trades on, through ccxt (see [The daemon and live "
                "trading](../daemon.md)).",
    "exchange.id": "A ccxt exchange id, such as `binance` or `kraken`; a typo is refused "
                   "with the close matches when `fund run` starts. Live trading: `binance` "
                   "or `okx` (see [supported exchanges](../daemon.md#supported-exchanges)).",
    "exchange.urls": "ccxt URL overrides, such as `{api = \"https://testnet.binance.vision\"}` "
                     "for a testnet or a local server.",
    "exchange.timeout_ms": "Timeout of one request to the exchange, in milliseconds.",
    "exchange.order_validity_ms": "How late the exchange may still accept an order it was "
                                  "sent (binance's `recvWindow`), in milliseconds.",
    "exchange.api_key_env": "Name of the environment variable holding the API key "
                            "(`--live`); the key itself never goes in the config.",
    "exchange.secret_env": "Name of the environment variable holding the API secret.",
    "exchange.password_env": "Name of the environment variable holding the API passphrase, "
                             "for exchanges that need one (OKX); see "
                             "[supported exchanges](../daemon.md#supported-exchanges).",
    "exchange.uid_env": "Name of the environment variable holding the account's user id, "
                        "for exchanges that need one.",
    # [daemon]
    "daemon": "How `fund run` schedules wakes and where its live data comes from.",
    "daemon.journal": "Journal URL or SQLite file (`--journal` overrides it); default "
                      "`runs/NAME/journal.db`.",
    "daemon.misfire_grace_s": "A wake that fires at most this many seconds late still runs; "
                              "later ones are recorded as missed.",
    "daemon.wake_budget_s": "Seconds for all of a wake's observations together; an oracle "
                            "still out then is recorded as failed.",
    "daemon.metrics": "Serve Prometheus metrics at `/metrics` and a health check at "
                      "`/healthz` on `HOST:PORT`, or `PORT` alone on 127.0.0.1; another "
                      "host must be written out (see "
                      "[Operations](../operations.md#metrics-and-health)).",
    "daemon.news": "Live news sources, read by every actor whose strategy reads news. The "
                   "fetch options set here apply to every source.",
    "daemon.news.user_agent": "User-Agent header of every request (ASCII, one line).",
    "daemon.news.connect_timeout_s": "Timeout to connect, in seconds.",
    "daemon.news.read_timeout_s": "Timeout between two reads of the answer, in seconds.",
    "daemon.news.max_bytes": "A larger body is an error for that source.",
    "daemon.news.max_redirects": "Redirects followed.",
    "daemon.news.retries": "Retries on 5xx, timeouts and refused connections, never on 4xx.",
    "daemon.news.backoff_s": "Wait before the first retry, doubled at each retry, in "
                             "seconds.",
    "daemon.news.min_interval_s": "Least time between two requests to one host, in seconds.",
    "daemon.news.deadline_s": "A whole fetch of one source — retries, redirects, waits and "
                              "slow bodies — ends by this, in seconds.",
    "daemon.news.feeds": "RSS or Atom feeds: each a URL, or a table with `url` and its own "
                         "fetch options.",
    "daemon.news.feeds.url": "The feed's http(s) URL (each URL may be listed once).",
    "daemon.news.pages": "Article pages, each a URL or a table like a feed's.",
    # [risk], [actors.<name>]
    "risk": "Risk limits of every actor, enforced by the runtime, journaled and re-derived "
            "by `fund verify`. A limit left out is off.",
    "risk.max_position_weight": "A buy may not take an asset above this fraction of NAV.",
    "risk.max_order_notional": "No single order above this much quote currency.",
    "risk.max_orders_per_wake": "Orders past this count in one wake are rejected.",
    "risk.max_drawdown": "Once NAV falls this fraction below its peak the actor is halted "
                         "(a `Halt` entry): it may still sell, but not buy.",
    "actors": "The fund's actors, at least one: each has its own journal stream.",
    "actors.<name>": "One actor. Its id (1 to 100 letters, digits and `_ . : -`) names its "
                     "journal stream.",
    "actors.<name>.cron": "When it wakes: a 5-field crontab(5) expression in UTC (`fund run` "
                          "accepts a sixth, leading field for seconds).",
    "actors.<name>.strategy": "A built-in strategy's name (below), an installed package's, "
                              "or `package.module:Class`.",
    "actors.<name>.params": "The strategy's parameters (below, for the built-ins).",
    "actors.<name>.initial_cash": "This actor's starting cash, instead of "
                                  "`fund.initial_cash`.",
    "actors.<name>.risk": "This actor's risk limits, overriding `[risk]` key by key.",
    # strategies = "rebalance"
    "strategies.rebalance": "Target-weight rebalancing with a drift band.",
    "strategies.rebalance.weights": "Each market's target fraction of NAV, as a table "
                                    "`\"BTC/USDT\" = 0.18`; trading order is the order "
                                    "written; the rest stays in cash.",
    "strategies.rebalance.band": "Trade an asset only when its drift from target is at "
                                 "least this fraction of NAV.",
    "strategies.rebalance.min_notional": "… and at least this much quote currency.",
    "strategies.rebalance.book_depth": "Above 0: record each market's order book, this many "
                                       "levels a side, and fill paper market orders by "
                                       "walking it (live only).",
    # strategy = "mention_sentiment"
    "strategies.mention_sentiment": "Keyword-mention news sentiment (see [Oracles and "
                                    "scoring](../oracles.md)).",
    "strategies.mention_sentiment.keywords": "The keywords, one table each, in order.",
    "strategies.mention_sentiment.keywords.<keyword>": "One keyword (matched "
                                                       "case-insensitively, as a whole "
                                                       "word) and the market it moves.",
    "strategies.mention_sentiment.keywords.<keyword>.symbol": "The market it moves "
                                                              "(BASE/QUOTE).",
    "strategies.mention_sentiment.keywords.<keyword>.aliases": "Other spellings that count "
                                                               "as a mention, once where "
                                                               "they overlap.",
    "strategies.mention_sentiment.lookback": "Wakes in the signal's window, this one "
                                             "included.",
    "strategies.mention_sentiment.min_mentions": "Mentions in the window for a full-strength "
                                                 "signal; fewer scale it down.",
    "strategies.mention_sentiment.enter": "With no position, buy when the signal is at "
                                          "least this.",
    "strategies.mention_sentiment.exit": "Holding, sell everything when the signal is at "
                                         "most this.",
    "strategies.mention_sentiment.size": "Fraction of NAV to buy on entry.",
    "strategies.mention_sentiment.max_weight": "Cap on the asset's fraction of NAV.",
    "strategies.mention_sentiment.scorer": "`vader`, or `package.module:Class` naming your "
                                           "own Scorer.",
    # strategy = "grid"
    "strategies.grid": "A grid of resting limit orders around the last close, with a "
                       "protective stop-market sell (the example of resting orders).",
    "strategies.grid.symbol": "The market it trades (BASE/QUOTE).",
    "strategies.grid.levels": "Buy limits below the centre, and as many sells above it.",
    "strategies.grid.spacing": "Distance between two levels, as a fraction of the centre "
                               "price.",
    "strategies.grid.order_notional": "Each level's order, in the quote currency (sells: "
                                      "at most what is held).",
    "strategies.grid.stop": "Place a stop-market sell of the holding one spacing below "
                            "the lowest buy.",
    "strategies.grid.post_only": "Place the limits post-only instead of GTC.",
    "strategies.grid.timeframe": "The candles' timeframe (the `ohlcv` oracle's).",
    "strategies.grid.candles": "Closed candles read at each wake: enough to cover the time "
                               "between two wakes, or candles in between are never "
                               "matched.",
    # strategy = "buy_and_hold" (strategies/template.py)
    "strategies.buy_and_hold": "Buy a fixed basket at the first wake that has prices, then "
                               "hold: the template to copy for your own strategy.",
    "strategies.buy_and_hold.weights": "Fraction of the initial NAV to put in each market, "
                                       "as a table `\"BTC/USDT\" = 0.5`.",
}

TYPES: dict[str, str] = {
    # keys whose model type is looser than what they accept
    "backtest.start": "date or date-time",
    "backtest.end": "date or date-time",
    "daemon.news.feeds": "array of URLs or tables",
    "daemon.news.pages": "array of URLs or tables",
    "fund.markets": "table of tables",
}

BOUNDS: dict[str, str] = {
    "attest.key_file": "key_file or key_env, at least one",
    # bounds a dataclass checks in code (__post_init__), where no metadata declares them
    "risk.max_position_weight": "> 0, ≤ 1",
    "risk.max_order_notional": "> 0",
    "risk.max_orders_per_wake": "≥ 0",
    "risk.max_drawdown": "> 0, ≤ 1",
    "strategies.rebalance.weights": "each 0 to 1, at most 1 in all, at least one market",
    "strategies.rebalance.band": "≥ 0",
    "strategies.rebalance.min_notional": "≥ 0",
    "strategies.rebalance.book_depth": "0 to 5000",
    "strategies.grid.levels": "1 to 50",
    "strategies.grid.spacing": "> 0, < 0.5",
    "strategies.grid.order_notional": "> 0",
    "strategies.mention_sentiment.keywords": "at least one",
    "strategies.mention_sentiment.lookback": "≥ 1",
    "strategies.mention_sentiment.min_mentions": "≥ 1",
    "strategies.mention_sentiment.enter": "≤ 1, > exit",
    "strategies.mention_sentiment.exit": "≥ −1, < enter",
    "strategies.mention_sentiment.size": "> 0, ≤ 1",
    "strategies.mention_sentiment.max_weight": "> 0, ≤ 1",
}

INTRO = """\
# Configuration reference

A fund is one TOML file. This page lists every section and key it may hold, with its type,
default and bounds. It is generated from the models that validate a config
(`scripts/config_reference.py`, run at every docs build), so it says what the code accepts.

How values are read:

* **Types are TOML's.** A number is written as a number: `band = 0.01`, not `band = "0.01"`
  (refused: `actors.rebalancer.params.band: expected a number, not the string '0.01'`); a
  boolean as `true`/`false`. Integers fit in 64 bits, floats are finite.
* **Amounts** (money and units: `initial_cash`, flows, market limits,
  `max_order_notional`, `initial_price`, `currency_step`) are below 10^15 with at most 12
  decimal places: the books are kept exactly, in 28-digit decimals.
* **Nesting**: arrays and tables nest at most 32 levels deep.
* **Paths** are relative to the config file (in `--set`, to the working directory).
* **Unknown keys are errors**, as are values out of bounds: one line naming the file and
  the dotted key, such as `fund.toml: daemon.news.feeds.1.read_timeout_s: Input should be
  greater than 0`. A refused config leaves no journal or output directory behind.
* **`--set dotted.key=value`** (on `fund backtest`, `fund run`, `fund sweep`) overrides any
  key; the value is read as TOML, else as text: `--set fund.fee_rate=0.002` is a number,
  `--set 'actors.r.cron="*/5 * * * *"'` a string.

A default of `—` means unset: the section, feature or limit is off.
"""


TOP_LEVEL = "The file's own keys: each is a table (or, for `flows`, an array of tables)."


class ReferenceError(Exception):
    """The models and the descriptions disagree; the message names the keys."""


@dataclass(frozen=True, slots=True)
class Key:
    """One row: a key of a section."""

    name: str
    dotted: str  # the DESCRIPTIONS key
    type: str
    default: str
    bounds: str
    anchor: str = ""  # the section the key opens, if any


@dataclass(slots=True)
class Section:
    """One table of the config, and its keys."""

    title: str  # the TOML header, such as [fund] or [[flows]]; "" for the top level
    dotted: str  # the DESCRIPTIONS key of its intro
    anchor: str
    keys: list[Key] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    label: str = ""  # said after the header

    @property
    def heading(self) -> str:
        """The section's heading text."""
        return f"`{self.title}`{self.label}" if self.title else "The top level"


@dataclass(frozen=True, slots=True)
class Spec:
    """A field as the models give it: name, annotation, default, constraints."""

    name: str
    annotation: Any
    default: Any  # REQUIRED when there is none
    metadata: tuple[Any, ...]
    owner: type  # the class whose body declares it


REQUIRED = object()


# ---------------------------------------------------------------------------------------
# Reading the models
# ---------------------------------------------------------------------------------------
def _owner(cls: type, name: str) -> type:
    return next(c for c in cls.__mro__ if name in vars(c).get("__annotations__", {}))


def specs(cls: type) -> list[Spec]:
    """The fields of a pydantic model or a (pydantic-validated) dataclass, in order."""
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return [_model_spec(cls, name, info) for name, info in cls.model_fields.items()]
    hints = typing.get_type_hints(cls, include_extras=True)
    found = []
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        default: Any = item.default
        if item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        elif default is dataclasses.MISSING:
            default = REQUIRED
        found.append(Spec(item.name, hints[item.name], default, (), _owner(cls, item.name)))
    return found


def _model_spec(cls: type[BaseModel], name: str, info: FieldInfo) -> Spec:
    default = REQUIRED if info.is_required() else info.get_default(call_default_factory=True)
    return Spec(name, info.annotation, default, tuple(info.metadata), _owner(cls, name))


def _unwrap(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    """The type without ``Annotated`` and ``| None``, and the metadata it carried."""
    metadata: tuple[Any, ...] = ()
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            metadata += annotation.__metadata__
            annotation = annotation.__origin__
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation, metadata
            annotation = args[0]
        else:
            return annotation, metadata


def _is_table(annotation: Any) -> bool:
    return isinstance(annotation, type) and (issubclass(annotation, BaseModel)
                                             or dataclasses.is_dataclass(annotation))


def _ordered_pairs(annotation: Any, metadata: tuple[Any, ...]) -> Any:
    """The value type of ``tuple[tuple[str, V], ...]`` read from a table (ordered_pairs)."""
    if not any(getattr(getattr(m, "func", None), "__name__", "") == "ordered_pairs"
               for m in metadata):
        return None
    (pair, _) = typing.get_args(annotation)
    return typing.get_args(pair)[1]


def _amount_validators() -> set[Any]:
    from fund.accounting.config import Amount

    return {m.func for m in typing.get_args(Amount)[1:]}


def type_name(annotation: Any, metadata: tuple[Any, ...] = ()) -> str:
    """A TOML-flavoured name of a field's type."""
    annotation, more = _unwrap(annotation)
    metadata += more
    if any(getattr(m, "func", None) in _amount_validators() for m in metadata):
        return "amount"
    value = _ordered_pairs(annotation, metadata)
    if value is not None:
        return f"table of {_plural(type_name(value))} (order kept)"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in args if a is not type(None))
    if origin is Literal:
        return " or ".join(f'`"{a}"`' for a in args)
    if origin in (list, tuple):
        return f"array of {_plural(type_name(args[0]))}"
    if origin is dict:
        return f"table of {_plural(type_name(args[1]))}" if args[1] is not Any else "table"
    if _is_table(annotation):
        return "table"
    return SCALARS.get(annotation, "any")


SCALARS: dict[Any, str] = {Decimal: "number", float: "number", int: "integer", str: "string",
                           bool: "boolean", Path: "path", datetime: "date-time", date: "date",
                           Any: "any"}


def _plural(name: str) -> str:
    return {"table": "tables", "string": "strings", "number": "numbers", "amount": "amounts",
            "integer": "integers", "path": "paths"}.get(name, name)


def bounds(metadata: tuple[Any, ...], kind: str) -> str:
    """The declared constraints, such as ``≥ 0, < 1``."""
    texts = [text for m in metadata if (text := _bound(m, kind)) is not None]
    return ", ".join(texts)


def _bound(item: Any, kind: str) -> str | None:
    unit = "character" if kind == "string" else "entry"
    unit = unit if getattr(item, "min_length", getattr(item, "max_length", 0)) == 1 \
        else ("characters" if kind == "string" else "entries")
    rules: list[tuple[type, Callable[[Any], str]]] = [
        (annotated_types.Gt, lambda m: f"> {_number(m.gt)}"),
        (annotated_types.Ge, lambda m: f"≥ {_number(m.ge)}"),
        (annotated_types.Lt, lambda m: f"< {_number(m.lt)}"),
        (annotated_types.Le, lambda m: f"≤ {_number(m.le)}"),
        (annotated_types.MinLen, lambda m: f"at least {m.min_length} {unit}"),
        (annotated_types.MaxLen, lambda m: f"at most {m.max_length} {unit}"),
    ]
    for cls, text in rules:
        if isinstance(item, cls):
            return text(item)
    if getattr(item, "allow_inf_nan", None) is False:
        return "finite"
    if hasattr(item, "func"):  # a validator: its rule is in the description
        return None
    raise ReferenceError(f"cannot render the constraint {item!r}: teach "
                         "scripts/config_reference.py (_bound) to")


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}".replace(",", " ") if isinstance(value, int) and value >= 10_000 \
        else str(value)


def default_text(value: Any) -> str:
    """A default as it would be written in TOML (``—`` for unset)."""
    if value is REQUIRED:
        return "required"
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, str | Path):
        return f'`"{value}"`'
    if isinstance(value, list | tuple):
        return "`[]`" if not value else f"`{list(value)}`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    if isinstance(value, BaseModel) or dataclasses.is_dataclass(value):
        return "(its defaults)"
    return f"`{value}`"


# ---------------------------------------------------------------------------------------
# Walking the config
# ---------------------------------------------------------------------------------------
@dataclass(slots=True)
class Walk:
    """The sections found so far, and where each table model was first documented."""

    sections: list[Section] = field(default_factory=list)
    first: dict[type, Section] = field(default_factory=dict)

    def table(self, cls: type, title: str, dotted: str, parent: type | None = None) -> None:
        """Document a table (a model or dataclass) and the tables inside it."""
        section = Section(title=title, dotted=dotted, anchor=_anchor(dotted))
        self.sections.append(section)
        if cls in self.first:
            shown = self.first[cls]
            section.notes.append(f"The same keys as [`{shown.title}`](#{shown.anchor}).")
            return
        self.first[cls] = section
        inherited = [s.name for s in specs(cls) if parent and s.owner is not cls
                     and any(p.name == s.name and p.owner is s.owner for p in specs(parent))]
        if inherited:
            names = ", ".join(f"`{name}`" for name in inherited)
            section.notes.append(f"Also any of {names}, as in the table above: here they "
                                 "apply to this entry alone.")
        for spec in specs(cls):
            if spec.name not in inherited:
                self.key(section, cls, spec)

    def key(self, section: Section, cls: type, spec: Spec) -> None:
        """Document one key, and the table it opens, if any."""
        dotted = f"{section.dotted}.{spec.name}" if section.dotted else spec.name
        base, metadata = _unwrap(spec.annotation)
        metadata = spec.metadata + metadata
        kind = TYPES.get(dotted) or type_name(spec.annotation, spec.metadata)
        before = len(self.sections)
        inner = self.inner_table(base, metadata)
        if dotted in EXPANSIONS:
            EXPANSIONS[dotted](self, f"[{_path(section, spec.name)}]", dotted)
        elif inner is not None:
            self.opens(section, cls, spec.name, dotted, inner)
        anchor = self.sections[before].anchor if len(self.sections) > before else ""
        default = spec.default
        if default is None and section.dotted in INHERITED_DEFAULTS:
            default = INHERITED_DEFAULTS[section.dotted]().get(spec.name)
        section.keys.append(Key(spec.name, dotted, kind, default_text(default),
                                BOUNDS.get(dotted) or bounds(metadata, kind), anchor))

    def opens(self, section: Section, cls: type, name: str, dotted: str,
              inner: tuple[str, type]) -> None:
        """Document the table a key opens: a table, an array of tables or a map of them."""
        shape, model = inner
        path = _path(section, name)
        if shape == "table":
            self.table(model, f"[{path}]", dotted, cls)
        elif shape == "array":
            self.table(model, f"[[{path}]]", dotted, cls)
        else:
            placeholder = "<keyword>" if name == "keywords" else "<name>"
            self.table(model, f"[{path}.{placeholder}]", f"{dotted}.{placeholder}", cls)

    @staticmethod
    def inner_table(base: Any, metadata: tuple[Any, ...]) -> tuple[str, type] | None:
        """How a key's value nests a table model: ("table"|"array"|"map", model)."""
        pair_value = _ordered_pairs(base, metadata)
        if pair_value is not None:
            return ("map", pair_value) if _is_table(pair_value) else None
        if _is_table(base):
            return "table", base
        origin, args = typing.get_origin(base), typing.get_args(base)
        if origin is list and _is_table(_unwrap(args[0])[0]):
            return "array", _unwrap(args[0])[0]
        if origin is dict and _is_table(_unwrap(args[1])[0]):
            return "map", _unwrap(args[1])[0]
        return None


def _path(section: Section, name: str) -> str:
    """The dotted TOML path of a key of a section."""
    header = section.title.strip("[]")
    return f"{header}.{name}" if header else name


def _anchor(dotted: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", dotted.lower()).strip("-")


# The keys whose model says only "a table" (dict[str, Any]): what they hold is validated
# elsewhere, by these classes.
def _risk(walk: Walk, title: str, dotted: str) -> None:
    from fund.risk import RiskLimits

    walk.table(RiskLimits, title, dotted)


def _news_dataset(walk: Walk, title: str, dotted: str) -> None:
    from fund.config import NewsFields

    walk.table(NewsFields, title, dotted)
    section = walk.sections[-1]  # fund.config reads "path", then the fields, NewsFields
    section.keys.insert(0, Key("path", f"{dotted}.path", "path", "required", ""))


def _markets(walk: Walk, title: str, dotted: str) -> None:
    from fund.config import FundSection
    from fund.markets import Market

    limits = [f.name for f in dataclasses.fields(Market) if f.name not in
              ("symbol", "base", "quote")]
    try:
        Market.parse("A/B", dict.fromkeys(limits, "1"))
    except ValueError as exc:
        raise ReferenceError(f"fund.markets: Market.parse refuses a limit: {exc}") from None
    value = typing.get_args(typing.get_args(FundSection.model_fields["markets"].annotation)[1])[1]
    section = Section(title=f'{title[:-1]}."<market>"]', dotted=f"{dotted}.<market>",
                      anchor=_anchor(f"{dotted}.<market>"))
    section.keys = [Key(name, f"{dotted}.<market>.{name}", type_name(value), "—", "")
                    for name in limits]
    walk.sections.append(section)


def _strategy_params(walk: Walk, title: str, dotted: str) -> None:
    for name, cls in builtin_strategies():
        before = len(walk.sections)
        walk.table(cls.Params, title, f"strategies.{name}")
        walk.sections[before].label = f' with `strategy = "{name}"`'


def _fetcher_defaults() -> dict[str, Any]:
    """What an unset fetch option of [daemon.news] means: the Fetcher's own default
    (``read_timeout_s`` sets its ``read_timeout``; see fund.news_sources)."""
    import inspect

    from agentfund.oracles.http import Fetcher
    from fund.news_sources import NewsSection

    signature = inspect.signature(Fetcher).parameters
    defaults = {}
    for spec in specs(NewsSection):
        if spec.name in ("feeds", "pages"):
            continue
        name = spec.name.removesuffix("_s")
        if name not in signature:
            raise ReferenceError(f"daemon.news.{spec.name}: Fetcher has no option {name}")
        defaults[spec.name] = signature[name].default
    return defaults


INHERITED_DEFAULTS: dict[str, Callable[[], dict[str, Any]]] = {
    # sections whose unset keys take their default from elsewhere
    "daemon.news": _fetcher_defaults,
}

EXPANSIONS: dict[str, Callable[[Walk, str, str], None]] = {
    "fund.markets": _markets,
    "backtest.news": _news_dataset,
    "risk": _risk,
    "actors.<name>.risk": _risk,
    "actors.<name>.params": _strategy_params,
}


def builtin_strategies() -> list[tuple[str, Any]]:
    """The strategies agentfund ships, by the names configs use."""
    points = [p for p in entry_points(group=STRATEGIES) if p.value.startswith("agentfund.")]
    if not points:
        raise ReferenceError(f"no {STRATEGIES} entry points: install agentfund "
                             "(pip install -e .) before building the docs")
    return [(point.name, point.load()) for point in sorted(points, key=lambda p: p.name)]


def walk_config() -> list[Section]:
    """Every section of a config, in the order ConfigFile declares them."""
    from fund.config import ConfigFile

    walk = Walk()
    root = Section(title="", dotted="", anchor="top-level")
    walk.sections.append(root)
    for spec in specs(ConfigFile):
        walk.key(root, ConfigFile, spec)
    return walk.sections


# ---------------------------------------------------------------------------------------
# Checking and rendering
# ---------------------------------------------------------------------------------------
def documented_keys(sections: list[Section]) -> set[str]:
    """Every dotted key the page describes: sections and their keys."""
    return {s.dotted for s in sections if s.dotted} | {k.dotted for s in sections
                                                       for k in s.keys}


def check(sections: list[Section], descriptions: dict[str, str]) -> None:
    """Refuse a key without a description, or a description (type, bound) of no key."""
    keys = documented_keys(sections)
    missing = sorted(keys - descriptions.keys())
    stale = sorted((descriptions.keys() | TYPES.keys() | BOUNDS.keys()) - keys)
    vague = sorted(k.dotted for s in sections for k in s.keys if "any" in k.type.split())
    problems = []
    if missing:
        problems.append("no description for " + ", ".join(missing) + " (add it to "
                        "DESCRIPTIONS in scripts/config_reference.py)")
    if stale:
        problems.append("described but not in the config models: " + ", ".join(stale)
                        + " (remove it from scripts/config_reference.py)")
    if vague:
        problems.append("no type for " + ", ".join(vague) + " (add it to TYPES)")
    if problems:
        raise ReferenceError("config reference: " + "; ".join(problems))


def render(descriptions: dict[str, str] | None = None) -> str:
    """The reference page, in Markdown; ReferenceError if it would be incomplete."""
    descriptions = DESCRIPTIONS if descriptions is None else descriptions
    sections = walk_config()
    check(sections, descriptions)
    lines = [INTRO, "Sections:", ""]
    lines += [f"* [{s.heading}](#{s.anchor})" for s in sections]
    for section in sections:
        lines += ["", f"## {section.heading} {{#{section.anchor}}}", "",
                  descriptions.get(section.dotted, TOP_LEVEL)]
        lines += [f"\n{note}" for note in section.notes]
        if section.keys:
            lines += ["", "| Key | Type | Default | Bounds | Description |",
                      "| --- | --- | --- | --- | --- |"]
            lines += [_row(key, descriptions[key.dotted]) for key in section.keys]
    return "\n".join(lines) + "\n"


def _row(key: Key, description: str) -> str:
    name = f"[`{key.name}`](#{key.anchor})" if key.anchor else f"`{key.name}`"
    cells = [name, key.type, key.default, key.bounds, description]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def keys_in(text: str) -> Iterator[str]:
    """The key names of a rendered page's tables (for tests)."""
    for line in text.splitlines():
        match = re.match(r"\| \[?`([^`]+)`", line)
        if match:
            yield match.group(1)


# ---------------------------------------------------------------------------------------
# MkDocs hook and command line
# ---------------------------------------------------------------------------------------
def on_files(files: Any, config: Any) -> Any:
    """MkDocs hook: add the generated page to the build (fail it if the page cannot be)."""
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    if files.get_file_from_path(PAGE) is not None:
        raise PluginError(f"docs/{PAGE} is generated at build time by "
                          "scripts/config_reference.py: delete the file")
    try:
        text = render()
    except ReferenceError as exc:
        raise PluginError(str(exc)) from None
    files.append(File.generated(config, PAGE, content=text))
    return files


def main(argv: list[str] | None = None) -> int:
    """Print (or write) the page; exit 1 naming the keys if it would be incomplete."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the page here instead of stdout")
    args = parser.parse_args(argv)
    try:
        text = render()
    except ReferenceError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
