"""Tests of fund.config: loading examples/rebalance.toml, --set overrides, one-line errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fund.config import ConfigError, FundConfig, apply_overrides, load_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "rebalance.toml"
SAMPLE_PRICES = ROOT / "data" / "sample" / "binance_spot_2024"
WEIGHTS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT")


def example_text() -> str:
    """The example config with its relative ``prices`` path made absolute."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text, count = re.subn(r'(?m)^prices\s*=\s*"[^"]*"', f'prices = "{SAMPLE_PRICES}"', text)
    assert count == 1, "examples/rebalance.toml has no [backtest] prices line"
    return text


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "fund.toml"
    path.write_text(example_text(), encoding="utf-8")
    return path


def write(tmp_path: Path, text: str, name: str = "fund.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edited(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the example with one line replaced (the line must exist)."""
    text = example_text()
    assert old in text, f"the example no longer contains {old!r}"
    return write(tmp_path, text.replace(old, new, 1))


def config_error(path: Path, overrides: tuple[str, ...] = (), cwd: Path | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides, cwd=cwd)
    message = str(info.value)
    assert "\n" not in message, f"not one line: {message!r}"
    return message


def weights_of(config: FundConfig, actor: int = 0) -> tuple[tuple[str, Decimal], ...]:
    weights: tuple[tuple[str, Decimal], ...] = config.actors[actor].params.weights
    return weights


# --------------------------------------------------------------------------------------
# the valid example


def test_example_loads_into_a_fund_config(config_file: Path) -> None:
    # Act
    config = load_config(config_file)

    # Assert
    assert config.name == "w1-rebalance"
    assert config.source == str(config_file)
    assert [a.actor_id for a in config.actors] == ["rebalancer"]
    actor = config.actors[0]
    assert actor.strategy == "rebalance"
    assert actor.cron == "0 * * * *"
    assert actor.mode == "backtest"
    assert actor.terms.quote == "USDT"
    assert actor.terms.fee_rate == Decimal("0.001")
    assert actor.terms.slippage_bps == 0
    assert list(actor.markets) == list(WEIGHTS)
    assert all(m.quote == "USDT" for m in actor.markets.values())
    assert weights_of(config) == tuple((s, Decimal("0.18")) for s in WEIGHTS)
    assert actor.params.band == Decimal("0.01")
    assert actor.params.min_notional == 0
    assert dict(config.initial_cash) == {"rebalancer": Decimal("10000")}
    assert all(isinstance(v, Decimal) for v in config.initial_cash.values())


def test_dates_become_utc_datetimes_with_end_at_the_next_midnight(config_file: Path) -> None:
    # Act
    backtest = load_config(config_file).backtest

    # Assert
    assert backtest is not None
    assert backtest.prices == SAMPLE_PRICES
    assert backtest.timeframe == timedelta(minutes=5)
    assert backtest.start == datetime(2024, 1, 1, tzinfo=UTC)
    assert backtest.end == datetime(2024, 7, 1, tzinfo=UTC)  # "end = 2024-06-30": whole day
    assert backtest.start.tzinfo is not None and backtest.end.tzinfo is not None


def test_datetimes_in_backtest_are_converted_to_utc(tmp_path: Path) -> None:
    # Arrange
    text = re.sub(r"(?m)^start = .*$", "start = 2024-01-01T02:00:00+02:00", example_text())
    text = re.sub(r"(?m)^end = .*$", "end = 2024-01-03T12:30:00", text)
    path = write(tmp_path, text)

    # Act
    backtest = load_config(path).backtest

    # Assert: an offset is converted; a local datetime is taken as UTC; no midnight rounding
    assert backtest is not None
    assert backtest.start == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert backtest.end == datetime(2024, 1, 3, 12, 30, tzinfo=UTC)


def test_same_start_and_end_date_is_one_whole_day(tmp_path: Path) -> None:
    # Arrange
    path = edited(tmp_path, "end = 2024-06-30", "end = 2024-01-01")

    # Act
    backtest = load_config(path).backtest

    # Assert
    assert backtest is not None
    assert backtest.end is not None and backtest.start is not None
    assert backtest.end - backtest.start == timedelta(days=1)


def test_weights_keep_their_toml_order(tmp_path: Path) -> None:
    # Arrange: not alphabetical, not the example's order
    text = re.sub(r'(?ms)^\[actors\.rebalancer\.params\.weights\].*\Z',
                  '[actors.rebalancer.params.weights]\n"XRP/USDT" = 0.1\n"BTC/USDT" = 0.3\n'
                  '"SOL/USDT" = 0.05\n"ETH/USDT" = 0.2\n', example_text())
    path = write(tmp_path, text)

    # Act
    config = load_config(path)

    # Assert
    assert weights_of(config) == (("XRP/USDT", Decimal("0.1")), ("BTC/USDT", Decimal("0.3")),
                                  ("SOL/USDT", Decimal("0.05")), ("ETH/USDT", Decimal("0.2")))
    assert list(config.actors[0].markets) == ["XRP/USDT", "BTC/USDT", "SOL/USDT", "ETH/USDT"]


def test_actor_cash_overrides_the_fund_default(tmp_path: Path) -> None:
    # Arrange
    text = example_text() + (
        '\n[actors.holder]\ncron = "0 0 * * mon-fri"\nstrategy = "buy_and_hold"\n'
        'initial_cash = 2500.5\n[actors.holder.params.weights]\n"ETH/USDT" = 0.5\n')
    path = write(tmp_path, text)

    # Act
    config = load_config(path)

    # Assert
    assert [a.actor_id for a in config.actors] == ["rebalancer", "holder"]
    assert dict(config.initial_cash) == {"rebalancer": Decimal("10000"),
                                         "holder": Decimal("2500.5")}
    assert config.actors[1].cron == "0 0 * * mon-fri"
    assert list(config.actors[1].markets) == ["ETH/USDT"]


def test_market_rules_come_from_fund_markets(tmp_path: Path) -> None:
    # Arrange
    text = example_text().replace(
        "[backtest]", '[fund.markets."BTC/USDT"]\namount_step = 0.00001\nmin_notional = 5\n\n'
        "[backtest]", 1)
    path = write(tmp_path, text)

    # Act
    market = load_config(path).actors[0].markets["BTC/USDT"]

    # Assert
    assert market.amount_step == Decimal("0.00001")
    assert market.min_notional == Decimal("5")
    assert market.price_step is None


def test_relative_prices_in_the_file_resolve_relative_to_the_file(tmp_path: Path) -> None:
    # Arrange: the file lives in tmp/conf/, its prices in tmp/data/
    (tmp_path / "conf").mkdir()
    text = re.sub(r'(?m)^prices\s*=.*$', 'prices = "../data/history"', example_text())
    path = write(tmp_path / "conf", text)

    # Act
    backtest = load_config(path, cwd=ROOT).backtest

    # Assert
    assert backtest is not None
    assert backtest.prices == (tmp_path / "data" / "history").resolve()


def test_the_unmodified_example_resolves_to_the_sample_data() -> None:
    # Act
    backtest = load_config(EXAMPLE, cwd=Path("/")).backtest

    # Assert
    assert backtest is not None
    assert backtest.prices == SAMPLE_PRICES.resolve()


# --------------------------------------------------------------------------------------
# --set overrides


def test_set_numbers_and_quoted_strings_with_spaces(config_file: Path) -> None:
    # Act
    config = load_config(config_file, ['actors.rebalancer.cron="*/5 * * * *"',
                                       "fund.fee_rate=0.002", "fund.initial_cash=2500",
                                       'fund.name="my fund"'])

    # Assert
    assert config.actors[0].cron == "*/5 * * * *"
    assert config.actors[0].terms.fee_rate == Decimal("0.002")
    assert dict(config.initial_cash) == {"rebalancer": Decimal("2500")}
    assert config.name == "my fund"


def test_set_unquoted_text_is_taken_as_a_string(config_file: Path) -> None:
    # Act: as a shell passes --set actors.rebalancer.cron="15 * * * *"
    config = load_config(config_file, ["actors.rebalancer.cron=15 * * * *"])

    # Assert
    assert config.actors[0].cron == "15 * * * *"


def test_set_quoted_key_part_and_order_of_existing_weights(config_file: Path) -> None:
    # Act
    config = load_config(config_file, ['actors.rebalancer.params.weights."ETH/USDT"=0.05'])

    # Assert: value replaced in place; the trading order is unchanged
    assert [s for s, _ in weights_of(config)] == list(WEIGHTS)
    assert dict(weights_of(config))["ETH/USDT"] == Decimal("0.05")


def test_set_creates_tables(config_file: Path) -> None:
    # Act
    config = load_config(config_file, [
        'actors.second.cron="30 12 * * *"', "actors.second.strategy=buy_and_hold",
        'actors.second.params.weights."SOL/USDT"=0.25'])

    # Assert
    assert [a.actor_id for a in config.actors] == ["rebalancer", "second"]
    assert weights_of(config, 1) == (("SOL/USDT", Decimal("0.25")),)


def test_set_relative_prices_resolve_relative_to_cwd(config_file: Path, tmp_path: Path) -> None:
    # Arrange
    cwd = tmp_path / "work"

    # Act
    backtest = load_config(config_file, ["backtest.prices=history/spot"], cwd=cwd).backtest

    # Assert
    assert backtest is not None
    assert backtest.prices == (cwd / "history" / "spot").resolve()


def test_set_dates(config_file: Path) -> None:
    # Act
    backtest = load_config(config_file, ["backtest.start=2024-02-01",
                                         "backtest.end=2024-02-03"]).backtest

    # Assert
    assert backtest is not None
    assert backtest.start == datetime(2024, 2, 1, tzinfo=UTC)
    assert backtest.end == datetime(2024, 2, 4, tzinfo=UTC)


def test_apply_overrides_on_a_raw_mapping(tmp_path: Path) -> None:
    # Arrange
    raw: dict[str, Any] = {"fund": {"quote": "USDT"}}

    # Act
    apply_overrides(raw, ["fund.fee_rate=0.5", "a.b.c=true", 'x.y="1 2"', "x.z=[1, 2]",
                          "backtest.prices=../p"], tmp_path)

    # Assert
    assert raw == {"fund": {"quote": "USDT", "fee_rate": 0.5}, "a": {"b": {"c": True}},
                   "x": {"y": "1 2", "z": [1, 2]},
                   "backtest": {"prices": str((tmp_path / "../p").resolve())}}


@pytest.mark.parametrize("item", ["fund.fee_rate", "=1", "fund..fee_rate=1", "fund.=1"])
def test_malformed_set_is_a_config_error(config_file: Path, item: str) -> None:
    # Act
    message = config_error(config_file, (item,))

    # Assert
    assert item in message


def test_set_through_a_non_table_is_a_config_error(config_file: Path) -> None:
    # Act
    message = config_error(config_file, ("fund.initial_cash.x=1",))

    # Assert
    assert "initial_cash" in message


# --------------------------------------------------------------------------------------
# bad files: one line naming the file and the dotted key


def assert_names(message: str, path: Path, key: str) -> None:
    assert message.startswith(f"{path}: {key}"), message


def test_missing_key(tmp_path: Path) -> None:
    # Arrange
    path = edited(tmp_path, 'quote = "USDT"', "")

    # Act / Assert
    message = config_error(path)
    assert_names(message, path, "fund.quote")
    assert "missing" in message


@pytest.mark.parametrize(("old", "new", "key"), [
    ("initial_cash = 10000", 'initial_cash = "abc"', "fund.initial_cash"),
    ("initial_cash = 10000", "initial_cash = -5", "fund.initial_cash"),
    ("fee_rate = 0.001", "fee_rate = 1.5", "fund.fee_rate"),
    ('timeframe = "5m"', 'timeframe = "5 minutes"', "backtest.timeframe"),
    ("band = 0.01", 'band = "x"', "actors.rebalancer.params.band"),
    ('cron = "0 * * * *"', "cron = 5", "actors.rebalancer.cron"),
])
def test_wrong_type_or_range(tmp_path: Path, old: str, new: str, key: str) -> None:
    # Arrange
    path = edited(tmp_path, old, new)

    # Act / Assert
    assert_names(config_error(path), path, key)


@pytest.mark.parametrize(("old", "new", "key"), [
    ("[fund]\n", '[fund]\ncolour = "red"\n', "fund.colour"),
    ("[backtest]\n", "[backtest]\nspeed = 2\n", "backtest.speed"),
    ('strategy = "rebalance"', 'strategy = "rebalance"\nretries = 3', "actors.rebalancer.retries"),
    ("min_notional = 0", "min_notional = 0\ncolour = 1", "actors.rebalancer.params.colour"),
])
def test_unknown_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    # Arrange
    path = edited(tmp_path, old, new)

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, key)
    assert "unknown key" in message


def test_unknown_strategy(tmp_path: Path) -> None:
    # Arrange
    path = edited(tmp_path, 'strategy = "rebalance"', 'strategy = "rebalanse"')

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, "actors.rebalancer.strategy")
    assert "rebalanse" in message


