"""SQL journal (SQLModel tables): PostgreSQL, and SQLite URLs with options or in memory.

A plain SQLite file (``sqlite:///PATH``, the default) is served by
fund/journal/sqlite.py on the same tables through the standard driver.

A batch is written in one transaction with one multi-row INSERT per table, so a crash
leaves either the whole batch or none of it, and writing 100k entries costs one round
trip per batch rather than per entry. The stored head is read inside the same
transaction (SQLite takes its write lock first with ``BEGIN IMMEDIATE``), and the primary
key (process_id, seq) turns any race between two writers into a ConflictError.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from string import ascii_lowercase, ascii_uppercase
from typing import Any

from sqlalchemy import BigInteger, Column, Index, LargeBinary, String, Text, event, func
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError
from sqlmodel import Field, SQLModel, create_engine

from fund import sqlite_wal
from fund.journal import sqlite as sqlite_journal
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


class EntryRow(SQLModel, table=True):
    """A stored journal entry."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        Index("ix_journal_entries_kind", "process_id", "kind", "seq"),
    )
    process_id: str = Field(sa_column=Column(String(128), primary_key=True))
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(sa_column=Column(String(40), nullable=False))
    ts: str = Field(sa_column=Column(String(32), nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))


class BlobRow(SQLModel, table=True):
    """A stored content-addressed blob."""

    __tablename__ = "journal_blobs"
    digest: str = Field(sa_column=Column(String(64), primary_key=True))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LeaseRow(SQLModel, table=True):
    """Which daemon writes a stream, and when it last said so."""

    __tablename__ = "journal_leases"
    process_id: str = Field(sa_column=Column(String(128), primary_key=True))
    owner: str = Field(sa_column=Column(String(200), nullable=False))
    heartbeat: str = Field(sa_column=Column(String(32), nullable=False))
    info: str = Field(sa_column=Column(Text, nullable=False))


