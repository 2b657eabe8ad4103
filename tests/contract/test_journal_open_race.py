"""Processes opening one brand-new journal at the same moment all succeed (a daemon
creating its journal while `fund status`, the UI or a second daemon opens it)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fund import sqlite_wal
from fund.cache import open_cache_db
from fund.journal import Journal, JournalError, JournalWriter, open_journal
from tests.fixtures.journals import JournalUrls, sqlite_url


def _open_and_write(url: str, index: int, results: multiprocessing.Queue[str]) -> None:
    try:
        with open_journal(url) as journal:
            writer = JournalWriter(journal, f"actor{index}")
            writer.append("Wake", "2024-01-01T00:00:00.000000Z", {"index": index})
            writer.flush()
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        results.put(f"{type(exc).__name__}: {exc}")


def test_simultaneous_first_opens_all_succeed(store_urls: JournalUrls) -> None:
    context = multiprocessing.get_context("spawn")
    for round_ in range(3):
        url = store_urls(f"race{round_}")
        results: multiprocessing.Queue[str] = context.Queue()
        workers = [context.Process(target=_open_and_write, args=(url, i, results))
                   for i in range(5)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        outcomes = [results.get(timeout=5) for _ in workers]
        assert outcomes == ["ok"] * 5, outcomes
        with open_journal(url) as journal:
            assert journal.processes() == [f"actor{i}" for i in range(5)]


@contextmanager
def _writer_on_new_file(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holding the write lock of a brand-new file, as a second process
    creating the same journal does for a moment (rolled back when the block ends)."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield holder
    finally:
        holder.rollback()
        holder.close()


def _open_sql(url: str) -> Journal:
    from fund.journal.sql import SqlJournal

    return SqlJournal(url)


OPENERS = {"SqliteJournal": open_journal, "SqlJournal": _open_sql}


@pytest.mark.parametrize("opener", OPENERS)
def test_an_open_while_another_process_creates_the_file_waits_for_it(
        tmp_path: Path, opener: str) -> None:
    # SQLite answers the switch of a new file to WAL with SQLITE_BUSY at once, without its
    # busy timeout, while another connection holds the write lock (the CI failure of
    # test_simultaneous_first_opens_all_succeed, made certain)
    path = tmp_path / "new.db"
    with _writer_on_new_file(path) as holder:
        released = threading.Event()

        def release() -> None:
            holder.rollback()
            released.set()

        timer = threading.Timer(0.2, release)
        timer.start()
        try:
            with OPENERS[opener](sqlite_url(path)) as journal:
                assert released.is_set()  # it waited for the other writer, then opened
                writer = JournalWriter(journal, "actor")
                writer.append("Wake", "2024-01-01T00:00:00.000000Z", {})
                writer.flush()
                assert journal.processes() == ["actor"]
        finally:
            timer.cancel()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    check.close()


@pytest.mark.parametrize("opener", OPENERS)
def test_an_open_that_stays_locked_gives_up_with_one_line(
        tmp_path: Path, opener: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_wal, "WAIT", 0.1)
    path = tmp_path / "new.db"
    url = sqlite_url(path)
    with _writer_on_new_file(path), pytest.raises(JournalError) as caught:
        OPENERS[opener](url)
    assert str(caught.value) == f"{url}: database is locked by another process (database is locked)"


def test_use_wal_raises_other_errors_at_once(tmp_path: Path) -> None:
    path = tmp_path / "not-a-database.db"
    path.write_bytes(b"not SQLite at all, and long enough to have a header" * 4)
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="not a database"):
            sqlite_wal.use_wal(conn, wait=3600)  # not a busy file: no retrying
    finally:
        conn.close()


def test_a_sweep_cache_opened_while_another_process_creates_it_waits(tmp_path: Path) -> None:
    path = tmp_path / "sweep.db"
    with _writer_on_new_file(path) as holder:
        timer = threading.Timer(0.2, holder.rollback)
        timer.start()
        try:
            db = open_cache_db(path, "CREATE TABLE IF NOT EXISTS t (x TEXT)")
        finally:
            timer.cancel()
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        db.close()