def test_weights_adding_up_to_more_than_one(tmp_path: Path) -> None:
    # Arrange: 4 × 0.18 + 0.5 = 1.22
    path = edited(tmp_path, '"DOGE/USDT" = 0.18', '"DOGE/USDT" = 0.5')

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, "actors.rebalancer.params")
    assert "weights" in message


def test_market_not_quoted_in_the_fund_quote(tmp_path: Path) -> None:
    # Arrange
    path = edited(tmp_path, '"DOGE/USDT" = 0.18', '"DOGE/EUR" = 0.18')

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, "actors.rebalancer.params")
    assert "DOGE/EUR" in message and "USDT" in message


@pytest.mark.parametrize("cron", ["0 * * *", "0 9 * * 8", "61 * * * *", "0 0 * * 5-1"])
def test_bad_cron(tmp_path: Path, cron: str) -> None:
    # Arrange
    path = edited(tmp_path, 'cron = "0 * * * *"', f'cron = "{cron}"')

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, "actors.rebalancer.cron")
    assert cron in message


def test_bad_cron_from_set(config_file: Path) -> None:
    # Act
    message = config_error(config_file, ('actors.rebalancer.cron="* * *"',))

    # Assert
    assert_names(message, config_file, "actors.rebalancer.cron")


def test_invalid_toml(tmp_path: Path) -> None:
    # Arrange
    path = write(tmp_path, example_text() + "\n[actors.broken\ncron = 1\n")

    # Act
    message = config_error(path)

    # Assert
    assert message.startswith(f"{path}: ")
    assert "TOML" in message and "line" in message


