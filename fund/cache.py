"""Where agentfund keeps derived, rebuildable data (score cache, monitor snapshots)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def cache_root() -> Path:
    """Return ``$AGENTFUND_CACHE``, else ``~/.cache/agentfund``."""
    root = os.environ.get("AGENTFUND_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "agentfund"


def open_cache_db(path: Path, schema: str) -> sqlite3.Connection:
    """An SQLite cache file (created with its parent directory and ``schema`` if new):
    autocommit, WAL, and a 30 s wait when another process is writing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(schema)
    return db
