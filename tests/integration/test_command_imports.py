"""Imports that match the command: ``fund backtest`` and ``fund verify`` load no library
they do not use — no UI, no cluster, no exchange client, no web extractor, no HTTP client
or model bindings for a scorer not configured, and plotly only to write the HTML report.

Each command runs as a real process; at exit it prints the top-level packages it
imported (sys.modules), and the test reads them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT

NEVER = {"streamlit", "dask", "distributed", "ccxt", "trafilatura", "httpx", "llama_cpp",
         "cryptography"}
"""Libraries neither command uses for these configs (a live exchange, the UI, a sweep's
cluster, page extraction, an OpenAI-compatible or in-process model, signed statements)."""
REPORT = {"plotly"}  # drawn only when the HTML report is written

_WRAPPER = """
import atexit, sys
def _tops():
    print("IMPORTED " + " ".join(sorted(sys.modules)), file=sys.__stderr__)
atexit.register(_tops)
from fund.cli import main
sys.argv = ["fund", *sys.argv[1:]]
sys.exit(main())
"""


def imported(*args: str, cache: Path) -> set[str]:
    """Run ``fund ARGS`` and return the top-level packages the process had imported."""
    return {name.split(".")[0] for name in modules(*args, cache=cache)}


def modules(*args: str, cache: Path) -> set[str]:
    """Run ``fund ARGS`` and return every module the process had imported, by full name."""
    env = {**os.environ, "AGENTFUND_CACHE": str(cache), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("IMPORTED ")]
    assert len(lines) == 1, done.stderr
    return set(lines[0].split()[1:])


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_a_rebalancing_backtest_and_its_verify_import_only_what_they_use(
        tmp_path: Path, cache: Path) -> None:
    out = tmp_path / "w1"
    backtest = imported("backtest", str(EXAMPLES / "rebalance.toml"), "--out", str(out),
                        "--start", "2024-01-03", "--end", "2024-01-05", "--no-report",
                        cache=cache)
    verify = imported("verify", str(out / "journal.db"), cache=cache)

    assert "fund" in backtest and "fund" in verify  # the wrapper saw the command run
    assert backtest.isdisjoint(NEVER | REPORT), backtest & (NEVER | REPORT)
    assert verify.isdisjoint(NEVER | REPORT), verify & (NEVER | REPORT)
    # no sentiment oracle: no scorer library either
    assert "vaderSentiment" not in backtest and "vaderSentiment" not in verify


def test_a_sentiment_backtest_with_its_report_and_its_verify(tmp_path: Path,
                                                            cache: Path) -> None:
    out = tmp_path / "news"
    backtest = imported("backtest", str(EXAMPLES / "sentiment.toml"), "--out", str(out),
                        "--start", "2022-01-16", "--end", "2022-01-16", cache=cache)
    verify = imported("verify", str(out / "journal.db"), cache=cache)

    assert (out / "report.html").is_file()
    assert "vaderSentiment" in backtest and "vaderSentiment" in verify  # scores again
    assert backtest >= REPORT  # the report is written, so plotly is used
    assert backtest.isdisjoint(NEVER), backtest & NEVER
    assert verify.isdisjoint(NEVER | REPORT), verify & (NEVER | REPORT)


def test_the_report_reads_its_candles_without_pyarrow_compute(tmp_path: Path,
                                                              cache: Path) -> None:
    """The report's price charts read the candle files by pyarrow alone: their float
    columns are not cast (a cast imports ``pyarrow.compute`` and, through it, ``pydoc``:
    60 ms of a start), and pandas is not imported."""
    out = tmp_path / "w1-report"
    loaded = modules("backtest", str(EXAMPLES / "rebalance.toml"), "--out", str(out),
                     "--start", "2024-01-03", "--end", "2024-01-05", "--no-cache", cache=cache)

    assert (out / "report.html").read_text(encoding="utf-8").count("trades-rebalancer-price")
    assert "plotly" in loaded and "pyarrow.feather" in loaded  # the candles were drawn
    assert loaded.isdisjoint({"pyarrow.compute", "pydoc", "pandas"}), \
        loaded & {"pyarrow.compute", "pydoc", "pandas"}