def test_not_utf8(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "latin1.toml"
    path.write_bytes(example_text().replace("w1-rebalance", "caf\xe9").encode("latin-1"))

    # Act / Assert
    assert config_error(path).startswith(f"{path}: ")


@pytest.mark.parametrize("name", ["missing.toml", "a-directory"])
def test_unreadable_file(tmp_path: Path, name: str) -> None:
    # Arrange
    (tmp_path / "a-directory").mkdir()
    path = tmp_path / name

    # Act
    message = config_error(path)

    # Assert
    assert message.startswith(f"{path}: ")
    assert "read" in message


@pytest.mark.parametrize("end", ["2023-12-31", "2023-06-30"])
def test_backtest_end_before_start(tmp_path: Path, end: str) -> None:
    # Arrange
    path = edited(tmp_path, "end = 2024-06-30", f"end = {end}")

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, "backtest.end")
    assert end in message


def test_no_actors(tmp_path: Path) -> None:
    # Arrange
    text = example_text()
    path = write(tmp_path, text[:text.index("[actors.rebalancer]")])

    # Act / Assert
    assert_names(config_error(path), path, "actors")


def test_missing_fund_table(tmp_path: Path) -> None:
    # Arrange
    text = example_text()
    path = write(tmp_path, text[text.index("[backtest]"):])

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, "fund")
    assert "missing" in message


