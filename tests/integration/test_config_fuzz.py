"""Fuzzing the fund config: seeded random mutations of the example configs, run through
``fund backtest`` and ``fund run --once``.

Whatever a config says, the command runs (exit 0) or refuses it (exit 2) in one line
``fund: error: …`` and leaves no journal and no output directory behind: never a
traceback, never an "internal error". Mutations swap types (number, string, boolean,
array, table, date), put huge, tiny, negative and non-finite numbers, nest values deeply,
remove keys, add unknown ones, and write odd strings, crons and dates. Most cases call
``fund.cli.main`` in this process (starting ``fund`` costs ~1 s); a few run it as a
subprocess, as a user does. The named regression tests after the fuzz pin the failures
it was written for.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fund.cli import main
from tests.conftest import EXAMPLES, run_fund
from tests.integration.fake_exchange import FakeExchange, Symbol
from tests.integration.news_server import NewsServer, rss_feed

SEED = 20240611
BACKTEST_CASES = 180  # per example, in process
DAEMON_CASES = 100  # per example, in process
SUBPROCESS_CASES = 3  # per command
PERIODS = {"rebalance": ("2024-03-01", "2024-03-02"), "investors": ("2024-01-14", "2024-01-16"),
           "sentiment": ("2022-01-02", "2022-01-02")}
COINS = ("BTC", "ETH", "SOL", "XRP", "DOGE")

NUMBERS: list[Any] = [0, -1, 1, 3, 2**63, 10**38, -(10**38), 10**15, 10**15 - 1, 1e308,
                      -1e308, 1e-320, 1e-13, 1e-12, 0.1, 0.5, 0.999999, 1.5, 1e16,
                      12345678.123456789, math.nan, math.inf, -math.inf]
STRINGS: list[Any] = ["", " ", "0.3", "1e308", "nan", "true", "__class__", "__init__", "errors",
                      "binanse", "é€𝄞 ✓", "x" * 5000, "a\nb", "\t", "BTC/USDT", "../", "\u202e",
                      "DROP TABLE journal_entries"]
OTHERS: list[Any] = [True, False, [], [1, "a", 2.5], [[1]], {}, {"a": 1}, {"__class__": {}},
                     date(2024, 1, 1), datetime(2024, 1, 1, 12, tzinfo=UTC),
                     datetime(2024, 1, 1, 12), time(12, 30)]
CRONS = ["", "0 * * *", "61 * * * *", "* * * * * * *", "@hourly", "0 0 30 2 *", "*/0 * * * *",
         "0 0 * * 8", "0 0 * * 5-1", "0 ² * * *", "0 ٣ * * *", "*/7 * * * *", "0 0 1 1 *",
         "0 0 29 2 1", "a b c d e", "0 0 * * sun-sat", "0 0 * jan-dec/2 *", "* * * * *",
         "0 0 31 4 *", "0-59/0 * * * *", "0 0 * * 7/2", "0 0 * * */8", "0 0 * * ²",
         "0 0 * * 1/²"]
DATES: list[Any] = [date(1, 1, 1), date(1900, 1, 1), date(2999, 12, 31), date(9999, 12, 31),
                    date(2024, 3, 1), datetime(2024, 3, 1, 23, 59, 59, 999999),
                    datetime(2024, 3, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59),
                    datetime(1, 1, 1, tzinfo=UTC), "2024-13-45", "2024-02-30", "yesterday",
                    "2024-03-01T00:00:00+25:00", 20240301, 1.7e9, time(10)]
UNKNOWN_KEYS = ["colour", "__class__", "Initial_Cash", "é", "", "a.b", " "]


# --------------------------------------------------------------------------------------
# TOML out of plain values


def toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, but for DEL)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


@dataclass(frozen=True)
class Deep:
    """A value nested in arrays (``a``) and tables (``t``), outermost first; written as
    text, since a Python structure that deep would overflow the writer's recursion."""

    value: Any
    kinds: str

    def toml(self) -> str:
        opening = "".join("[" if kind == "a" else "{k = " for kind in self.kinds)
        closing = "".join("]" if kind == "a" else "}" for kind in reversed(self.kinds))
        return opening + toml_value(self.value) + closing


