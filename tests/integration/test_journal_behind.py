"""Storing a backtest's batches behind the writer (fund/journal/behind.py).

A real helper process appends to a real SQLite file while the writer goes on. What it
stores must be what a writer storing its own batches stores, byte for byte; ``on_stored``
sees every batch once, in order; a batch the helper could not store, or a helper that
died, is reported at the next hand-off or flush as one line, with the stored stream whole.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

import fund.journal.writer as writer_module
from agentfund.backtests.engine import plan_backtest, run_backtest
from fund import projection_store
from fund.canonical import loads
from fund.config import load_config
from fund.journal import (
    GENESIS_HASH,
    ConflictError,
    Entry,
    Journal,
    JournalError,
    JournalWriter,
    MemoryJournal,
    open_journal,
)
from fund.journal.base import entry_hash
from fund.monitor import store
from fund.monitor.keeper import SnapshotKeeper
from fund.monitor.snapshot import ActorSnapshot, advance
from fund.trades import Trades
from tests.conftest import EXAMPLES, ROOT

PID = "actor-1"


def _write(writer: JournalWriter, first: int, count: int) -> list[Entry]:
    return [writer.append("Wake" if n % 3 else "Decision", f"2024-01-01T00:{n // 60:02d}:"
                          f"{n % 60:02d}Z", {"n": n, "text": "x" * (n % 17)})
            for n in range(first, first + count)]


def _chained(entries: Sequence[Entry]) -> list[Entry]:
    """What the journal holds for these appended entries: a writer storing behind returns
    them unchained (its helper, or its flush, chains them as they are stored); each is
    linked to the one before it, from the genesis hash, and hashed as entry_hash says."""
    chained, previous = [], GENESIS_HASH
    for entry in entries:
        if not entry.hash:  # (an entry another writer chained at once keeps its hashes)
            assert entry.prev_hash == ""
            entry = entry._replace(prev_hash=previous, hash=entry_hash(*entry[:5], previous))
        assert entry.prev_hash == previous
        chained.append(entry)
        previous = entry.hash
    return chained


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
    assert not any(e.hash or e.prev_hash for e in appended)  # chained as they are stored
    assert _rows(behind) == _rows(own) == [tuple(e) for e in _chained(appended)]
    assert [e for batch in seen for e in batch] == _chained(appended)
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


def test_the_head_hash_is_known_once_the_helper_chained_the_head(tmp_path: Path) -> None:
    """Entries handed to the helper are chained there: until they are stored, the writer
    cannot say its head's hash (asking is an error, never a wrong answer); once flushed,
    it is the stored head's, and the next batch is chained from it."""
    with open_journal(str(tmp_path / "j.db")) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=True)
        try:
            _write(writer, 1, 12)  # ten in flight, two buffered
            with pytest.raises(RuntimeError, match="entry 12 is chained when it is stored"):
                _ = writer.head_hash
            writer.flush()
            head = journal.head(PID)
            assert head is not None and writer.head_hash == head.hash
            _write(writer, 13, 10)
            writer.flush()
            assert list(journal.read(PID)) == _chained(
                [e._replace(prev_hash="", hash="") for e in journal.read(PID)])
        finally:
            writer.close()


@pytest.mark.parametrize("behind", [True, False])
def test_the_writer_knows_the_entry_it_stored_last(tmp_path: Path, behind: bool) -> None:
    """``stored_head`` is the last stored entry as the journal holds it (chained, where a
    helper chains), the head of an existing stream before anything is stored, and it does
    not move for entries only buffered."""
    with open_journal(str(tmp_path / "j.db")) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=behind)
        try:
            assert writer.stored_head is None
            _write(writer, 1, 12)
            writer.flush()
            assert writer.stored_head == journal.head(PID) == _chained(
                [e._replace(prev_hash="", hash="") for e in journal.read(PID)])[-1]
            _write(writer, 13, 3)  # buffered only
            assert writer.stored_head == journal.head(PID)
            assert writer.stored_head is not None and writer.stored_head.seq == 12
        finally:
            writer.close()
        again = JournalWriter(journal, PID)  # an existing stream: its stored head
        assert again.stored_head == journal.head(PID)


def test_a_writer_that_cannot_start_its_helper_chains_and_stores_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """No process to be had (OSError): the entries appended to be chained by the helper are
    chained and stored by the writer, which stores everything after itself, chained at
    once."""
    def no_process(*_args: object) -> None:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(writer_module, "BehindStore", no_process)
    with open_journal(str(tmp_path / "j.db")) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=True)
        appended = _write(writer, 1, 10)  # the helper cannot start: stored here
        assert not any(e.hash for e in appended) and journal.count(PID) == 10
        later = _write(writer, 11, 3)
        assert all(e.hash for e in later)  # chained at once from now on
        assert writer.head_hash == later[-1].hash
        writer.flush()
        writer.close()
        assert list(journal.read(PID)) == _chained(appended + later)
    assert "storing in this process (Resource temporarily unavailable)" in caplog.text