def test_bad_start_names_the_key_not_the_union_member(tmp_path: Path) -> None:
    # Arrange: a TOML time is neither a date nor a datetime
    path = edited(tmp_path, "start = 2024-01-01", "start = 10:00:00")

    # Act
    message = config_error(path)

    # Assert: "backtest.start", not "backtest.start.date" (no such key)
    assert_names(message, path, "backtest.start: ")


def test_unknown_market_limit_names_its_dotted_key(tmp_path: Path) -> None:
    # Arrange
    text = example_text().replace("[backtest]", '[fund.markets."BTC/USDT"]\ntick = 1\n\n'
                                  "[backtest]", 1)
    path = write(tmp_path, text)

    # Act
    message = config_error(path)

    # Assert
    assert message.startswith(f"{path}: ")
    assert "fund.markets.BTC/USDT" in message
    assert "tick" in message


@pytest.mark.parametrize("timeframe", ["0m", "0d", "99999999999d"])
def test_unusable_timeframe_is_a_config_error(tmp_path: Path, timeframe: str) -> None:
    # Arrange: a zero-length bar, or one no timedelta can hold
    path = edited(tmp_path, 'timeframe = "5m"', f'timeframe = "{timeframe}"')

    # Act / Assert
    assert_names(config_error(path), path, "backtest.timeframe")


def test_strategy_class_without_params_is_a_config_error(tmp_path: Path) -> None:
    # Arrange: an importable Strategy subclass that declares no Params (the abstract base)
    path = edited(tmp_path, 'strategy = "rebalance"', 'strategy = "fund.strategy:Strategy"')

    # Act / Assert
    assert_names(config_error(path), path, "actors.rebalancer.strategy")


# --------------------------------------------------------------------------------------
# [daemon.news]: the daemon's live news sources


