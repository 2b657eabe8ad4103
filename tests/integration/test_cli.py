"""The ``fund`` command as a user runs it: errors, inspection, cheating strategies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, SAMPLE_PRICES, run_fund
from tests.fixtures.journals import JournalUrls

CONFIG = EXAMPLES / "rebalance.toml"
SHORT = ("--start", "2024-03-01", "--end", "2024-03-02", "--no-report")


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fund.toml"
    path.write_text(text.replace("PRICES", str(SAMPLE_PRICES)), encoding="utf-8")
    return path


def one_line_error(result_stderr: str) -> str:
    lines = result_stderr.strip().splitlines()
    assert len(lines) == 1, result_stderr
    assert "Traceback" not in result_stderr
    return lines[0]


BASE = """
[fund]
initial_cash = 1000
quote = "USDT"
[backtest]
prices = "PRICES"
timeframe = "5m"
[actors.r]
cron = "0 * * * *"
strategy = "STRATEGY"
[actors.r.params]
PARAMS
"""


def config_with(tmp_path: Path, strategy: str = "rebalance",
                params: str = 'weights = {"BTC/USDT" = 0.5}') -> Path:
    return write_config(tmp_path, BASE.replace("STRATEGY", strategy).replace("PARAMS", params))


@pytest.mark.parametrize(("overrides", "expected"), [
    (("--set", "fund.quote=''"), "fund.quote: String should have at least 1 character"),
    (("--set", "fund.initial_cash='lots'"), "fund.initial_cash: Input should be a valid decimal"),
    (("--set", "actors.rebalancer.strategy=momentum"), "unknown strategy 'momentum'"),
    (("--set", "actors.rebalancer.params.band='wide'"), "actors.rebalancer.params.band:"),
    (("--set", "actors.rebalancer.cron='0 * * *'"), "actors.rebalancer.cron: cron"),
    (("--set", "fund.colour=1"), "fund.colour: unknown key"),
    (("--start", "2030-01-01"), "empty period"),
    (("--start", "yesterday"), "'yesterday' is not a date"),
    (("--set", "nonsense"), "--set 'nonsense': expected dotted.key=value"),
    (("--set", "backtest.news.time='t'"), "backtest.news.path: missing required key"),
    (("--set", "backtest.news.path='x.json'", "--set", "backtest.news.colour=1"),
     "backtest.news.colour: unknown key"),
    (("--set", "risk.max_drawdown=2"), "risk: max_drawdown must be in (0, 1]"),
    (("--set", "actors.rebalancer.risk.max_orders_per_wake='many'"),
     "actors.rebalancer.risk.max_orders_per_wake: Input should be a valid integer"),
], ids=["empty-quote", "wrong-type", "unknown-strategy", "bad-param", "bad-cron",
        "unknown-key", "empty-period", "bad-date", "bad-set", "news-without-path",
        "news-unknown-field", "risk-range", "actor-risk-type"])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, overrides: tuple[str, ...],
                                      expected: str) -> None:
    result = run_fund("backtest", str(CONFIG), "--out", str(tmp_path), *overrides)

    assert result.returncode == 2
    line = one_line_error(result.stderr)
    assert line.startswith("fund: error: ")
    assert expected in line


def test_a_missing_key_names_it_and_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, BASE.replace("initial_cash = 1000\n", "")
                        .replace("STRATEGY", "rebalance")
                        .replace("PARAMS", 'weights = {"BTC/USDT" = 0.5}'))

    result = run_fund("backtest", str(path), "--out", str(tmp_path / "out"))

    assert result.returncode == 2
    assert one_line_error(result.stderr) == (
        f"fund: error: {path}: fund.initial_cash: missing required key")


def test_an_unreadable_data_file_names_the_file(tmp_path: Path) -> None:
    prices = tmp_path / "prices"
    prices.mkdir()
    (prices / "BTC_USDT-5m.feather").write_bytes(b"this is not arrow data")
    path = config_with(tmp_path)

    result = run_fund("backtest", str(path), "--set", f'backtest.prices="{prices}"',
                      "--out", str(tmp_path / "out"))

    assert result.returncode == 2
    line = one_line_error(result.stderr)
    assert f"{prices / 'BTC_USDT-5m.feather'}: cannot read" in line


def test_a_missing_data_file_names_the_directory(tmp_path: Path) -> None:
    prices = tmp_path / "prices"
    shutil.copytree(SAMPLE_PRICES, prices)
    (prices / "BTC_USDT-5m.feather").unlink()

    result = run_fund("backtest", str(CONFIG), "--set", f'backtest.prices="{prices}"',
                      "--out", str(tmp_path / "out"))

    assert result.returncode == 2
    assert f"no BTC_USDT-5m.feather/.csv/.csv.gz in {prices}" in one_line_error(result.stderr)


def test_a_csv_history_gives_the_same_journal_as_feather(tmp_path: Path,
                                                         store_urls: JournalUrls) -> None:
    import pandas as pd

    prices = tmp_path / "csv"
    prices.mkdir()
    frame = pd.read_feather(SAMPLE_PRICES / "BTC_USDT-5m.feather")
    frame.to_csv(prices / "BTC_USDT-5m.csv.gz", index=False)
    path = config_with(tmp_path)

    feather = run_fund("backtest", str(path), "--out", str(tmp_path / "f"), "--journal",
                       store_urls("feather"), "--json", *SHORT)
    csv = run_fund("backtest", str(path), "--set", f'backtest.prices="{prices}"',
                   "--out", str(tmp_path / "c"), "--journal", store_urls("csv"), "--json",
                   *SHORT)

    assert feather.returncode == csv.returncode == 0, csv.stderr
    assert json.loads(csv.stdout)["head_hash"] == json.loads(feather.stdout)["head_hash"]


def test_writing_twice_into_one_journal_is_refused(tmp_path: Path, store_url: str) -> None:
    first = run_fund("backtest", str(CONFIG), "--out", str(tmp_path), "--journal", store_url,
                     *SHORT)
    second = run_fund("backtest", str(CONFIG), "--out", str(tmp_path), "--journal", store_url,
                      *SHORT)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 2
    assert "already holds a stream for actor rebalancer" in one_line_error(second.stderr)


def test_a_strategy_that_reads_the_price_file_is_stopped(tmp_path: Path, store_url: str) -> None:
    history = SAMPLE_PRICES / "BTC_USDT-5m.feather"
    path = config_with(tmp_path, "tests.fixtures.cheating:PeekAtFile",
                       f'symbol = "BTC/USDT"\npath = "{history}"')

    result = run_fund("backtest", str(path), "--out", str(tmp_path / "out"), "--journal",
                      store_url, *SHORT)

    assert result.returncode == 1
    line = one_line_error(result.stderr)
    assert "strategy broke purity" in line and "BTC_USDT-5m.feather" in line
    shown = run_fund("journal", "show", store_url, "--kind", "Decision")
    assert "PurityError" in shown.stdout  # the attempt itself is on the record


def test_native_io_escapes_the_guard_but_not_an_investors_verify(tmp_path: Path,
                                                                store_url: str) -> None:
    history = tmp_path / "managers-copy.feather"
    shutil.copy(SAMPLE_PRICES / "BTC_USDT-5m.feather", history)
    path = config_with(tmp_path, "tests.fixtures.cheating:PeekNative",
                       f'symbol = "BTC/USDT"\npath = "{history}"')
    run = run_fund("backtest", str(path), "--out", str(tmp_path / "out"), "--journal", store_url,
                   "--json", *SHORT)
    assert run.returncode == 0, run.stderr  # C++ file reads do not raise audit events
    journal = json.loads(run.stdout)["journal"]
    assert run_fund("verify", journal).returncode == 0  # same machine, same file: same answer

    history.unlink()  # the investor has the journal, not the manager's files
    result = run_fund("verify", journal)

    assert result.returncode == 1
    assert "FAILED at entry 5: decision differs from replay" in one_line_error(result.stderr)


def test_unseeded_randomness_is_caught_by_verify(tmp_path: Path, store_url: str) -> None:
    path = config_with(tmp_path, "tests.fixtures.cheating:UnseededRandom", 'symbol = "BTC/USDT"')
    run = run_fund("backtest", str(path), "--out", str(tmp_path / "out"), "--journal", store_url,
                   "--json", *SHORT)
    assert run.returncode == 0, run.stderr

    result = run_fund("verify", json.loads(run.stdout)["journal"])

    assert result.returncode == 1
    assert "FAILED at entry 5: decision differs from replay" in one_line_error(result.stderr)


def test_the_context_rng_replays_exactly(tmp_path: Path, store_url: str) -> None:
    path = config_with(tmp_path, "tests.fixtures.cheating:SeededRandom", 'symbol = "BTC/USDT"')
    run = run_fund("backtest", str(path), "--out", str(tmp_path / "out"), "--journal", store_url,
                   "--json", *SHORT)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)

    result = run_fund("verify", summary["journal"])

    assert result.returncode == 0, result.stderr
    assert summary["fills"] > 0


def test_journal_show_and_export(tmp_path: Path, store_url: str) -> None:
    run = run_fund("backtest", str(CONFIG), "--out", str(tmp_path), "--journal", store_url,
                   "--json", *SHORT)
    summary = json.loads(run.stdout)
    journal = summary["journal"]

    exported = run_fund("journal", "export", journal, "--format", "jsonl")
    fills = run_fund("journal", "export", journal, "--kind", "Fill")
    shown = run_fund("journal", "show", journal, "--kind", "Fill", "--limit", "3")
    late = run_fund("journal", "export", journal, "--since", "2024-03-02T12:00:00")
    one_day = run_fund("journal", "export", journal, "--kind", "Decision", "--since",
                       "2024-03-01", "--until", "2024-03-01")

    records = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["seq"] for r in records] == list(range(1, summary["entries"] + 1))
    assert records[-1]["hash"] == summary["head_hash"]
    assert records[0]["kind"] == "Start" and records[0]["payload"]["strategy"] == "rebalance"
    fill_records = [json.loads(line) for line in fills.stdout.splitlines()]
    assert len(fill_records) == summary["fills"] > 0
    assert {r["kind"] for r in fill_records} == {"Fill"}
    assert shown.stdout.count(" Fill ") == 3
    assert all(json.loads(line)["ts"] >= "2024-03-02T12:00:00" for line in late.stdout.splitlines())
    day = [json.loads(line)["ts"] for line in one_day.stdout.splitlines()]
    assert len(day) == 24 and day[0][:13] == "2024-03-01T00" and day[-1][:13] == "2024-03-01T23"


def test_verify_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    # SQLite only: a missing file is SQLite's case (a PostgreSQL journal is a database URL)
    result = run_fund("verify", str(tmp_path / "nope.db"))

    assert result.returncode == 2
    assert "no journal file at" in one_line_error(result.stderr)


def test_run_help_describes_paper_and_live_trading() -> None:
    shown = run_fund("run", "--help")
    listed = run_fund("--help")

    assert shown.returncode == 0 and listed.returncode == 0
    assert "not available" not in shown.stdout
    assert "--live" in shown.stdout and "environment" in shown.stdout
    assert "paper trading on" in listed.stdout and "live with --live" in listed.stdout
