"""Replay with other code is refused: the Start entry's code identity is checked.

A user's own strategy module beside its config runs a short backtest; the journal is then
verified (``fund verify``, a real subprocess) after the module's source changed — on
SQLite, on PostgreSQL and from a bundle. A changed source is refused naming both hashes
(computed here from the files' bytes); ``--allow-code-change`` replays anyway, and says
where the decisions first differ when the change was not just cosmetic.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from fund.canonical import loads
from fund.journal import open_journal
from tests.conftest import SAMPLE_PRICES
from tests.fixtures.journals import JournalUrls

MINE = '''
from agentfund.strategies.rebalance import Rebalance


class Mine(Rebalance):
    """The rebalancer, as the user's own class."""

    name = "mine"
'''
OTHER = '''
from agentfund.strategies.rebalance import Rebalance
from fund.messages import Decision


class Mine(Rebalance):
    """Other code that decides otherwise: it never trades."""

    name = "mine"

    def on_wake(self, state, ctx):
        return state, Decision(rule="hold", reasons={})
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

[actors.own]
cron = "0 * * * *"
strategy = "mystrat:Mine"
[actors.own.params.weights]
"BTC/USDT" = 0.4
"ETH/USDT" = 0.4
"""


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fund(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``fund`` command, run from the user's folder (where their module is)."""
    return subprocess.run([sys.executable, "-m", "fund", *args], cwd=folder,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(params=["sqlite", "postgres", "bundle"])
def recorded(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    """The user's folder and a journal (or a bundle of it) of a day's backtest."""
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "mystrat.py").write_text(MINE, encoding="utf-8")
    (folder / "fund.toml").write_text(CONFIG.format(prices=SAMPLE_PRICES), encoding="utf-8")
    urls = JournalUrls("sqlite" if request.param == "bundle" else request.param, tmp_path)
    request.addfinalizer(urls.close)
    journal = urls("mine")
    ran = fund(folder, "backtest", "fund.toml", "--journal", journal, "--out",
               str(tmp_path / "out"))
    assert ran.returncode == 0, ran.stderr
    if request.param != "bundle":
        return folder, journal
    bundle = tmp_path / "mine.bundle"
    exported = fund(folder, "journal", "export", journal, "--bundle", str(bundle))
    assert exported.returncode == 0, exported.stderr
    return folder, str(bundle)


def test_the_start_entry_records_the_strategy_source_it_ran(recorded: tuple[Path, str]
                                                             ) -> None:
    _, journal = recorded
    with open_journal(journal) as store:
        start = loads(next(iter(store.read("own"))).payload)
    assert start["code"]["strategy_source"] == sha(MINE)
    assert "scorers" not in start["code"]  # it scores no news
    assert fund(recorded[0], "verify", journal).returncode == 0


def test_a_changed_strategy_source_is_refused_naming_both_hashes(recorded: tuple[Path, str]
                                                                 ) -> None:
    folder, journal = recorded
    edited = MINE + "# a comment: the same decisions, other code\n"
    (folder / "mystrat.py").write_text(edited, encoding="utf-8")

    refused = fund(folder, "verify", journal)
    allowed = fund(folder, "verify", journal, "--allow-code-change")

    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert (f"own: FAILED at entry 1: strategy code differs from the code that ran "
            f"(recorded {sha(MINE)[:16]}…, installed {sha(edited)[:16]}…)") in refused.stderr
    assert allowed.returncode == 0, allowed.stderr
    assert "own: verified" in allowed.stdout


def test_allowed_other_code_that_decides_otherwise_diverges(recorded: tuple[Path, str]
                                                            ) -> None:
    folder, journal = recorded
    (folder / "mystrat.py").write_text(OTHER, encoding="utf-8")

    allowed = fund(folder, "verify", journal, "--allow-code-change")

    assert allowed.returncode == 1
    assert "strategy code differs" not in allowed.stderr
    assert "own: FAILED at entry " in allowed.stderr and "Traceback" not in allowed.stderr