ENTRIES = EntryRow.__table__  # type: ignore[attr-defined]
LEASES = LeaseRow.__table__  # type: ignore[attr-defined]
BLOBS = BlobRow.__table__  # type: ignore[attr-defined]
_COLUMNS = Entry._fields  # ("process_id", "seq", "kind", "ts", "payload", "prev_hash", "hash")
_SERVER_ROWS = 5000  # rows fetched from PostgreSQL at a time while reading a stream (each
# fetch a round trip to the server; an SQLite file's are read as fund/journal/sqlite.py does)


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        parent = Path(database).expanduser().resolve().parent
        if not parent.is_dir():
            raise JournalError(f"{url}: directory {parent} does not exist")
    engine = create_engine(url, connect_args={"timeout": sqlite_wal.WAIT})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        sqlite_wal.use_wal(dbapi_connection)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # appends take the write lock up front; reads take a snapshot and never block it
        writing = conn.get_execution_options().get("journal_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


def _create_tables(engine: Engine) -> None:
    """Create the journal's tables if they are missing, safely against other processes
    opening the same new journal at the same moment."""
    tables = [ENTRIES, BLOBS, LEASES]
    with engine.connect() as conn:
        if all(engine.dialect.has_table(conn, t.name) for t in tables):
            return
    if engine.dialect.name == "sqlite":
        # take the write lock first: a reader that upgrades to writing mid-transaction is
        # refused at once by SQLite (no waiting), which is what two openers would do
        with engine.connect().execution_options(journal_write=True) as conn, conn.begin():
            SQLModel.metadata.create_all(conn, tables=tables)
        return
    for attempt in (1, 2, 3):  # PostgreSQL: a concurrent CREATE TABLE loses on pg_type
        try:
            SQLModel.metadata.create_all(engine, tables=tables)
            return
        except (IntegrityError, ProgrammingError):
            if attempt == 3:
                raise
            time.sleep(0.2)


def _shown(url: str) -> str:
    """The URL with any password masked."""
    parsed = make_url(url)
    return parsed.render_as_string(hide_password=True) if parsed.password else url


class SqlJournal(Journal):
    """A journal in an SQL database reached through SQLAlchemy."""

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine it writes through (projection checkpoints share it)."""
        return self._engine

    def __init__(self, url: str) -> None:
        self.url = _shown(url)  # for messages: never the password
        try:
            if url.startswith("sqlite"):
                self._engine = _sqlite_engine(url)
                self._insert_blob: Any = sqlite.insert(BLOBS).on_conflict_do_nothing()
            else:
                self._engine = create_engine(url, pool_pre_ping=True)
                self._insert_blob = postgresql.insert(BLOBS).on_conflict_do_nothing()
            _create_tables(self._engine)
        except (DBAPIError, OSError) as exc:
            raise JournalError(describe_error(self.url, exc)) from None
        self._columns = [ENTRIES.c[name] for name in _COLUMNS]
        self._sqlite = self._engine.dialect.name == "sqlite"
        mark = "?" if self._engine.dialect.paramstyle == "qmark" else "%s"
        self._insert_sql = (f"INSERT INTO journal_entries ({', '.join(_COLUMNS)}) "
                            f"VALUES ({', '.join([mark] * len(_COLUMNS))})")

    def append(self, batch: Batch) -> None:
        if not batch.entries:
            return
        process_id = batch.entries[0].process_id
        rows = batch.entries  # Entry is a NamedTuple in _COLUMNS order: rows as they are
        try:
            with self._engine.connect() as conn, \
                    conn.execution_options(journal_write=True).begin():
                check_batch(batch, self._head(conn, process_id))
                if batch.blobs:
                    conn.execute(self._insert_blob,
                                 [{"digest": d, "data": b} for d, b in batch.blobs.items()])
                conn.exec_driver_sql(self._insert_sql, rows)  # the driver's executemany
        except IntegrityError:
            raise ConflictError(
                f"{self.url}: {process_id}: entry {batch.entries[0].seq} was written by "
                "another writer first"
            ) from None
        except (OperationalError, DBAPIError) as exc:
            raise JournalError(describe_error(self.url, exc)) from None

    def read(self, process_id: str, where: EntryFilter = ALL) -> Iterator[Entry]:
        stmt = sa_select(*self._columns).where(ENTRIES.c.process_id == process_id)
        if where.first_seq > 1:
            stmt = stmt.where(ENTRIES.c.seq >= where.first_seq)
        if where.last_seq is not None:
            stmt = stmt.where(ENTRIES.c.seq <= where.last_seq)
        if where.kinds:
            stmt = stmt.where(ENTRIES.c.kind.in_(where.kinds))
        if where.since is not None:
            stmt = stmt.where(ENTRIES.c.ts >= where.since)
        if where.until is not None:
            stmt = stmt.where(ENTRIES.c.ts <= where.until)
        if where.contains is not None:
            # ASCII case only, as SQLite's lower(): PostgreSQL's lower() folds by locale
            folded = (func.lower(ENTRIES.c.payload) if self._engine.dialect.name == "sqlite"
                      else func.translate(ENTRIES.c.payload, ascii_uppercase, ascii_lowercase))
            stmt = stmt.where(folded.contains(ascii_lower(where.contains), autoescape=True))
        stmt = stmt.order_by(ENTRIES.c.seq.desc() if where.descending else ENTRIES.c.seq)
        if where.limit is not None:
            stmt = stmt.limit(where.limit)
        make = Entry._make  # rows come in _COLUMNS order: each is an Entry as it is
        try:
            with self._engine.connect() as conn:
                if self._sqlite:
                    # SQLite steps through the rows as they are fetched: plain tuples from
                    # its cursor, with none of SQLAlchemy's per-row work (these columns need
                    # no conversion)
                    cursor = conn.execute(stmt).cursor
                    while part := cursor.fetchmany(sqlite_journal.READ_ROWS):
                        yield from map(make, part)
                    return
                result = conn.execution_options(stream_results=True).execute(stmt)
                for rows in result.partitions(_SERVER_ROWS):
                    yield from map(make, rows)
        except (OperationalError, DBAPIError) as exc:
            raise JournalError(describe_error(self.url, exc)) from None

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn driver errors into JournalError naming this journal."""
        try:
            yield
        except (OperationalError, DBAPIError) as exc:
            raise JournalError(describe_error(self.url, exc)) from None

    def head(self, process_id: str) -> Entry | None:
        with self._errors(), self._engine.connect() as conn:
            return self._head(conn, process_id)

    def _head(self, conn: Connection, process_id: str) -> Entry | None:
        row = conn.execute(
            sa_select(*self._columns).where(ENTRIES.c.process_id == process_id)
            .order_by(ENTRIES.c.seq.desc()).limit(1)
        ).first()
        return None if row is None else Entry._make(row)

    def processes(self) -> list[str]:
        with self._errors(), self._engine.connect() as conn:
            rows = conn.execute(sa_select(ENTRIES.c.process_id).distinct()).all()
        return sorted(row[0] for row in rows)

    def count(self, process_id: str, kinds: Sequence[str] = ()) -> int:
        stmt = sa_select(func.count()).select_from(ENTRIES).where(
            ENTRIES.c.process_id == process_id)
        if kinds:
            stmt = stmt.where(ENTRIES.c.kind.in_(kinds))
        with self._errors(), self._engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def lease(self, process_id: str) -> Lease | None:
        with self._errors(), self._engine.connect() as conn:
            row = conn.execute(sa_select(LEASES.c.process_id, LEASES.c.owner, LEASES.c.heartbeat,
                                         LEASES.c.info)
                               .where(LEASES.c.process_id == process_id)).first()
        return Lease(*row) if row else None

    def leases(self) -> list[Lease]:
        with self._errors(), self._engine.connect() as conn:
            rows = conn.execute(sa_select(LEASES.c.process_id, LEASES.c.owner,
                                          LEASES.c.heartbeat, LEASES.c.info)
                                .order_by(LEASES.c.process_id)).all()
        return [Lease(*row) for row in rows]

    def claim(self, lease: Lease, expected_owner: str | None) -> bool:
        values = {"owner": lease.owner, "heartbeat": lease.heartbeat, "info": lease.info}
        try:
            with self._engine.connect() as conn, \
                    conn.execution_options(journal_write=True).begin():
                if expected_owner is None:
                    conn.execute(LEASES.insert().values(process_id=lease.process_id, **values))
                    return True
                done = conn.execute(LEASES.update().values(**values).where(
                    (LEASES.c.process_id == lease.process_id)
                    & (LEASES.c.owner == expected_owner)))
                return done.rowcount == 1
        except IntegrityError:
            return False
        except (OperationalError, DBAPIError) as exc:
            raise JournalError(describe_error(self.url, exc)) from None

    def release(self, process_id: str, owner: str) -> None:
        with self._errors(), self._engine.connect() as conn, \
                conn.execution_options(journal_write=True).begin():
            conn.execute(LEASES.delete().where((LEASES.c.process_id == process_id)
                                               & (LEASES.c.owner == owner)))

    def get_blob(self, digest: str) -> bytes:
        with self._errors(), self._engine.connect() as conn:
            row = conn.execute(sa_select(BLOBS.c.data).where(BLOBS.c.digest == digest)).first()
        if row is None:
            raise BlobMissingError(f"{self.url}: blob {digest} is missing")
        data = row[0]
        # a row edited by hand may hold TEXT; its bytes must still be checkable
        return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)

    def has_blob(self, digest: str) -> bool:
        with self._errors(), self._engine.connect() as conn:
            row = conn.execute(sa_select(BLOBS.c.digest).where(BLOBS.c.digest == digest)).first()
        return row is not None

    def close(self) -> None:
        self._engine.dispose()
