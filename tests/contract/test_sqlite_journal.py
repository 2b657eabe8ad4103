"""The SQLite journal through the standard driver (fund/journal/sqlite.py) against the
SQLModel tables and SqlJournal: one schema, one answer to every read, and batches that
land whole at any size."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from fund import projection_store
from fund.journal import (
    ConflictError,
    Entry,
    EntryFilter,
    Journal,
    JournalWriter,
    file_kind,
    open_journal,
)
from fund.journal import sqlite as sqlite_journal
from fund.journal.base import Batch
from fund.journal.sql import BLOBS, ENTRIES, LEASES, SqlJournal
from fund.journal.sqlite import SqliteJournal, sqlite_path
from tests.contract.test_journal import JournalContract


def _schema(path: Path) -> list[tuple[str, str, str]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()


def test_the_schema_is_the_sqlmodel_tables(tmp_path: Path) -> None:
    from sqlmodel import SQLModel, create_engine

    open_journal(f"sqlite:///{tmp_path / 'driver.db'}").close()
    engine = create_engine(f"sqlite:///{tmp_path / 'sqlmodel.db'}")
    SQLModel.metadata.create_all(engine, tables=[ENTRIES, BLOBS, LEASES])
    engine.dispose()
    assert _schema(tmp_path / "driver.db") == _schema(tmp_path / "sqlmodel.db")


def test_a_plain_file_url_opens_the_driver_journal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    assert sqlite_path(url) == str(tmp_path / "j.db")
    assert sqlite_path("sqlite://") is None and sqlite_path(f"{url}?mode=ro") is None
    with open_journal(url) as journal:
        assert isinstance(journal, SqliteJournal)


def _payload(seq: int) -> dict[str, object]:
    return {"n": seq, "text": "100% of a_b/c" if seq % 3 == 0 else "Plain"}


def test_reads_agree_with_sqlalchemy(tmp_path: Path) -> None:
    """Every filter gives the same entries from either backend on the same file."""
    url = f"sqlite:///{tmp_path / 'j.db'}"
    with open_journal(url) as journal:
        writer = JournalWriter(journal, "actor-1", batch_size=7)
        for seq in range(1, 31):
            writer.append("wake" if seq % 2 else "decision", f"2024-01-01T00:00:{seq:02d}Z",
                          _payload(seq))
        writer.flush()
        other = SqlJournal(url)
        try:
            filters = [EntryFilter(), EntryFilter(first_seq=5, last_seq=9),
                       EntryFilter(kinds=("wake",), descending=True, limit=4),
                       EntryFilter(since="2024-01-01T00:00:10Z", until="2024-01-01T00:00:20Z"),
                       EntryFilter(contains="100%"), EntryFilter(contains="A_B/"),
                       EntryFilter(contains="a%b"), EntryFilter(contains="plain", limit=2)]
            for where in filters:
                assert list(journal.read("actor-1", where)) == \
                    list(other.read("actor-1", where)), where
            assert journal.head("actor-1") == other.head("actor-1")
            assert journal.count("actor-1", ("wake",)) == other.count("actor-1", ("wake",))
        finally:
            other.close()


@pytest.mark.parametrize("count", [1, 4, 5, 6, 10, 11])
def test_batches_of_any_size_land_whole(tmp_path: Path, count: int) -> None:
    """One entry, exactly the batch size, one more, two batches: all stored, in order."""
    url = f"sqlite:///{tmp_path / 'j.db'}"
    with open_journal(url) as journal:
        writer = JournalWriter(journal, "actor-1", batch_size=5)
        entries = [writer.append("wake", "2024-01-01T00:00:00Z", _payload(n))
                   for n in range(1, count + 1)]
        assert journal.count("actor-1") == count - count % 5  # full batches flush themselves
        writer.flush()
        writer.flush()  # an empty flush writes nothing
    with open_journal(url, must_exist=True) as journal:
        assert list(journal.read("actor-1")) == entries


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_reads_across_the_drivers_row_batches(tmp_path: Path, extra: int) -> None:
    """A stream one row short of, exactly at and one past two of the driver's row batches
    reads back whole and in order, by ``read`` (both ways; SqlJournal's too, which reads
    an SQLite file in the same batches) and by ``contents``, whose unread kinds come back
    with an empty payload."""
    count = 2 * sqlite_journal.READ_ROWS + extra
    url = f"sqlite:///{tmp_path / 'j.db'}"
    with open_journal(url) as journal:
        writer = JournalWriter(journal, "actor-1", batch_size=count)
        entries = [writer.append("wake" if n % 2 else "decision", "2024-01-01T00:00:00Z",
                                 _payload(n)) for n in range(1, count + 1)]
        writer.flush()
        assert list(journal.read("actor-1")) == entries
        assert list(journal.read("actor-1", EntryFilter(descending=True))) == entries[::-1]
        assert isinstance(journal, SqliteJournal)
        assert list(journal.contents("actor-1", count, ("decision",))) == \
            [(e.seq, e.kind, e.payload if e.kind == "wake" else "") for e in entries[:-1]]
    other = SqlJournal(url)
    try:
        assert list(other.read("actor-1")) == entries
    finally:
        other.close()


def test_a_failed_batch_leaves_nothing(tmp_path: Path) -> None:
    """A batch that fails part-way (its last entry was written by another writer first)
    stores none of its entries; the writer goes on from the stored head."""
    url = f"sqlite:///{tmp_path / 'j.db'}"
    with open_journal(url) as journal:
        writer = JournalWriter(journal, "actor-1")
        writer.append("wake", "t", _payload(1))
        writer.flush()
        head = journal.head("actor-1")
        assert head is not None
        rival = JournalWriter(journal, "actor-1")
        mine = [writer.append("wake", "t", _payload(n)) for n in range(2, 6)]
        rival.append("wake", "t", {"rival": True})
        rival.flush()  # entry 2 is the rival's now
        with pytest.raises(ConflictError):
            journal.append(Batch(entries=mine))
        with closing(sqlite3.connect(tmp_path / "j.db")) as conn:
            # a batch whose *last* row collides: the rows before it were inserted, then
            # rolled back with it
            stolen = Entry("actor-1", 3, "wake", "t", "{}", mine[0].hash, "f" * 64)
            conn.execute("INSERT INTO journal_entries VALUES (?, ?, ?, ?, ?, ?, ?)", stolen)
            conn.commit()
        tail = JournalWriter(journal, "actor-1")
        assert tail.last_seq == 3
        batch = [Entry("actor-1", 4, "wake", "t", "{}", "f" * 64, "a" * 64),
                 Entry("actor-1", 5, "wake", "t", "{}", "a" * 64, "b" * 64)]
        with closing(sqlite3.connect(tmp_path / "j.db")) as conn:
            conn.execute("INSERT INTO journal_entries VALUES (?, ?, ?, ?, ?, ?, ?)",
                         Entry("actor-1", 5, "wake", "t", "{}", "x" * 64, "y" * 64))
            conn.commit()
        with pytest.raises(ConflictError):
            journal.append(Batch(entries=batch))
        assert [e.seq for e in journal.read("actor-1")] == [1, 2, 3, 5]
        assert journal.head("actor-1") == Entry("actor-1", 5, "wake", "t", "{}", "x" * 64,
                                                "y" * 64)


class TestSqlAlchemyOnSqlite(JournalContract):
    """SqlJournal on an SQLite file (what serves SQLite URLs with options): the contract
    still holds for it, on the same tables."""

    def create_journal(self) -> Journal:
        path = self.tmp_path / f"journal-{uuid.uuid4().hex[:12]}.db"
        return self.track(SqlJournal(f"sqlite:///{path}"))

    def reopen(self, journal: Journal) -> Journal:
        journal.close()
        return self.track(SqlJournal(journal.url))

    def break_storage(self, journal: Journal) -> None:
        path = journal.url.split(":///", 1)[1]
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("DROP TABLE journal_entries")
            conn.execute("DROP TABLE journal_blobs")


COUNT = ("import sqlite3, sys\n"
         "db = sqlite3.connect(sys.argv[1])\n"
         "print(db.execute('SELECT count(*) FROM journal_entries').fetchone()[0])\n"
         "db.close()\n")


def other_process_count(path: Path) -> int:
    """Open the database in another process, count the entries, close it (the last
    connection to close checkpoints the write-ahead log and deletes it)."""
    done = subprocess.run([sys.executable, "-c", COUNT, str(path)], capture_output=True,
                          text=True, check=True, timeout=60)
    return int(done.stdout)


@pytest.mark.parametrize("peek", ["file_kind", "open_journal", "projection checkpoint"])
def test_looking_at_an_open_journal_file_never_drops_its_locks(tmp_path: Path,
                                                               peek: str) -> None:
    """SQLite's locks are POSIX locks, which closing ANY descriptor of the file drops for
    the whole process: had the peek below opened and closed the file, the other process
    would take itself for the last connection and delete the write-ahead log under this
    one's writer, and every entry written after it would be lost."""
    path = tmp_path / "journal.db"
    journal = open_journal(str(path))
    try:
        writer = JournalWriter(journal, "a")
        writer.append("Note", "2024-01-01T00:00:00.000000Z", {"n": 0})
        writer.flush()
        if peek == "file_kind":
            assert file_kind(path) == "sqlite"
        elif peek == "open_journal":
            open_journal(str(path)).close()
        else:
            assert projection_store.save(journal, "a", "test", "key", {}, 1, writer.head_hash,
                                         {"n": 1})
        assert other_process_count(path) == 1
        for n in range(1, 6):
            writer.append("Note", "2024-01-01T00:00:00.000000Z", {"n": n})
            writer.flush()
        assert other_process_count(path) == 6  # every entry written after the peek is there
        assert len(list(journal.read("a"))) == 6
    finally:
        journal.close()
