"""SQLite journal, through the standard library's driver: the tables of fund/journal/sql.py.

The tables are the SQLModel ones (``journal_entries``, ``journal_blobs``,
``journal_leases``; tests/contract/test_sqlite_journal.py holds the two to the same
schema), so a file written here is read by SqlJournal and the reverse. Going to the
driver directly spares a process SQLAlchemy's import and its per-row work: a batch is
one ``executemany`` in one ``BEGIN IMMEDIATE`` transaction (a crash leaves all of it or
none), and a stream is read as plain rows, each an :class:`Entry` as it comes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fund import sqlite_wal
from fund.journal.base import (
    ALL,
    Batch,
    BlobMissingError,
    ConflictError,
    Entry,
    EntryFilter,
    Journal,
    JournalError,
    Lease,
    ascii_lower,
    check_batch,
    describe_error,
)

_COLUMNS = ", ".join(Entry._fields)
READ_ROWS = 500
"""Rows fetched from the driver at a time while reading a stream. A batch this size stays
in the CPU's cache while it is used: ``fund verify`` of W1 every 5 minutes took 0.93 × the
time it took with 5,000 in one process, 0.97 × with its helper (alternating runs,
docs/BENCHMARKS.md)."""
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS journal_entries (\n\tprocess_id VARCHAR(128) NOT NULL, \n"
    "\tseq BIGINT NOT NULL, \n\tkind VARCHAR(40) NOT NULL, \n\tts VARCHAR(32) NOT NULL, \n"
    "\tpayload TEXT NOT NULL, \n\tprev_hash VARCHAR(64) NOT NULL, \n"
    "\thash VARCHAR(64) NOT NULL, \n\tPRIMARY KEY (process_id, seq)\n)",
    "CREATE INDEX IF NOT EXISTS ix_journal_entries_kind ON journal_entries "
    "(process_id, kind, seq)",
    "CREATE TABLE IF NOT EXISTS journal_blobs (\n\tdigest VARCHAR(64) NOT NULL, \n"
    "\tdata BLOB NOT NULL, \n\tPRIMARY KEY (digest)\n)",
    "CREATE TABLE IF NOT EXISTS journal_leases (\n\tprocess_id VARCHAR(128) NOT NULL, \n"
    "\towner VARCHAR(200) NOT NULL, \n\theartbeat VARCHAR(32) NOT NULL, \n"
    "\tinfo TEXT NOT NULL, \n\tPRIMARY KEY (process_id)\n)",
)
"""The DDL SQLAlchemy emits for the SQLModel tables on SQLite, made idempotent."""
_TABLES = ("journal_entries", "journal_blobs", "journal_leases")


def sqlite_path(url: str) -> str | None:
    """The file a plain ``sqlite:///PATH`` URL names; None for any other form (an
    in-memory database, query options), which SqlJournal serves."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            path = url[len(prefix):]
            return path if path and path != ":memory:" and "?" not in path else None
    return None


# The files this process has SQLite journals open on (resolved path -> how many). SQLite's
# locks are POSIX advisory locks, which the kernel drops for the whole process as soon as
# any descriptor of the file is closed: reading such a file's first bytes with open() and
# closing it would silently unlock the open connections, and another process could then
# checkpoint and delete the write-ahead log under a live writer, losing what it wrote
# ("How To Corrupt An SQLite Database File", 2.2). Whoever would peek at a file asks here
# first (fund.journal.file_kind, fund.projection_store).
_OPEN: dict[str, int] = {}
_OPEN_LOCK = threading.Lock()


def open_here(path: str | Path) -> bool:
    """Whether this process has an SQLite journal open on the file (then it is SQLite, and
    it must not be opened by anything but SQLite)."""
    with _OPEN_LOCK:
        return str(Path(path).expanduser().resolve()) in _OPEN


