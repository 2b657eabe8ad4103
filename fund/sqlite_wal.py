"""Putting an SQLite file in write-ahead-log mode, safely while other processes do too.

Every SQLite file agentfund writes from several processes (journals, the sweep caches) is
in WAL mode, so readers never block the writer. A new connection asks for it with
``PRAGMA journal_mode=WAL``. On a brand-new file that statement reads the header and then,
inside that read, takes the write lock to record the mode; where another connection holds
the write lock at that moment (a second process creating the same new journal), SQLite
answers SQLITE_BUSY at once, without waiting out the connection's busy timeout, because a
wait there could deadlock. A failed statement holds no lock, so it is tried again here,
for a bounded time.
"""

from __future__ import annotations

import sqlite3
import time

WAIT = 10.0
"""Seconds a connection goes on asking before the "database is locked" error stands: the
busy timeout of every connection to a journal's SQLite file (the sweep caches wait 30 s)."""


def use_wal(conn: sqlite3.Connection, wait: float | None = None) -> None:
    """Put ``conn``'s file in WAL mode (a no-op when it is), retrying while another
    connection is busy with the file, for up to ``wait`` seconds (default :data:`WAIT`)."""
    deadline = time.monotonic() + (WAIT if wait is None else wait)
    pause = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            left = deadline - time.monotonic()
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or left <= 0:
                raise
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.05)
