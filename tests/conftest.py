"""Shared test fixtures: data locations, journals of every backend, the CLI."""

from __future__ import annotations

import decimal
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.journals import BACKENDS, DURABLE, JournalUrls

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SAMPLE_PRICES = SAMPLE / "binance_spot_2024"
SHARED = ROOT.parent / "shared" / "data"
EXAMPLES = ROOT / "examples"


@pytest.fixture(autouse=True, scope="session")
def score_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the tests' sentiment-score cache out of the user's home directory, and keep no
    whole runs (agentfund.backtests.run_cache): a test that runs a backtest twice, to
    compare the journals, must run it twice (tests/integration/test_run_cache.py turns
    it on)."""
    path = tmp_path_factory.mktemp("score-cache")
    previous = {name: os.environ.get(name) for name in ("AGENTFUND_CACHE", "AGENTFUND_RUN_CACHE")}
    os.environ["AGENTFUND_CACHE"] = str(path)
    os.environ["AGENTFUND_RUN_CACHE"] = "off"
    yield path
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def decimal_context() -> Iterator[None]:
    """Each test starts in Python's default Decimal context and leaves its own behind it:
    ccxt, which the fake-venue tests call directly, switches the thread's to ROUND_HALF_UP,
    and a later test replaying by hand (not through a command, which pins the context)
    would compute in that. That agentfund's results do not depend on the context is
    tested on its own (tests/integration/test_decimal_context.py)."""
    with decimal.localcontext(decimal.Context()):
        yield


def needs_shared(path: str = "") -> pytest.MarkDecorator:
    """Skip (with the reason) when ../shared/data (or a file in it) is absent."""
    target = SHARED / path
    return pytest.mark.skipif(not target.exists(),
                              reason=f"needs {target} (the team's shared data), absent here")


@pytest.fixture(params=BACKENDS)
def journal_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JournalUrls]:
    """Fresh, empty journals of each backend (memory, sqlite, postgres), one per call.

    The postgres case skips, saying why, when DATABASE_URL names no server (``make
    test`` starts one); each of its journals is a schema of its own, dropped afterwards.
    """
    urls = JournalUrls(request.param, tmp_path)
    yield urls
    urls.close()


@pytest.fixture
def journal_url(journal_urls: JournalUrls) -> str:
    """A fresh, empty journal URL of each backend: memory, SQLite and PostgreSQL."""
    return journal_urls()


@pytest.fixture(params=DURABLE)
def store_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JournalUrls]:
    """Fresh journals of each durable backend (sqlite, postgres), which a subprocess can open."""
    urls = JournalUrls(request.param, tmp_path)
    yield urls
    urls.close()


@pytest.fixture
def store_url(store_urls: JournalUrls) -> str:
    """A fresh journal URL on SQLite and on PostgreSQL: what ``fund --journal`` is given."""
    return store_urls()


@pytest.fixture(scope="module", params=DURABLE)
def module_store_urls(request: pytest.FixtureRequest,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[JournalUrls]:
    """As ``store_urls``, for a module's shared (expensive) journals."""
    urls = JournalUrls(request.param, tmp_path_factory.mktemp(request.param))
    yield urls
    urls.close()


@pytest.fixture
def scratch_urls(module_store_urls: JournalUrls, tmp_path: Path) -> Iterator[JournalUrls]:
    """Fresh journals for one test on the backend of ``module_store_urls`` (to copy into)."""
    urls = JournalUrls(module_store_urls.backend, tmp_path)
    yield urls
    urls.close()


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """A journal URL on the PostgreSQL at DATABASE_URL, in a schema of its own (dropped after).

    Skips, saying why, when no server is configured (``make test`` starts one).
    """
    urls = JournalUrls("postgres", tmp_path)
    yield urls()
    urls.close()


def run_fund(*args: str, cwd: Path | None = None, timeout: float = 300
             ) -> subprocess.CompletedProcess[str]:
    """Run the real ``fund`` command in a subprocess; return its result."""
    env = {**os.environ, "PYTHONHASHSEED": "random", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "fund", *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)
