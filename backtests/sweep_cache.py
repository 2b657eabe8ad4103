"""The sweep results cache: one SQLite file of finished backtests, keyed by their inputs.

Only the process that runs the sweep (the Dask client) writes here, one row per finished
combination as soon as it arrives, so an interrupted sweep keeps everything it finished.
Failures are not cached: a failed combination runs again next time.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fund.cache import cache_root, open_cache_db


def default_cache_path() -> Path:
    """Return ``$AGENTFUND_CACHE/sweeps.sqlite`` (default ``~/.cache/agentfund/``)."""
    return cache_root() / "sweeps.sqlite"


class ResultCache:
    """Finished backtests (summary, and the NAV curve when one was asked for) by key."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = open_cache_db(path, "CREATE TABLE IF NOT EXISTS results (key TEXT "
                                           "PRIMARY KEY, payload TEXT NOT NULL, created TEXT "
                                           "NOT NULL)")

    def get(self, key: str, *, need_curve: bool = False) -> dict[str, Any] | None:
        """Return the cached result, or None (also when a curve is needed and absent)."""
        if self._db is None:
            return None
        row = self._db.execute("SELECT payload FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        result: dict[str, Any] = json.loads(row[0])
        if need_curve and result.get("curve") is None:
            return None
        return result

    def put(self, key: str, result: dict[str, Any]) -> None:
        """Store a finished result (committed at once)."""
        if self._db is None:
            return
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?)",
                         (key, json.dumps(result, separators=(",", ":")), stamp))

    def count(self) -> int:
        """Return how many results are stored."""
        if self._db is None:
            return 0
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        """Close the file."""
        if self._db is not None:
            self._db.close()
            self._db = None
