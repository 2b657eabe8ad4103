"""Shared test fixtures: data locations, journals of every backend, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SAMPLE_PRICES = SAMPLE / "binance_spot_2024"
SHARED = ROOT.parent / "shared" / "data"
EXAMPLES = ROOT / "examples"


@pytest.fixture(autouse=True, scope="session")
def score_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the tests' sentiment-score cache out of the user's home directory."""
    path = tmp_path_factory.mktemp("score-cache")
    previous = os.environ.get("AGENTFUND_CACHE")
    os.environ["AGENTFUND_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("AGENTFUND_CACHE", None)
    else:
        os.environ["AGENTFUND_CACHE"] = previous


def needs_shared(path: str = "") -> pytest.MarkDecorator:
    """Skip (with the reason) when ../shared/data (or a file in it) is absent."""
    target = SHARED / path
    return pytest.mark.skipif(not target.exists(),
                              reason=f"needs {target} (the team's shared data), absent here")


@pytest.fixture(params=["memory", "sqlite"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty journal URL of each backend (PostgreSQL joins when configured)."""
    if request.param == "memory":
        yield f"memory://{tmp_path.name}-{request.node.name}"
    else:
        yield f"sqlite:///{tmp_path / 'journal.db'}"


def run_fund(*args: str, cwd: Path | None = None, timeout: float = 300
             ) -> subprocess.CompletedProcess[str]:
    """Run the real ``fund`` command in a subprocess; return its result."""
    env = {**os.environ, "PYTHONHASHSEED": "random", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "fund", *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)