def _until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    """Wait (bounded) for the helper process to get somewhere."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "the helper did not answer in time"
        time.sleep(0.005)


def test_a_free_helper_is_handed_short_batches_and_a_busy_one_is_not_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From BEHIND_BATCH entries on, the buffer goes to the helper as soon as it is free, so
    the last batch a run waits for is short; while the helper is busy (here: another
    connection holds the file's write lock) the writer goes on appending without waiting,
    until its buffer is full."""
    monkeypatch.setattr(writer_module, "BEHIND_BATCH", 20)
    monkeypatch.setattr(writer_module, "_LOOK_EVERY", 5)
    path = tmp_path / "j.db"
    seen: list[int] = []
    with open_journal(str(path)) as journal:
        writer = JournalWriter(journal, PID, batch_size=200, behind=True,
                               on_stored=lambda entries: seen.append(len(entries)))
        try:
            appended = _write(writer, 1, 19)
            assert writer._behind is None
            appended += _write(writer, 20, 1)  # the helper starts and is handed 20
            helper = writer._behind
            assert helper is not None and not writer._pending.entries
            _until(helper.answered)
            appended += _write(writer, 21, 24)  # free: handed at the 20th, 4 kept
            assert len(writer._pending.entries) == 4
            _until(helper.answered)
            lock = sqlite3.connect(path, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            try:
                appended += _write(writer, 45, 16)  # handed; the helper waits for the lock
                assert not writer._pending.entries
                appended += _write(writer, 61, 199)  # busy: kept, not waited for
                assert len(writer._pending.entries) == 199 and not helper.answered()
                assert journal.count(PID) == 40
            finally:
                lock.rollback()
                lock.close()
            appended += _write(writer, 260, 1)  # a full buffer waits for the batch in flight
            assert not writer._pending.entries
            writer.flush()
        finally:
            writer.close()
    assert _rows(path) == [tuple(e) for e in _chained(appended)]
    assert seen == [20, 20, 20, 200]


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
            assert list(journal.read(PID)) == _chained(first + intruder)
            assert (writer.last_seq, writer.head_hash) == (11, intruder[0].hash)
            more = _write(writer, 12, 2)  # the writer goes on from the stored head
            writer.flush()
            assert list(journal.read(PID)) == _chained(first + intruder + more)
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
            assert list(journal.read(PID)) == _chained(first)
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
            assert list(journal.read(PID)) == _chained(first + second)
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
            assert list(journal.read(PID)) == _chained(first)
            assert writer.last_seq == 10
        finally:
            writer.close()


class Folded:
    """A fold run by the helper (``fold_behind``): it writes what it was given to a file
    beside the journal, where the test reads it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def behind(cls, journal: Journal, process_id: str) -> Folded:
        path = Path(journal.path).with_suffix(".folded")  # type: ignore[attr-defined]
        path.write_text(f"{process_id}\n")
        return cls(path)

    def stored(self, entries: Sequence[Entry]) -> None:
        if entries[0].payload == '{"n":41,"text":"xxxxxxx"}':
            raise ValueError("entry 41 cannot be folded")
        with self.path.open("a") as out:
            out.write(" ".join(str(e.seq) for e in entries) + "\n")

    def save(self) -> None:
        with self.path.open("a") as out:
            out.write("saved\n")


FOLDED = "tests.integration.test_journal_behind:Folded.behind"


def test_the_helper_folds_each_batch_it_stored_and_keeps_the_fold_at_the_end(
        tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with open_journal(str(path)) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=True, fold_behind=FOLDED)
        try:
            _write(writer, 1, 25)
            writer.flush()
            assert writer.folds_behind
        finally:
            writer.close()
        assert writer.folds_behind  # still said once the helper is gone
    assert path.with_suffix(".folded").read_text().splitlines() == [
        PID, " ".join(map(str, range(1, 11))), " ".join(map(str, range(11, 21))),
        " ".join(map(str, range(21, 26))), "saved"]


def test_after_finish_the_helper_stores_folds_and_keeps_its_fold_before_close(
        tmp_path: Path) -> None:
    """finish() hands over the last entries and says that no more follow: the helper
    stores them, folds them and keeps the fold while the caller goes on (a backtest writes
    its report meanwhile), and close() then only reaps it."""
    path = tmp_path / "j.db"
    folded = path.with_suffix(".folded")
    with open_journal(str(path)) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=True, fold_behind=FOLDED)
        try:
            appended = _write(writer, 1, 25)
            writer.finish()  # returns without waiting for the last five
            _until(lambda: folded.read_text().endswith("saved\n"))  # close() not called yet
            with pytest.raises(RuntimeError, match="no batch follows"):
                _write(writer, 26, 10)  # nothing may follow the last batch
            writer.flush()
            assert journal.count(PID) == 25
        finally:
            writer.close()
    assert _rows(path) == [tuple(e) for e in _chained(appended)]
    assert folded.read_text().splitlines() == [
        PID, " ".join(map(str, range(1, 11))), " ".join(map(str, range(11, 21))),
        " ".join(map(str, range(21, 26))), "saved"]


def test_finish_without_a_helper_stores_what_is_buffered(tmp_path: Path) -> None:
    with open_journal(str(tmp_path / "j.db")) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=True)
        appended = _write(writer, 1, 7)  # shorter than a batch: no helper was started
        writer.finish()
        assert writer._behind is None and list(journal.read(PID)) == _chained(appended)
        writer.close()


def test_a_stream_the_writer_began_storing_itself_is_not_folded_behind(
        tmp_path: Path) -> None:
    """The helper would see only the later batches: it stores them, the writer's own
    on_stored folds them all."""
    path = tmp_path / "j.db"
    seen: list[int] = []
    with open_journal(str(path)) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=True, fold_behind=FOLDED,
                               on_stored=lambda entries: seen.extend(e.seq for e in entries))
        try:
            _write(writer, 1, 3)
            writer.flush()  # stored here (a valuation point's flush, say)
            _write(writer, 4, 20)
            writer.flush()
            assert writer._behind is not None and not writer.folds_behind
        finally:
            writer.close()
        assert journal.count(PID) == 23
    assert not path.with_suffix(".folded").exists()
    assert seen == list(range(1, 24))


def test_a_fold_that_fails_in_the_helper_stops_folding_not_storing(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "j.db"
    with open_journal(str(path)) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=True, fold_behind=FOLDED)
        try:
            appended = _write(writer, 1, 55)
            writer.flush()
        finally:
            writer.close()
        assert list(journal.read(PID)) == _chained(appended)
    said = capfd.readouterr().err.strip().splitlines()
    assert said == [f"fund: {journal.url}: {PID}: folding stopped at entry 41: ValueError: "
                    "entry 41 cannot be folded"]
    assert path.with_suffix(".folded").read_text().splitlines()[1:] == [
        " ".join(map(str, range(n, n + 10))) for n in (1, 11, 21, 31)]  # no save: not whole


@pytest.mark.parametrize(("end", "behind"), [(datetime(2024, 1, 28, tzinfo=UTC), True),
                                             (datetime(2024, 1, 3, tzinfo=UTC), False)],
                         ids=["behind", "here"])
def test_a_backtest_s_meanwhile_runs_while_the_helper_keeps_the_snapshot(
        tmp_path: Path, end: datetime, behind: bool) -> None:
    """The caller's ``meanwhile`` (the command loads its report's modules there) runs once,
    after the run's last entries are handed over: the helper storing behind stores, folds
    and keeps the snapshot at the head in that time, not only once it is stopped."""
    config = load_config(EXAMPLES / "rebalance.toml", ['actors.rebalancer.cron="*/5 * * * *"'])
    calls: list[bool] = []
    with open_journal(str(tmp_path / "j.db")) as journal:

        def meanwhile() -> None:
            if behind:  # the helper keeps the checkpoint at the head by itself
                _until(lambda: store.at_head(journal, "rebalancer"))
            calls.append(store.at_head(journal, "rebalancer"))

        (run,) = run_backtest(config, journal, plan=plan_backtest(config, end=end),
                              meanwhile=meanwhile)
        assert calls == [behind]  # once; a run storing its own keeps it after
        assert (run.entries > writer_module.BATCH_SIZE) == behind
        assert run.entries == journal.count("rebalancer") and store.at_head(journal,
                                                                              "rebalancer")
        assert run.snapshot is not None and run.snapshot.seq == run.entries


def test_a_backtest_stored_and_folded_behind_is_the_backtest_stored_here(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """W1 hourly in batches of 500 (27 hand-offs), against the same run stored and folded
    in-process: the same entries; the snapshot the helper kept (and the run's, read from
    it) is the full fold of what it stored; the report's trade book is the same."""
    config = load_config(EXAMPLES / "rebalance.toml", ())
    monkeypatch.setattr(writer_module, "BATCH_SIZE", 500)
    folded_here = []
    keeper_stored = SnapshotKeeper.stored

    def counted(self: SnapshotKeeper, entries: Sequence[Entry]) -> None:
        folded_here.append(len(entries))
        keeper_stored(self, entries)

    monkeypatch.setattr(SnapshotKeeper, "stored", counted)
    results = {}
    for name in ("behind", "here"):
        if name == "here":
            monkeypatch.setattr(writer_module, "storable", lambda journal: None)
        book = Trades()
        with open_journal(str(tmp_path / f"{name}.db")) as journal:
            (run,) = run_backtest(config, journal, books={"rebalancer": book})
            rows = [tuple(e) for e in journal.read("rebalancer")]
            found = projection_store.load(journal, "rebalancer", store.NAME, store.KEY,
                                          store.CLASSES)
            reference = ActorSnapshot(actor="rebalancer")
            advance(journal, reference)
        assert found is not None and found.seq == reference.seq == len(rows) > 500 * 20
        assert run.snapshot is not None and run.snapshot.ledger is not None
        for state in (found.state, run.snapshot):
            assert projection_store.encode(state, store.CLASSES) == \
                projection_store.encode(reference, store.CLASSES)
        results[name] = (rows, run.head_hash, book.book(run.snapshot.ledger.prices))
        if name == "behind":
            assert folded_here == []  # the helper folded every batch
    assert folded_here and sum(folded_here) == len(results["here"][0])
    assert results["behind"] == results["here"]
    assert results["behind"][2].fills  # the book holds the run's fills