def toml_value(value: Any) -> str:
    """Any value tomllib gives back, written as TOML (tables inline)."""
    if isinstance(value, Deep):
        return value.toml()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def to_toml(doc: dict[str, Any]) -> str:
    return "".join(f"{toml_string(key)} = {toml_value(value)}\n" for key, value in doc.items())


# --------------------------------------------------------------------------------------
# mutations


Path_ = tuple[Any, ...]


def paths(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every key and element position in a document, outermost first."""
    items = node.items() if isinstance(node, dict) else (
        enumerate(node) if isinstance(node, list) else ())
    for key, value in items:
        yield (*prefix, key)
        yield from paths(value, (*prefix, key))


def parent_of(doc: dict[str, Any], path: Path_) -> Any:
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    return node


def get(doc: dict[str, Any], path: Path_) -> Any:
    return parent_of(doc, path)[path[-1]]


def put(doc: dict[str, Any], path: Path_, value: Any) -> None:
    parent_of(doc, path)[path[-1]] = value


def nested(rng: random.Random, value: Any) -> Deep:
    depth = rng.choice([33, 40, 120, 600])
    return Deep(value, "".join("a" if rng.random() < 0.7 else "t" for _ in range(depth)))


@dataclass(frozen=True)
class Mutator:
    """One kind of mutation: which positions it applies to, and what it does there."""

    name: str
    weight: int
    applies: Callable[[Any, Path_], bool]
    apply: Callable[[random.Random, dict[str, Any], Path_], str]


def _set(value_of: Callable[[random.Random, Any], Any]
         ) -> Callable[[random.Random, dict[str, Any], Path_], str]:
    def apply(rng: random.Random, doc: dict[str, Any], path: Path_) -> str:
        value = value_of(rng, get(doc, path))
        put(doc, path, value)
        return f"{_dotted(path)} = {toml_value(value)[:80]}"
    return apply


def _delete(rng: random.Random, doc: dict[str, Any], path: Path_) -> str:
    del parent_of(doc, path)[path[-1]]
    return f"delete {_dotted(path)}"


def _unknown(rng: random.Random, doc: dict[str, Any], path: Path_) -> str:
    key = rng.choice(UNKNOWN_KEYS)
    get(doc, path)[key] = value = rng.choice(NUMBERS + STRINGS + OTHERS)
    return f"{_dotted((*path, key))} = {toml_value(value)[:80]} (unknown key)"


def _dotted(path: Path_) -> str:
    return ".".join(str(part) for part in path)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


MUTATORS = [
    Mutator("swap", 4, lambda value, path: True,
            _set(lambda rng, _: rng.choice(NUMBERS + STRINGS + OTHERS))),
    Mutator("number", 4, lambda value, path: _is_number(value),
            _set(lambda rng, _: rng.choice(NUMBERS))),
    Mutator("text", 2, lambda value, path: isinstance(value, str),
            _set(lambda rng, _: rng.choice(STRINGS))),
    Mutator("quote a number", 2, lambda value, path: _is_number(value),
            _set(lambda rng, value: str(value))),
    Mutator("nest", 1, lambda value, path: True, _set(nested)),
    Mutator("delete", 2, lambda value, path: True, _delete),
    Mutator("unknown key", 1, lambda value, path: isinstance(value, dict), _unknown),
    Mutator("cron", 3, lambda value, path: path[-1] in ("cron", "valuation_cron"),
            _set(lambda rng, _: rng.choice(CRONS))),
    Mutator("date", 3, lambda value, path: path[-1] in ("start", "end", "at"),
            _set(lambda rng, _: rng.choice(DATES))),
]


def mutate(rng: random.Random, doc: dict[str, Any], protected: tuple[Path_, ...]
           ) -> list[str]:
    """Apply one to three random mutations to ``doc``; describe them."""
    done: list[str] = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        [mutator] = rng.choices(MUTATORS, [m.weight for m in MUTATORS])
        where = [p for p in paths(doc)
                 if not any(p[:len(q)] == q for q in protected) and
                 mutator.applies(get(doc, p), p)]
        if mutator.name == "unknown key":
            where.append(())  # the document itself
        if not where:
            continue
        path = rng.choice(where)
        if path == ():
            key = rng.choice(UNKNOWN_KEYS)
            doc[key] = rng.choice(NUMBERS + STRINGS + OTHERS)
            done.append(f"{key} = … (unknown top-level key)")
        else:
            done.append(mutator.apply(rng, doc, path))
    return done


# --------------------------------------------------------------------------------------
# the examples, made runnable in a temporary directory


def example(name: str) -> dict[str, Any]:
    """An example config with its paths made absolute."""
    with (EXAMPLES / f"{name}.toml").open("rb") as handle:
        doc = tomllib.load(handle)
    backtest = doc.get("backtest")
    if backtest is not None:
        backtest["prices"] = str((EXAMPLES / backtest["prices"]).resolve())
        if "news" in backtest:
            backtest["news"]["path"] = str((EXAMPLES / backtest["news"]["path"]).resolve())
    return doc


def for_backtest(name: str) -> dict[str, Any]:
    doc = example(name)
    start, end = PERIODS[name]
    doc["backtest"]["start"] = date.fromisoformat(start)
    doc["backtest"]["end"] = date.fromisoformat(end)
    return doc


def for_daemon(name: str, venue: str, feed: str) -> dict[str, Any]:
    doc = example(name)
    doc.pop("backtest", None)
    doc.pop("flows", None)
    doc["exchange"] = {"id": "binance", "urls": {"api": venue}}
    news = doc.setdefault("daemon", {}).get("news")
    if news is not None:  # one local feed: nothing to wait for between two requests
        news.update(feeds=[feed], pages=[], retries=0, min_interval_s=0)
    return doc


@dataclass
class Outcome:
    code: int
    stderr: str


def in_process(args: list[str], cwd: Path) -> Outcome:
    """``fund ARGS`` run by fund.cli.main in this process, in ``cwd``."""
    err = io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(err):
        code = main(args)
    return Outcome(code, err.getvalue())


def in_subprocess(args: list[str], cwd: Path) -> Outcome:
    result = run_fund(*args, cwd=cwd, timeout=120)
    return Outcome(result.returncode, result.stderr)


def problem(outcome: Outcome, folder: Path) -> str | None:
    """What is wrong with an outcome, or None: exit 0, or exit 2 in one line with nothing
    left behind but the config."""
    if outcome.code not in (0, 2):
        return f"exit {outcome.code}"
    if "Traceback" in outcome.stderr or "internal error" in outcome.stderr:
        return "a traceback or an internal error"
    if outcome.code == 2:
        lines = outcome.stderr.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("fund: error: "):
            return "not one line starting 'fund: error: '"
        left = sorted(p.name for p in folder.iterdir() if p.name != "fund.toml")
        if left:
            return f"left behind: {left}"
    return None


@dataclass
class Fuzz:
    """Runs mutated configs and keeps what went wrong."""

    root: Path
    runner: Callable[[list[str], Path], Outcome] = in_process
    cases: int = 0
    refused: int = 0

    def __post_init__(self) -> None:
        self.failures: list[str] = []

    def case(self, doc: dict[str, Any], changes: list[str],
             args: Callable[[Path], list[str]]) -> None:
        self.cases += 1
        folder = self.root / f"case-{self.cases}"
        folder.mkdir()
        config = folder / "fund.toml"
        config.write_text(to_toml(doc), encoding="utf-8")
        outcome = self.runner(args(folder), folder)
        self.refused += outcome.code == 2
        wrong = problem(outcome, folder)
        if wrong is not None:
            self.failures.append(f"{wrong}: {'; '.join(changes)}\n    "
                                 f"{outcome.stderr.strip()[-600:]}")


def backtest_args(folder: Path) -> list[str]:
    return ["backtest", str(folder / "fund.toml"), "--out", str(folder / "out"),
            "--no-report", "--json"]


def run_args(folder: Path) -> list[str]:
    return ["run", str(folder / "fund.toml"), "--once"]  # the journal: runs/NAME/journal.db


@pytest.fixture(scope="module")
def venue() -> Iterator[FakeExchange]:
    symbols = {f"{coin}USDT": Symbol(coin, "USDT") for coin in COINS}
    with FakeExchange(symbols) as exchange:
        exchange.reset(prices={f"{coin}USDT": Decimal(price) for coin, price in
                               zip(COINS, ("60000", "3000", "150", "0.6", "0.15"), strict=True)},
                       balances={"USDT": Decimal(10**9)})
        yield exchange


@pytest.fixture(scope="module")
def feed() -> Iterator[str]:
    now = int(datetime.now(UTC).timestamp())
    records = [{"title": "Bitcoin climbs as crypto markets cheer", "link": "https://n.test/1",
                "timestamp": now - 600, "domain": "n.test"},
               {"title": "BTC slumps; cryptocurrency traders fear losses",
                "link": "https://n.test/2", "timestamp": now - 300, "domain": "n.test"}]
    with NewsServer() as server:
        yield server.add("/feed.xml", rss_feed(records, title="wire", link=server.url("/")),
                         content_type="application/rss+xml; charset=utf-8")


def report(fuzz: Fuzz) -> str:
    return (f"{len(fuzz.failures)} of {fuzz.cases} mutated configs went wrong:\n"
            + "\n".join(fuzz.failures[:15]))


# --------------------------------------------------------------------------------------
# the fuzz


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rebalance", "sentiment", "investors"])
def test_mutated_configs_run_or_are_refused_in_one_line_by_backtest(
        tmp_path: Path, name: str) -> None:
    # Arrange
    rng = random.Random(f"{SEED}:backtest:{name}")
    fuzz = Fuzz(tmp_path)

    # Act
    for _ in range(BACKTEST_CASES):
        doc = for_backtest(name)
        changes = mutate(rng, doc, protected=())
        fuzz.case(doc, changes, backtest_args)

    # Assert
    assert not fuzz.failures, report(fuzz)
    assert fuzz.refused < fuzz.cases  # some still run


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rebalance", "sentiment-daemon", "investors"])
def test_mutated_configs_run_or_are_refused_in_one_line_by_run_once(
        tmp_path: Path, name: str, venue: FakeExchange, feed: str) -> None:
    # Arrange: the exchange stays the fake one (another would be reached over the network)
    rng = random.Random(f"{SEED}:run:{name}")
    fuzz = Fuzz(tmp_path)
    protected: tuple[Path_, ...] = (("exchange", "urls"), ("exchange",))

    # Act
    for _ in range(DAEMON_CASES):
        doc = for_daemon(name, venue.url, feed)
        changes = mutate(rng, doc, protected)
        fuzz.case(doc, changes, run_args)

    # Assert
    assert not fuzz.failures, report(fuzz)
    assert fuzz.refused < fuzz.cases


@pytest.mark.slow
def test_mutated_configs_in_a_subprocess(tmp_path: Path, venue: FakeExchange,
                                         feed: str) -> None:
    # Arrange
    rng = random.Random(f"{SEED}:subprocess")
    fuzz = Fuzz(tmp_path, runner=in_subprocess)

    # Act
    for _ in range(SUBPROCESS_CASES):
        doc = for_backtest("rebalance")
        fuzz.case(doc, mutate(rng, doc, protected=()), backtest_args)
        doc = for_daemon("rebalance", venue.url, feed)
        fuzz.case(doc, mutate(rng, doc, (("exchange",),)), run_args)

    # Assert
    assert not fuzz.failures, report(fuzz)


# --------------------------------------------------------------------------------------
# the failures the fuzz was written for


def refusal(outcome: Outcome, folder: Path) -> str:
    """The one line of a refusal that left nothing behind."""
    assert problem(outcome, folder) is None, outcome.stderr
    assert outcome.code == 2, outcome.stderr
    return outcome.stderr.strip()


def write(folder: Path, doc: dict[str, Any]) -> Path:
    path = folder / "fund.toml"
    path.write_text(to_toml(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(("cash", "shown"), [
    (1e308, "1E+308"), (12345678901234567890123456789012345678, "12345678901234567890"),
    (0.0000000000001, "13 decimal places")], ids=["float", "38-digits", "places"])
def test_cash_the_fund_cannot_hold_exactly_is_refused_before_the_journal(
        tmp_path: Path, cash: Any, shown: str) -> None:
    # Arrange
    doc = for_backtest("rebalance")
    doc["fund"]["initial_cash"] = cash
    write(tmp_path, doc)

    # Act
    line = refusal(in_process(backtest_args(tmp_path), tmp_path), tmp_path)

    # Assert
    assert "fund.initial_cash: " in line and shown in line
    assert "10^15" in line and "12 decimal places" in line


def test_an_exchange_id_that_is_no_exchange_is_refused_by_fund_run(
        tmp_path: Path, venue: FakeExchange, feed: str) -> None:
    # Arrange
    doc = for_daemon("rebalance", venue.url, feed)
    doc["exchange"]["id"] = "__class__"
    write(tmp_path, doc)

    # Act
    line = refusal(in_subprocess(run_args(tmp_path), tmp_path), tmp_path)

    # Assert
    assert line.startswith("fund: error: ") and "exchange.id: '__class__'" in line


@pytest.mark.parametrize(("name", "hint"), [("binanse", "did you mean binance"),
                                            ("errors", "not one of ccxt's")])
def test_an_exchange_id_ccxt_does_not_have_is_refused_with_close_matches(
        tmp_path: Path, venue: FakeExchange, feed: str, name: str, hint: str) -> None:
    # Arrange
    doc = for_daemon("rebalance", venue.url, feed)
    doc["exchange"]["id"] = name
    write(tmp_path, doc)

    # Act
    line = refusal(in_process(run_args(tmp_path), tmp_path), tmp_path)

    # Assert
    assert f"exchange.id: {name!r}" in line and hint in line


@pytest.mark.parametrize("depth", [40, 500])
def test_a_deeply_nested_value_is_one_line_naming_where(tmp_path: Path, depth: int) -> None:
    # Arrange
    doc = for_backtest("rebalance")
    doc["actors"]["rebalancer"]["params"]["band"] = Deep(0.01, "a" * depth)
    write(tmp_path, doc)

    # Act
    line = refusal(in_subprocess(backtest_args(tmp_path), tmp_path), tmp_path)

    # Assert
    assert line.endswith("actors.rebalancer.params.band: arrays or tables nested more than 32 "
                         "levels deep" if depth == 40 else
                         "invalid TOML: arrays or inline tables nested too deeply (line 3); "
                         "at most 32 levels"), line


@pytest.mark.parametrize(("params", "key", "found"), [
    ({"weights": {"BTC/USDT": "0.3"}}, "params.weights.BTC/USDT", "the string '0.3'"),
    ({"weights": {"BTC/USDT": 0.3}, "band": "0.02"}, "params.band", "the string '0.02'"),
    ({"weights": {"BTC/USDT": 0.3}, "book_depth": True}, "params.book_depth", "true"),
], ids=["weight", "band", "bool-for-int"])
def test_numbers_written_as_strings_are_refused_naming_the_key(
        tmp_path: Path, params: dict[str, Any], key: str, found: str) -> None:
    # Arrange
    doc = for_backtest("rebalance")
    doc["actors"]["rebalancer"]["params"] = params
    write(tmp_path, doc)

    # Act
    line = refusal(in_process(backtest_args(tmp_path), tmp_path), tmp_path)

    # Assert
    assert line.endswith(f"actors.rebalancer.{key}: expected a number, not {found}"), line


def test_a_number_from_set_is_still_a_number(tmp_path: Path) -> None:
    # Arrange
    write(tmp_path, for_backtest("rebalance"))

    # Act
    outcome = in_process([*backtest_args(tmp_path), "--set",
                          'actors.rebalancer.params.weights."BTC/USDT"=0.1'], tmp_path)

    # Assert
    assert outcome.code == 0, outcome.stderr


def test_an_unexpected_exception_is_one_line_without_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: a bug anywhere in a command
    def broken(**_: Any) -> int:
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr("fund.commands.backtest.backtest", broken)

    # Act
    outcome = in_process(["backtest", "x.toml"], tmp_path)

    # Assert
    assert outcome.code == 1
    assert outcome.stderr == ("fund: internal error: ZeroDivisionError: division by zero"
                              "\\nsecond line (a bug: please report it; AGENTFUND_DEBUG=1 "
                              "shows the traceback)\n")


def test_a_refusal_after_the_journal_was_opened_removes_the_empty_journal(
        tmp_path: Path) -> None:
    # Arrange: the cron never fires in the period (found out once the data is loaded)
    doc = for_backtest("rebalance")
    doc["actors"]["rebalancer"]["cron"] = "0 0 30 2 *"
    write(tmp_path, doc)

    # Act
    line = refusal(in_process(backtest_args(tmp_path), tmp_path), tmp_path)

    # Assert
    assert "never fires" in line


def test_a_refused_second_actor_leaves_no_stream_of_the_first(tmp_path: Path) -> None:
    # Arrange
    doc = for_backtest("rebalance")
    second = json.loads(json.dumps(doc["actors"]["rebalancer"]))
    doc["actors"]["second"] = {**second, "cron": "0 0 30 2 *"}
    write(tmp_path, doc)

    # Act
    line = refusal(in_process(backtest_args(tmp_path), tmp_path), tmp_path)

    # Assert
    assert "actors.second: cron '0 0 30 2 *' never fires" in line


def test_a_refused_daemon_config_leaves_no_journal(tmp_path: Path, venue: FakeExchange,
                                                   feed: str) -> None:
    # Arrange: the strategy reads news, and no news source is configured
    doc = for_daemon("sentiment-daemon", venue.url, feed)
    del doc["daemon"]["news"]
    write(tmp_path, doc)

    # Act
    line = refusal(in_process(run_args(tmp_path), tmp_path), tmp_path)

    # Assert
    assert "reads news" in line


def test_a_journal_that_existed_before_is_kept(tmp_path: Path) -> None:
    # Arrange: a first run, then the same journal with a strategy the backtest refuses
    doc = for_backtest("rebalance")
    write(tmp_path, doc)
    journal = tmp_path / "kept.db"
    assert in_process([*backtest_args(tmp_path), "--journal", str(journal)],
                      tmp_path).code == 0
    size = journal.stat().st_size

    # Act
    outcome = in_process([*backtest_args(tmp_path), "--journal", str(journal)], tmp_path)

    # Assert
    assert outcome.code == 2 and "already holds a stream" in outcome.stderr
    assert journal.stat().st_size == size


def test_the_end_of_time_is_refused(tmp_path: Path) -> None:
    # Arrange: "a date means the whole day", and the day after 9999-12-31 does not exist
    doc = for_backtest("rebalance")
    doc["backtest"]["end"] = date(9999, 12, 31)
    doc["backtest"]["start"] = date(9999, 12, 30)
    write(tmp_path, doc)

    # Act
    line = refusal(in_process(backtest_args(tmp_path), tmp_path), tmp_path)

    # Assert
    assert "backtest.end" in line

