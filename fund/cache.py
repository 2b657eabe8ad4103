"""Where agentfund keeps derived, rebuildable data (score cache, monitor snapshots)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from fund.sqlite_wal import use_wal


def cache_root() -> Path:
    """Return ``$AGENTFUND_CACHE``, else ``~/.cache/agentfund``."""
    root = os.environ.get("AGENTFUND_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "agentfund"


def open_cache_db(path: Path, schema: str) -> sqlite3.Connection:
    """An SQLite cache file (created with its parent directory and ``schema`` if new):
    autocommit, WAL, and a 30 s wait when another process is writing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        use_wal(db, 30)
        db.execute(schema)
    except BaseException:
        db.close()
        raise
    return db


class HeldConnection:
    """One connection to an SQLite cache file, opened once and held across calls.

    Opening a connection (and preparing its schema) costs more than a small query, so a
    caller that asks many times holds one. It is opened again when the file was deleted
    or replaced underneath (another inode), in another thread, and in a forked child —
    never shared across them. ``setup`` runs on each new connection (pragmas, schema).
    """

    def __init__(self, path: Path, setup: Callable[[sqlite3.Connection], None],
                 timeout: float = 10.0) -> None:
        self.path = path
        self._setup = setup
        self._timeout = timeout
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        """The held connection, (re)opened if the file under it is not the one it opened."""
        held = getattr(self._local, "held", None)
        try:
            stat = os.stat(self.path)
            now: tuple[int, int, int] | None = (os.getpid(), stat.st_dev, stat.st_ino)
        except FileNotFoundError:
            now = None
        if held is not None and held[1] == now:
            db: sqlite3.Connection = held[0]
            return db
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=self._timeout)
        try:
            self._setup(db)
            stat = os.stat(self.path)
        except BaseException:
            db.close()
            raise
        self._local.held = (db, (os.getpid(), stat.st_dev, stat.st_ino))
        return db

    def close(self) -> None:
        """Close the held connection (a forked child's copy is dropped, not closed)."""
        held = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None and held[1][0] == os.getpid():
            held[0].close()