def test_closing_a_helper_that_does_not_exit_is_bounded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper that stopped answering (stopped, here) is killed once the wait is over."""
    import fund.journal.behind as behind_module

    monkeypatch.setattr(behind_module, "_STOP_S", 0.5)
    with open_journal(str(tmp_path / "j.db")) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=True)
        _write(writer, 1, 10)
        writer.flush()
        helper = writer._behind
        assert helper is not None
        os.kill(helper._proc.pid, signal.SIGSTOP)
        writer.close()
        assert helper._proc.returncode == -signal.SIGKILL
        assert journal.count(PID) == 10


def test_the_helper_is_out_of_reach_of_the_terminals_signals(tmp_path: Path) -> None:
    """A Ctrl-C goes to the terminal's foreground process group: the helper is not in it,
    so the writer's last flush (a backtest's, as it stops) still finds it storing."""
    with open_journal(str(tmp_path / "j.db")) as journal:
        writer = JournalWriter(journal, PID, batch_size=10, behind=True)
        try:
            _write(writer, 1, 10)
            helper = writer._behind
            assert helper is not None
            assert os.getpgid(helper._proc.pid) != os.getpgid(0)
            os.killpg(os.getpgid(helper._proc.pid), signal.SIGINT)  # its own group only
            _write(writer, 11, 5)
            with pytest.raises(JournalError, match="stopped"):
                writer.flush()  # (a helper that took the signal is reported, as any stop)
        finally:
            writer.close()


CRASH_SCRIPT = """
import sys
from fund.journal import JournalWriter, open_journal