def with_news(tmp_path: Path, table: str) -> Path:
    """The example with a [daemon.news] table appended."""
    return write(tmp_path, example_text() + "\n[daemon.news]\n" + table)


def test_news_sources_merge_their_own_options_over_the_tables(tmp_path: Path) -> None:
    # Arrange
    path = with_news(tmp_path, 'feeds = ["https://a.test/rss",'
                               ' {url = "https://b.test/atom", read_timeout_s = 30}]\n'
                               'pages = ["http://c.test/story"]\n'
                               'user_agent = "fund/1 (+mailto:me@example.org)"\n'
                               'read_timeout_s = 5\nmax_bytes = 1000\nmin_interval_s = 0\n')

    # Act
    sources = load_config(path).daemon.news

    # Assert
    assert [(s.url, s.kind) for s in sources] == [
        ("https://a.test/rss", "feed"), ("https://b.test/atom", "feed"),
        ("http://c.test/story", "page")]
    assert [s.fetch.read_timeout for s in sources] == [5.0, 30.0, 5.0]
    assert sources[1].fetch.fetcher_kwargs() == {
        "user_agent": "fund/1 (+mailto:me@example.org)", "read_timeout": 30.0,
        "max_bytes": 1000, "min_interval": 0.0}


def test_no_news_table_means_no_news_sources(config_file: Path) -> None:
    assert load_config(config_file).daemon.news == ()


@pytest.mark.parametrize(("table", "key", "words"), [
    ("", "daemon.news", "at least one source"),
    ('feeds = ["ftp://a.test/rss"]\n', "daemon.news.feeds.0.url", "not an http(s) URL"),
    ('feeds = ["https://a.test/rss", "not a url"]\n', "daemon.news.feeds.1.url",
     "not an http(s) URL"),
    ("pages = [3]\n", "daemon.news.pages.0", "neither a URL nor a table"),
    ('feeds = "https://a.test/rss"\n', "daemon.news.feeds", "valid list"),
    ('feeds = [{uri = "https://a.test/rss"}]\n', "daemon.news.feeds.0.url",
     "missing required key"),
    ('feeds = [{url = "https://a.test/rss", read_timeout_s = 0}]\n',
     "daemon.news.feeds.0.read_timeout_s", "greater than 0"),
    ('feeds = ["https://a.test/rss"]\nmax_bytes = 0\n', "daemon.news.max_bytes",
     "greater than or equal to 1"),
    ('feeds = ["https://a.test/rss"]\nretries = -1\n', "daemon.news.retries",
     "greater than or equal to 0"),
    ('feeds = ["https://a.test/rss"]\ntimeout = 3\n', "daemon.news.timeout", "unknown key"),
    ('feeds = ["https://a.test/rss"]\nuser_agent = "a\\nb"\n', "daemon.news.user_agent",
     "one-line"),
    ('feeds = ["https://a.test/x"]\npages = ["https://a.test/x"]\n', "daemon.news",
     "listed more than once"),
])
def test_bad_news_sources_name_the_key(tmp_path: Path, table: str, key: str,
                                       words: str) -> None:
    # Arrange
    path = with_news(tmp_path, table)

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, f"{key}: ")
    assert words in message, message


def test_news_sources_from_set(config_file: Path) -> None:
    # Act
    config = load_config(config_file, ['daemon.news.feeds=["https://a.test/rss"]',
                                       "daemon.news.retries=0"])
    message = config_error(config_file, ("daemon.news.feeds=[1]",))

    # Assert
    [source] = config.daemon.news
    assert (source.url, source.fetch.retries) == ("https://a.test/rss", 0)
    assert message.startswith(f"{config_file}: daemon.news.feeds.0: ")


# --------------------------------------------------------------------------------------
# values typed as TOML types them


@pytest.mark.parametrize(("old", "new", "key", "found"), [
    ('"BTC/USDT" = 0.18', '"BTC/USDT" = "0.18"', "actors.rebalancer.params.weights.BTC/USDT",
     "the string '0.18'"),
    ("band = 0.01", 'band = "0.01"', "actors.rebalancer.params.band", "the string '0.01'"),
    ("band = 0.01", "band = true", "actors.rebalancer.params.band", "true"),
    ("min_notional = 0", "min_notional = 0\nbook_depth = false",
     "actors.rebalancer.params.book_depth", "false"),
    ("initial_cash = 10000", 'initial_cash = "10000"', "fund.initial_cash",
     "the string '10000'"),
    ("fee_rate = 0.001", 'fee_rate = "1e-3"', "fund.fee_rate", "the string '1e-3'"),
], ids=["weight", "param", "bool-param", "bool-int", "section", "exponent"])
def test_a_number_written_as_a_string_or_boolean_is_refused(
        tmp_path: Path, old: str, new: str, key: str, found: str) -> None:
    # Arrange
    path = edited(tmp_path, old, new)

    # Act
    message = config_error(path)

    # Assert
    assert message == f"{path}: {key}: expected a number, not {found}"


