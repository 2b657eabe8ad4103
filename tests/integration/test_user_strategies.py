"""A user's own strategies, in a folder laid out the way freqtrade users keep theirs: a
``strategies`` package and a module of their own beside the config. The built-ins cannot
be shadowed, and the user's module is found the same way by ``python -m fund`` and by the
``fund`` command, from any working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_PRICES

FUND = Path(sys.executable).with_name("fund")
MINE = '''
from fund.messages import Decision
from fund.strategy import Context, Strategy
from agentfund.strategies.template import BuyAndHold, BuyAndHoldParams


class Mine(BuyAndHold):
    """The template's buy-and-hold, as the user's own class."""

    name = "mine"
    Params = BuyAndHoldParams
'''
CONFIG = """
[fund]
name = "mine"
initial_cash = 1000
quote = "USDT"

[backtest]
prices = "{prices}"
timeframe = "5m"
start = 2024-01-01
end = 2024-01-02

[actors.builtin]
cron = "0 * * * *"
strategy = "rebalance"
[actors.builtin.params.weights]
"BTC/USDT" = 0.5

[actors.own]
cron = "0 * * * *"
strategy = "mystrat:Mine"
[actors.own.params.weights]
"ETH/USDT" = 0.5
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The user's folder: their own ``strategies`` and ``oracles`` packages (which would
    break agentfund if they were imported in its place), their module, their config."""
    place = tmp_path / "user"
    for package in ("strategies", "oracles", "backtests"):
        (place / package).mkdir(parents=True)
        (place / package / "__init__.py").write_text(
            f'raise ImportError("the user\'s own {package} package was imported")\n')
    (place / "mystrat.py").write_text(MINE, encoding="utf-8")
    (place / "fund.toml").write_text(CONFIG.format(prices=SAMPLE_PRICES), encoding="utf-8")
    return place


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env}, check=False)


@pytest.mark.parametrize("entry", ["python -m fund", "fund"])
def test_a_users_folder_shadows_nothing_and_its_module_is_found(folder: Path, tmp_path: Path,
                                                               entry: str) -> None:
    command = [sys.executable, "-m", "fund"] if entry == "python -m fund" else [str(FUND)]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    from_folder = run([*command, "backtest", "fund.toml", "--out", str(tmp_path / "a"),
                       "--no-report", "--json"], folder)
    from_elsewhere = run([*command, "backtest", str(folder / "fund.toml"), "--out",
                          str(tmp_path / "b"), "--no-report", "--json"], elsewhere)
    verified_in_folder = run([*command, "verify", str(tmp_path / "a" / "journal.db")], folder)
    verified_by_path = run([*command, "verify", str(tmp_path / "b" / "journal.db")], elsewhere,
                           AGENTFUND_PATH=str(folder))

    for done in (from_folder, from_elsewhere, verified_in_folder, verified_by_path):
        assert done.returncode == 0, done.stderr
    assert from_folder.stdout == from_elsewhere.stdout.replace(str(tmp_path / "b"),
                                                               str(tmp_path / "a"))


def test_an_unknown_strategy_names_the_known_ones(folder: Path) -> None:
    config = folder / "fund.toml"
    config.write_text(config.read_text().replace('"mystrat:Mine"', '"nosuch"'))

    done = run([sys.executable, "-m", "fund", "backtest", "fund.toml", "--no-report"], folder)

    assert done.returncode == 2
    assert "unknown strategy 'nosuch' (known: buy_and_hold, grid, mention_sentiment, rebalance" \
        in done.stderr