journal = open_journal(sys.argv[1])
writer = JournalWriter(journal, "actor-1", batch_size=97, behind=True)
said = False
seq = writer.last_seq
while True:
    seq += 1
    writer.append("Wake", "2024-01-01T00:00:00Z", {"n": seq, "pad": "x" * (seq % 700)})
    if writer._behind is not None and not said:
        print(writer._behind._proc.pid, flush=True)
        said = True
"""


def test_a_writer_killed_with_a_batch_in_flight_leaves_a_whole_stream(tmp_path: Path) -> None:
    """SIGKILL the writing process (never its helper) at arbitrary moments, then start it
    again on the same journal: every time, the stream stored is gapless and on its chain,
    each entry what the writer appended; the orphaned helper stores the batch it was given
    (or not at all) and exits at the end of its input, leaving nothing behind."""
    path = tmp_path / "j.db"
    rng = random.Random(18)
    stored = 0
    for _round in range(6):
        writer = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, str(path)],
                                  stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert writer.stdout is not None
        helper = int(writer.stdout.readline())  # the helper took its first batch
        time.sleep(rng.uniform(0.0, 0.3))
        writer.kill()
        writer.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(helper):
            time.sleep(0.02)
        assert not _alive(helper), "the helper outlived its writer's input"
        with open_journal(str(path), must_exist=True) as journal:
            entries = list(journal.read(PID))
        assert len(entries) >= stored  # nothing stored before is lost
        previous = GENESIS_HASH
        for number, entry in enumerate(entries, 1):
            assert entry.seq == number and entry.prev_hash == previous
            assert entry.hash == entry.expected_hash()
            assert loads(entry.payload) == {"n": number, "pad": "x" * (number % 700)}
            previous = entry.hash
        stored = len(entries)
    assert stored >= 6 * 97


def _alive(pid: int) -> bool:
    """Whether the process is still there (a zombie of an exited one is not: reaped by
    init, or listed as such)."""
    try:
        with Path(f"/proc/{pid}/stat").open() as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