def test_a_text_that_is_no_number_keeps_pydantics_message(tmp_path: Path) -> None:
    # Arrange
    path = edited(tmp_path, "band = 0.01", 'band = "wide"')

    # Act / Assert
    assert config_error(path) == (f"{path}: actors.rebalancer.params.band: Input should be a "
                                  "valid decimal")


@pytest.mark.parametrize(("table", "key", "words"), [
    ('[risk]\nmax_orders_per_wake = "2"\n', "risk.max_orders_per_wake",
     "expected a number, not the string '2'"),
    ("[risk]\nmax_orders_per_wake = 100000000000000000000\n", "risk.max_orders_per_wake",
     "100000000000000000000 is beyond TOML's 64-bit integers"),
    ('[daemon.news]\nfeeds = ["https://a.test/rss"]\nbackoff_s = inf\n',
     "daemon.news.backoff_s", "expected a finite number, not the number inf"),
    ("[daemon]\nmisfire_grace_s = inf\n", "daemon.misfire_grace_s", "less than or equal"),
    ("[daemon]\nmisfire_grace_s = 1e300\n", "daemon.misfire_grace_s", "less than or equal"),
    ('[daemon]\nmisfire_grace_s = "30"\n', "daemon.misfire_grace_s", "the string '30'"),
], ids=["int-as-text", "int-beyond-64-bits", "inf", "inf-bounded", "huge-grace",
        "float-as-text"])
def test_numbers_in_sections_are_typed_and_bounded(tmp_path: Path, table: str, key: str,
                                                   words: str) -> None:
    # Arrange
    path = write(tmp_path, example_text() + "\n" + table)

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, f"{key}: ")
    assert words in message


def test_numbers_from_set_are_numbers_and_texts_from_set_are_texts(config_file: Path) -> None:
    # Act
    config = load_config(config_file, ['actors.rebalancer.params.weights."BTC/USDT"=0.1',
                                       "actors.rebalancer.params.band=0.02", "fund.name=x y"])
    message = config_error(config_file, ("actors.rebalancer.params.band='0.02'",))

    # Assert
    assert dict(weights_of(config))["BTC/USDT"] == Decimal("0.1")
    assert config.actors[0].params.band == Decimal("0.02")
    assert config.name == "x y"
    assert message.endswith("actors.rebalancer.params.band: expected a number, not the "
                            "string '0.02'")


def test_journaled_params_are_still_read_from_their_text(config_file: Path) -> None:
    # Arrange: the Start entry keeps Decimals as strings, and a replay reads them back
    from fund.actor import ActorSpec
    from fund.canonical import dumps, loads

    spec = load_config(config_file).actors[0]

    # Act
    again = ActorSpec.from_start(loads(dumps(spec.start_payload())))

    # Assert
    assert again.params == spec.params


def test_a_date_is_not_a_number(tmp_path: Path) -> None:
    # Arrange
    text = example_text().replace("[fund]", "[accounting]\n\n[[flows]]\nat = 1705311000\n"
                                  'investor = "alice"\nsubscribe = 5000\n\n[fund]', 1)
    path = write(tmp_path, text)

    # Act
    message = config_error(path)

    # Assert: "flows.0.at", not "flows.0.at.datetime" (a member of the union)
    assert message == f"{path}: flows.0.at: expected a date, not the number 1705311000"


# --------------------------------------------------------------------------------------
# money the books can hold exactly


