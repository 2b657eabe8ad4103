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


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A journal URL on the PostgreSQL at DATABASE_URL, in a schema of its own (dropped after).

    Skips, saying why, when no server is configured (``make test`` starts one).
    """
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgresql"):
        pytest.skip("needs DATABASE_URL naming a PostgreSQL server (make test starts one)")
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def run_fund(*args: str, cwd: Path | None = None, timeout: float = 300
             ) -> subprocess.CompletedProcess[str]:
    """Run the real ``fund`` command in a subprocess; return its result."""
    env = {**os.environ, "PYTHONHASHSEED": "random", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "fund", *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)
