"""Storing a backtest's batches behind the writer (fund/journal/behind.py).

A real helper process appends to a real SQLite file while the writer goes on. What it
stores must be what a writer storing its own batches stores, byte for byte; ``on_stored``
sees every batch once, in order; a batch the helper could not store, or a helper that
died, is reported at the next hand-off or flush as one line, with the stored stream whole.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from pathlib import Path

import pytest

import fund.journal.writer as writer_module
from agentfund.backtests.engine import run_backtest
from fund import projection_store
from fund.config import load_config
from fund.journal import ConflictError, Entry, JournalError, JournalWriter, MemoryJournal, \
    open_journal
from fund.monitor import store
from fund.monitor.snapshot import ActorSnapshot, advance
from tests.conftest import EXAMPLES

PID = "actor-1"


def _write(writer: JournalWriter, first: int, count: int) -> list[Entry]:
    return [writer.append("Wake" if n % 3 else "Decision", f"2024-01-01T00:{n // 60:02d}:"
                          f"{n % 60:02d}Z", {"n": n, "text": "x" * (n % 17)})
            for n in range(first, first + count)]


def _rows(path: Path) -> list[tuple[object, ...]]:
    with open_journal(str(path), must_exist=True) as journal:
        return [tuple(e) for e in journal.read(PID)]


@pytest.mark.parametrize("count", [1, 9, 10, 11, 95])
def test_batches_stored_behind_are_the_batches_a_writer_stores_itself(
        tmp_path: Path, count: int) -> None:
    """The same rows, and on_stored sees each batch once, in order, after it is stored."""
    behind, own = tmp_path / "behind.db", tmp_path / "own.db"
    seen: list[Sequence[Entry]] = []

    def stored(entries: Sequence[Entry]) -> None:
        with open_journal(str(behind)) as reader:  # another reader: stored means committed
            head = reader.head(PID)
        assert head is not None and head.seq >= entries[-1].seq
        seen.append(list(entries))

    with open_journal(str(behind)) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, on_stored=stored, behind=True)
        try:
            appended = _write(writer, 1, count)
            writer.flush()
            assert writer._behind is None or not writer._behind.busy
            assert journal.count(PID) == count  # flush returns once everything is stored
        finally:
            writer.close()
    with open_journal(str(own)) as journal:
        plain = JournalWriter(journal, PID, batch_size=10)
        _write(plain, 1, count)
        plain.flush()
    assert _rows(behind) == _rows(own) == [tuple(e) for e in appended]
    assert [e for batch in seen for e in batch] == appended
    assert [len(batch) for batch in seen][:-1] == [10] * (len(seen) - 1)


def test_the_helper_starts_at_the_first_full_batch_and_stops_at_close(tmp_path: Path) -> None:
    with open_journal(str(tmp_path / "j.db")) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=True)
        _write(writer, 1, 9)
        assert writer._behind is None  # a run shorter than a batch starts no process
        _write(writer, 10, 1)
        helper = writer._behind
        assert helper is not None and helper._proc.poll() is None
        writer.flush()
        writer.close()
        assert helper._proc.returncode == 0
        assert writer._behind is None
        writer.close()  # twice: nothing left to stop


def test_a_journal_the_helper_cannot_open_is_stored_by_the_writer(tmp_path: Path) -> None:
    """Memory journals (and servers) have no file a helper could append to."""
    journal = MemoryJournal("memory://behind")
    writer = JournalWriter(journal, PID, batch_size=10, behind=True)
    appended = _write(writer, 1, 25)
    assert journal.count(PID) == 20  # full batches stored at once, by the writer
    writer.flush()
    writer.close()
    assert list(journal.read(PID)) == appended


def test_a_batch_the_helper_cannot_store_is_reported_and_the_stream_stays_whole(
        tmp_path: Path) -> None:
    """Another writer stored entry 11 first: the helper's second batch conflicts; the error
    comes at the next flush, what follows it is dropped, the writer resumes from the head."""
    with open_journal(str(tmp_path / "j.db")) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=True)
        try:
            first = _write(writer, 1, 10)  # handed off
            writer.flush()
            other = JournalWriter(journal, PID)
            intruder = _write(other, 11, 1)
            other.flush()
            _write(writer, 11, 10)  # handed off: conflicts in the helper
            _write(writer, 21, 3)  # buffered after it
            with pytest.raises(ConflictError, match="entry 11 does not follow") as caught:
                writer.flush()
            assert "\n" not in str(caught.value)
            assert list(journal.read(PID)) == first + intruder
            assert (writer.last_seq, writer.head_hash) == (11, intruder[0].hash)
            more = _write(writer, 12, 2)  # the writer goes on from the stored head
            writer.flush()
            assert list(journal.read(PID)) == first + intruder + more
        finally:
            writer.close()


def test_a_helper_that_dies_is_reported_not_waited_for(tmp_path: Path) -> None:
    """Killed with a batch in flight (stopped first, so that it cannot have stored it), then
    killed while idle: each is one JournalError naming its exit status, nothing lost that
    was stored, and the writer goes on from the stored head."""
    with open_journal(str(tmp_path / "j.db")) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=True)
        try:
            first = _write(writer, 1, 10)
            writer.flush()
            helper = writer._behind
            assert helper is not None
            os.kill(helper._proc.pid, signal.SIGSTOP)
            _write(writer, 11, 10)  # in flight, to a helper that cannot take it
            os.kill(helper._proc.pid, signal.SIGKILL)
            with pytest.raises(JournalError, match=r"stopped \(exit status -9\)"):
                writer.flush()
            assert list(journal.read(PID)) == first
            assert writer.last_seq == 10
        finally:
            writer.close()
        writer = JournalWriter(journal, PID, batch_size=10, behind=True)
        try:
            second = _write(writer, 11, 10)
            writer.flush()
            assert writer._behind is not None
            writer._behind._proc.kill()
            writer._behind._proc.wait(timeout=10)
            with pytest.raises(JournalError, match="stopped"):
                _write(writer, 21, 10)  # the hand-off finds no one to take it
            assert list(journal.read(PID)) == first + second
            assert writer.last_seq == 20
        finally:
            writer.close()


def test_discard_waits_for_the_batch_in_flight(tmp_path: Path) -> None:
    with open_journal(str(tmp_path / "j.db")) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=True)
        try:
            first = _write(writer, 1, 10)  # in flight
            _write(writer, 11, 4)
            writer.discard()
            assert list(journal.read(PID)) == first
            assert writer.last_seq == 10
        finally:
            writer.close()


def test_a_backtest_stored_behind_writes_the_same_journal_and_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """W1 hourly in batches of 500 (27 hand-offs), against the same run stored in-process:
    the same entries, and the checkpoint it leaves is the full fold of what it stored."""
    config = load_config(EXAMPLES / "rebalance.toml", ())
    monkeypatch.setattr(writer_module, "BATCH_SIZE", 500)
    heads = []
    for name, behind in (("behind", True), ("own", False)):
        if not behind:
            monkeypatch.setattr(writer_module, "storable", lambda journal: None)
        with open_journal(str(tmp_path / f"{name}.db")) as journal:
            runs = run_backtest(config, journal)
            heads.append((runs[0].entries, runs[0].head_hash))
            rows = [tuple(e) for e in journal.read("rebalancer")]
            if behind:
                behind_rows = rows
                found = projection_store.load(journal, "rebalancer", store.NAME, store.KEY,
                                              store.CLASSES)
                reference = ActorSnapshot(actor="rebalancer")
                advance(journal, reference)
                assert found is not None and found.seq == reference.seq == len(rows)
                assert projection_store.encode(found.state, store.CLASSES) == \
                    projection_store.encode(reference, store.CLASSES)
    assert heads[0] == heads[1] and heads[0][0] > 500 * 20
    assert behind_rows == rows