class SqliteJournal(Journal):
    """A journal in an SQLite file, through :mod:`sqlite3`."""

    def __init__(self, url: str, path: str) -> None:
        self.url = url
        self._path = path
        resolved = Path(path).expanduser().resolve()
        if not resolved.parent.is_dir():
            raise JournalError(f"{url}: directory {resolved.parent} does not exist")
        self._idle: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._key: str | None = str(resolved)
        with _OPEN_LOCK:
            _OPEN[self._key] = _OPEN.get(self._key, 0) + 1
        try:
            with self._errors():
                self._create_tables()
        except BaseException:
            self.close()
            raise

    @property
    def path(self) -> str:
        """The SQLite file."""
        return self._path

    # --- connections ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=sqlite_wal.WAIT, isolation_level=None,
                               check_same_thread=False)  # one thread at a time: the pool's
        try:
            sqlite_wal.use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            conn.close()
            raise
        with self._lock:
            self._all.append(conn)
        return conn

    def _close_all(self) -> None:
        """Close every pooled connection (the caller holds ``_lock``)."""
        connections, self._all, self._idle = self._all, [], []
        for conn in connections:
            conn.close()

    @contextmanager
    def _connection(self, begin: str = "BEGIN") -> Iterator[sqlite3.Connection]:
        """A pooled connection in a transaction: ``BEGIN IMMEDIATE`` takes the write lock
        up front; a plain ``BEGIN`` reads a snapshot that never blocks a writer. Committed
        when the block ends normally, rolled back otherwise."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            conn.execute(begin)
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        except sqlite3.Error:
            with self._lock:
                self._all.remove(conn)
            conn.close()  # a connection that failed is not reused
            raise
        finally:
            if conn in self._all:  # not closed above, nor by close()
                with self._lock:
                    self._idle.append(conn)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn driver errors into JournalError naming this journal."""
        try:
            yield
        except sqlite3.Error as exc:
            raise JournalError(describe_error(self.url, exc)) from None

    def _create_tables(self) -> None:
        """Create the tables if they are missing, safely against other processes opening
        the same new journal at the same moment (the write lock is taken first)."""
        with self._connection() as conn:
            found = {row[0] for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if found.issuperset(_TABLES):
            return
        with self._connection("BEGIN IMMEDIATE") as conn:
            for statement in SCHEMA:
                conn.execute(statement)

    # --- the stream ---------------------------------------------------------------------------

    def append(self, batch: Batch) -> None:
        if not batch.entries:
            return
        process_id = batch.entries[0].process_id
        try:
            with self._connection("BEGIN IMMEDIATE") as conn:
                check_batch(batch, _head(conn, process_id))
                if batch.blobs:
                    conn.executemany("INSERT INTO journal_blobs (digest, data) VALUES (?, ?) "
                                     "ON CONFLICT DO NOTHING", batch.blobs.items())
                # Entry is a NamedTuple in column order: the rows as they are
                conn.executemany(f"INSERT INTO journal_entries ({_COLUMNS}) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?)", batch.entries)
        except sqlite3.IntegrityError:
            raise ConflictError(
                f"{self.url}: {process_id}: entry {batch.entries[0].seq} was written by "
                "another writer first"
            ) from None
        except sqlite3.Error as exc:
            raise JournalError(describe_error(self.url, exc)) from None

    def read(self, process_id: str, where: EntryFilter = ALL) -> Iterator[Entry]:
        sql, params = _select(process_id, where)
        make = Entry._make
        with self._errors(), self._connection() as conn:
            cursor = conn.execute(sql, params)
            while part := cursor.fetchmany(READ_ROWS):
                yield from map(make, part)

    def contents(self, process_id: str, before: int,
                 unread: Collection[str] = ()) -> Iterator[tuple[int, str, str]]:
        """(seq, kind, payload) of the entries before ``before``, the payload left empty
        for the kinds in ``unread``: a fold that checks no hash reads a third of the
        bytes (fund/verify_split.py)."""
        skip = ", ".join("?" * len(unread)) or "NULL"
        sql = (f"SELECT seq, kind, CASE WHEN kind IN ({skip}) THEN '' ELSE payload END "
               "FROM journal_entries WHERE process_id = ? AND seq < ? ORDER BY seq")
        with self._errors(), self._connection() as conn:
            cursor = conn.execute(sql, (*sorted(unread), process_id, before))
            while part := cursor.fetchmany(READ_ROWS):
                yield from part

    def head(self, process_id: str) -> Entry | None:
        with self._errors(), self._connection() as conn:
            return _head(conn, process_id)

    def processes(self) -> list[str]:
        # one seek of the primary key per stream (a DISTINCT scans every entry); SQLite's
        # binary order of the UTF-8 text is Python's order of the strings
        found: list[str] = []
        with self._errors(), self._connection() as conn:
            row = conn.execute("SELECT min(process_id) FROM journal_entries").fetchone()
            while row[0] is not None:
                found.append(row[0])
                row = conn.execute("SELECT min(process_id) FROM journal_entries "
                                   "WHERE process_id > ?", (row[0],)).fetchone()
        return found

    def count(self, process_id: str, kinds: Sequence[str] = ()) -> int:
        sql = "SELECT count(*) FROM journal_entries WHERE process_id = ?"
        if kinds:
            sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
        with self._errors(), self._connection() as conn:
            return int(conn.execute(sql, (process_id, *kinds)).fetchone()[0])

    # --- leases -------------------------------------------------------------------------------

    def lease(self, process_id: str) -> Lease | None:
        with self._errors(), self._connection() as conn:
            row = conn.execute("SELECT process_id, owner, heartbeat, info FROM journal_leases "
                               "WHERE process_id = ?", (process_id,)).fetchone()
        return Lease(*row) if row else None

    def leases(self) -> list[Lease]:
        with self._errors(), self._connection() as conn:
            rows = conn.execute("SELECT process_id, owner, heartbeat, info FROM journal_leases "
                                "ORDER BY process_id").fetchall()
        return [Lease(*row) for row in rows]

    def claim(self, lease: Lease, expected_owner: str | None) -> bool:
        try:
            with self._connection("BEGIN IMMEDIATE") as conn:
                if expected_owner is None:
                    conn.execute("INSERT INTO journal_leases (process_id, owner, heartbeat, "
                                 "info) VALUES (?, ?, ?, ?)", lease)
                    return True
                done = conn.execute(
                    "UPDATE journal_leases SET owner = ?, heartbeat = ?, info = ? "
                    "WHERE process_id = ? AND owner = ?",
                    (lease.owner, lease.heartbeat, lease.info, lease.process_id,
                     expected_owner))
                return done.rowcount == 1
        except sqlite3.IntegrityError:
            return False
        except sqlite3.Error as exc:
            raise JournalError(describe_error(self.url, exc)) from None

    def release(self, process_id: str, owner: str) -> None:
        with self._errors(), self._connection("BEGIN IMMEDIATE") as conn:
            conn.execute("DELETE FROM journal_leases WHERE process_id = ? AND owner = ?",
                         (process_id, owner))

    # --- blobs --------------------------------------------------------------------------------

    def get_blob(self, digest: str) -> bytes:
        with self._errors(), self._connection() as conn:
            row = conn.execute("SELECT data FROM journal_blobs WHERE digest = ?",
                               (digest,)).fetchone()
        if row is None:
            raise BlobMissingError(f"{self.url}: blob {digest} is missing")
        data: Any = row[0]
        # a row edited by hand may hold TEXT; its bytes must still be checkable
        return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)

    def has_blob(self, digest: str) -> bool:
        with self._errors(), self._connection() as conn:
            row = conn.execute("SELECT 1 FROM journal_blobs WHERE digest = ?",
                               (digest,)).fetchone()
        return row is not None

    def disconnect(self) -> bool:
        """Close the pooled connections and keep the journal usable (it connects again
        when next used), so that no connection to the file is open in this process (for
        a ``fork()``); False, closing nothing, where one is in use or another journal of
        this process has the file open."""
        with self._lock:
            if len(self._idle) != len(self._all):
                return False
            with _OPEN_LOCK:
                if _OPEN.get(self._key or "", 0) != 1:
                    return False
            self._close_all()
        return True

    def close(self) -> None:
        with self._lock:
            self._close_all()
        with _OPEN_LOCK:
            key, self._key = self._key, None
            if key is not None:
                if _OPEN.get(key, 0) <= 1:
                    _OPEN.pop(key, None)
                else:
                    _OPEN[key] -= 1