@pytest.mark.parametrize(("old", "new", "key"), [
    ("initial_cash = 10000", "initial_cash = 1e308", "fund.initial_cash"),
    ("initial_cash = 10000", "initial_cash = 12345678901234567890123456789012345678",
     "fund.initial_cash"),
    ("initial_cash = 10000", "initial_cash = 1000000000000000", "fund.initial_cash"),
    ('strategy = "rebalance"', 'strategy = "rebalance"\ninitial_cash = 1e20',
     "actors.rebalancer.initial_cash"),
    ("[backtest]", '[fund.markets."BTC/USDT"]\nmin_notional = 1e16\n\n[backtest]',
     "fund.markets.BTC/USDT.min_notional"),
    ("[backtest]", "[risk]\nmax_order_notional = 1e300\n\n[backtest]",
     "risk.max_order_notional"),
    ('strategy = "rebalance"', 'strategy = "rebalance"\nrisk = {max_order_notional = 1e300}',
     "actors.rebalancer.risk.max_order_notional"),
], ids=["1e308", "38-digits", "10^15", "actor-cash", "market-rule", "risk", "actor-risk"])
def test_amounts_beyond_exact_money_are_refused_saying_the_bound(
        tmp_path: Path, old: str, new: str, key: str) -> None:
    # Arrange
    path = edited(tmp_path, old, new)

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, f"{key}: ")
    assert "too large: an amount must be below 10^15 with at most 12 decimal places" in message


@pytest.mark.parametrize(("old", "new", "key"), [
    ("initial_cash = 10000", "initial_cash = 0.0000000000001", "fund.initial_cash"),
    ("[backtest]", '[fund.markets."BTC/USDT"]\nprice_step = 1e-13\n\n[backtest]',
     "fund.markets.BTC/USDT.price_step"),
], ids=["cash", "tick"])
def test_amounts_with_too_many_places_are_refused(tmp_path: Path, old: str, new: str,
                                                  key: str) -> None:
    # Arrange
    path = edited(tmp_path, old, new)

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, f"{key}: ")
    assert "has 13 decimal places" in message


def test_the_largest_exact_amount_is_accepted(tmp_path: Path) -> None:
    # Arrange
    path = edited(tmp_path, "initial_cash = 10000", "initial_cash = 999999999999999")

    # Act / Assert
    assert load_config(path).initial_cash["rebalancer"] == Decimal("999999999999999")


def test_a_float_with_more_digits_than_it_keeps_is_refused(tmp_path: Path) -> None:
    # Arrange: a TOML float is a double; this one is 123456789012.34567 once read
    path = edited(tmp_path, "initial_cash = 10000", "initial_cash = 123456789012.3456789")

    # Act
    message = config_error(path)

    # Assert
    assert message == (f"{path}: fund.initial_cash: 123456789012.34567 has 17 significant "
                       "digits, more than a TOML float keeps exactly (15): write it with "
                       "fewer, or as an integer")


@pytest.mark.parametrize(("table", "key"), [
    ("management_fee = 0.02\ninitial_price = 1e-13\n", "accounting.initial_price"),
    ("currency_step = 1e20\n", "accounting.currency_step"),
])
def test_accounting_amounts_are_bounded(tmp_path: Path, table: str, key: str) -> None:
    # Arrange
    path = write(tmp_path, example_text() + "\n[accounting]\n" + table)

    # Act / Assert
    assert_names(config_error(path), path, f"{key}: ")


def test_flow_amounts_are_bounded(tmp_path: Path) -> None:
    # Arrange
    path = write(tmp_path, example_text() + "\n[accounting]\n\n[[flows]]\nat = 2024-02-01\n"
                 'investor = "alice"\nsubscribe = 1e18\n')

    # Act / Assert
    assert_names(config_error(path), path, "flows.0.subscribe: ")


# --------------------------------------------------------------------------------------
# ids, nesting, paths and times nothing downstream could use


@pytest.mark.parametrize("name", ["__class__", "Binance", "binance.us", ""])
def test_an_exchange_id_not_shaped_like_ccxts_is_refused_at_load(tmp_path: Path,
                                                                   name: str) -> None:
    # Arrange
    path = write(tmp_path, example_text() + f'\n[exchange]\nid = "{name}"\n')

    # Act
    message = config_error(path)

    # Assert
    assert message.startswith(f"{path}: exchange.id: {name!r} is not an exchange id")


@pytest.mark.parametrize(("name", "words"), [
    ("binanse", "did you mean binance"), ("errors", "is not one of ccxt's")])
def test_check_exchange_refuses_ids_ccxt_does_not_have(tmp_path: Path, name: str,
                                                       words: str) -> None:
    # Arrange
    from fund.config import check_exchange

    config = load_config(write(tmp_path, example_text() + f'\n[exchange]\nid = "{name}"\n'))

    # Act
    with pytest.raises(ConfigError) as info:
        check_exchange(config)

    # Assert
    assert f"exchange.id: {name!r}" in str(info.value) and words in str(info.value)