def _head(conn: sqlite3.Connection, process_id: str) -> Entry | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM journal_entries WHERE process_id = ? "
                       "ORDER BY seq DESC LIMIT 1", (process_id,)).fetchone()
    return None if row is None else Entry._make(row)


def _select(process_id: str, where: EntryFilter) -> tuple[str, list[Any]]:
    """The SELECT of a stream's entries that ``where`` asks for, and its parameters."""
    sql = [f"SELECT {_COLUMNS} FROM journal_entries WHERE process_id = ?"]
    params: list[Any] = [process_id]
    if where.first_seq > 1:
        sql.append("AND seq >= ?")
        params.append(where.first_seq)
    if where.last_seq is not None:
        sql.append("AND seq <= ?")
        params.append(where.last_seq)
    if where.kinds:
        sql.append(f"AND kind IN ({', '.join('?' * len(where.kinds))})")
        params.extend(where.kinds)
    if where.since is not None:
        sql.append("AND ts >= ?")
        params.append(where.since)
    if where.until is not None:
        sql.append("AND ts <= ?")
        params.append(where.until)
    if where.contains is not None:  # ASCII case only, as SQLite's lower()
        escaped = ascii_lower(where.contains).replace("/", "//").replace("%", "/%") \
            .replace("_", "/_")
        sql.append("AND lower(payload) LIKE ? ESCAPE '/'")
        params.append(f"%{escaped}%")
    sql.append("ORDER BY seq DESC" if where.descending else "ORDER BY seq")
    if where.limit is not None:
        sql.append("LIMIT ?")
        params.append(where.limit)
    return " ".join(sql), params