def test_check_exchange_accepts_ccxts_exchanges(config_file: Path) -> None:
    from fund.config import check_exchange

    check_exchange(load_config(config_file, ["exchange.id=kraken"]))


@pytest.mark.parametrize("actor", ["a b", "-x", "x.commands", "é", "x" * 101])
def test_an_actor_id_that_cannot_name_a_stream_is_refused(tmp_path: Path, actor: str) -> None:
    # Arrange
    path = edited(tmp_path, "[actors.rebalancer]", f'[actors."{actor}"]')
    path = write(tmp_path, path.read_text(encoding="utf-8").replace(
        "[actors.rebalancer.params", f'[actors."{actor}".params'))

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, f"actors.{actor}: an actor id is")


def test_a_value_nested_too_deeply_names_its_key(tmp_path: Path) -> None:
    # Arrange
    path = edited(tmp_path, "band = 0.01", "band = " + "[" * 40 + "]" * 40)

    # Act
    message = config_error(path)

    # Assert
    assert message == (f"{path}: actors.rebalancer.params.band: arrays or tables nested more "
                       "than 32 levels deep")


def test_a_value_nested_too_deeply_for_toml_names_its_line(tmp_path: Path) -> None:
    # Arrange: deeper than tomllib's recursion can go
    path = edited(tmp_path, "band = 0.01", 'band = "[[[" # [[[\n' + "x = " + "[" * 500
                  + "]" * 500)

    # Act
    message = config_error(path)

    # Assert
    line = example_text().splitlines().index("band = 0.01                   # trade an asset "
                                             "when its drift is >= 1 % of NAV") + 2
    assert message == (f"{path}: invalid TOML: arrays or inline tables nested too deeply "
                       f"(line {line}); at most 32 levels")


def test_a_value_nested_too_deeply_in_set(config_file: Path) -> None:
    # Act
    message = config_error(config_file, ("actors.rebalancer.params.band=" + "[" * 600
                                         + "]" * 600,))

    # Assert
    assert message.startswith("--set 'actors.rebalancer.params.band=[[[")
    assert message.endswith("nested more than 32 levels deep")


def test_a_path_the_system_cannot_look_up_is_refused(config_file: Path) -> None:
    # Act
    message = config_error(config_file, ("backtest.prices=" + "x" * 5000,))

    # Assert
    assert_names(message, config_file, "backtest.prices: cannot use ")
    assert "too long" in message


def test_the_last_day_there_is_cannot_be_an_end_date(tmp_path: Path) -> None:
    # Arrange: a date means up to the next midnight, and there is none after 9999-12-31
    path = edited(tmp_path, "end = 2024-06-30", "end = 9999-12-31")

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, "backtest.end: 9999-12-31 is the last day")


def test_a_blank_sentiment_keyword_alias_is_refused_at_load(tmp_path: Path) -> None:
    # Arrange
    text = (ROOT / "examples" / "sentiment.toml").read_text(encoding="utf-8")
    path = write(tmp_path, text.replace('aliases = ["Joe Biden", "President Biden"]',
                                        'aliases = ["Joe Biden", " "]'))

    # Act
    message = config_error(path)

    # Assert
    assert_names(message, path, "actors.mentions.params.keywords.Biden: ")
    assert "empty alias" in message


def test_a_user_agent_http_cannot_send_is_refused(tmp_path: Path) -> None:
    # Arrange
    path = with_news(tmp_path, 'feeds = [{url = "https://a.test/rss", user_agent = "é"}]\n')

    # Act / Assert
    assert config_error(path) == (f"{path}: daemon.news.feeds.0.user_agent: 'é' is not ASCII, "
                                  "as an HTTP header must be")


def test_a_nav_per_share_below_its_precision_is_refused(tmp_path: Path) -> None:
    # Arrange: NAV per share is kept to 10 places; 1e-12 would round to nothing
    path = write(tmp_path, example_text() + "\n[accounting]\ninitial_price = 1e-12\n")

    # Act / Assert
    assert_names(config_error(path), path, "accounting.initial_price: Input should be greater "
                                           "than or equal to 0.0001")


@pytest.mark.parametrize("cron", ["0 0 * * ²", "0 0 * * 1/²"])
def test_a_digit_int_cannot_read_is_a_cron_error(tmp_path: Path, cron: str) -> None:
    # Arrange: "²" is a digit to str.isdigit, not to int()
    path = edited(tmp_path, 'cron = "0 * * * *"', f'cron = "{cron}"')

    # Act / Assert
    assert_names(config_error(path), path, f"actors.rebalancer.cron: cron {cron!r}: ")
