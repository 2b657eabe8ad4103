"""The journal contract: one suite that every Journal backend passes.

Modelled on eventsourcing's recorder tests: :class:`JournalContract` holds the tests and
two hooks, ``create_journal`` (a new, empty journal) and ``reopen`` (a new Journal object
over the same storage); each backend subclasses it. PostgreSQL runs when DATABASE_URL
names a server (e.g. ``postgresql+psycopg://fund@127.0.0.1:54329/fund_test``); each
journal it creates lives in a fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fund.canonical import dumps, loads
from fund.journal import (
    GENESIS_HASH,
    Batch,
    BlobMissingError,
    ConflictError,
    Entry,
    EntryFilter,
    Journal,
    JournalError,
    JournalWriter,
    MemoryJournal,
    open_journal,
)
from fund.journal import Lease as _Lease
from fund.journal.base import entry_hash
from tests.fixtures.journals import JournalUrls

T0 = datetime(2024, 1, 1, tzinfo=UTC)
KINDS3 = ("Wake", "Observation", "Decision")


def ts_at(minute: int) -> str:
    """Return the canonical timestamp ``minute`` minutes after T0."""
    return (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sha(data: bytes) -> str:
    """Return the sha256 hex digest of some bytes (computed here, not by the journal)."""
    return hashlib.sha256(data).hexdigest()


def make_entry(process_id: str, seq: int, prev_hash: str, *, kind: str = "Wake",
               ts: str | None = None, payload: str | None = None) -> Entry:
    """Build one correctly hashed entry by hand (for batches a writer would never make)."""
    ts = ts or ts_at(seq)
    payload = payload if payload is not None else dumps({"n": seq})
    return Entry(process_id=process_id, seq=seq, kind=kind, ts=ts, payload=payload,
                 prev_hash=prev_hash,
                 hash=entry_hash(process_id, seq, kind, ts, payload, prev_hash))


def chain(process_id: str, first_seq: int, prev_hash: str, count: int) -> list[Entry]:
    """Build ``count`` linked entries starting at ``first_seq`` after ``prev_hash``."""
    entries: list[Entry] = []
    for seq in range(first_seq, first_seq + count):
        entries.append(make_entry(process_id, seq, prev_hash))
        prev_hash = entries[-1].hash
    return entries


def write(journal: Journal, process_id: str, count: int, *, first_minute: int = 1
          ) -> list[Entry]:
    """Append ``count`` entries (kinds cycling Wake/Observation/Decision) via a writer."""
    writer = JournalWriter(journal, process_id)
    entries = [
        writer.append(KINDS3[(writer.last_seq) % 3], ts_at(first_minute + i), {"i": i})
        for i in range(count)
    ]
    writer.flush()
    return entries


def assert_linked(entries: list[Entry]) -> None:
    """Assert a full stream is gapless from 1, linked, and every hash is correct."""
    prev = GENESIS_HASH
    for number, entry in enumerate(entries, start=1):
        assert entry.seq == number
        assert entry.prev_hash == prev
        assert entry.expected_hash() == entry.hash
        prev = entry.hash


# Reads of the standard stream: 12 entries, seq i at minute i, kinds W O D W O D ...
FILTER_CASES: list[tuple[str, EntryFilter, list[int]]] = [
    ("all", EntryFilter(), list(range(1, 13))),
    ("first_seq", EntryFilter(first_seq=5), list(range(5, 13))),
    ("first_seq_zero", EntryFilter(first_seq=0), list(range(1, 13))),
    ("first_seq_past_head", EntryFilter(first_seq=13), []),
    ("last_seq", EntryFilter(last_seq=4), [1, 2, 3, 4]),
    ("last_seq_past_head", EntryFilter(last_seq=99), list(range(1, 13))),
    ("last_seq_zero", EntryFilter(last_seq=0), []),
    ("last_seq_negative", EntryFilter(last_seq=-1), []),
    ("seq_range", EntryFilter(first_seq=3, last_seq=6), [3, 4, 5, 6]),
    ("one_seq", EntryFilter(first_seq=6, last_seq=6), [6]),
    ("inverted_range", EntryFilter(first_seq=7, last_seq=3), []),
    ("one_kind", EntryFilter(kinds=("Wake",)), [1, 4, 7, 10]),
    ("two_kinds", EntryFilter(kinds=("Wake", "Decision")), [1, 3, 4, 6, 7, 9, 10, 12]),
    ("absent_kind", EntryFilter(kinds=("Fill",)), []),
    ("since_inclusive", EntryFilter(since=ts_at(5)), list(range(5, 13))),
    ("since_between", EntryFilter(since="2024-01-01T00:04:30.000000Z"), list(range(5, 13))),
    ("until_inclusive", EntryFilter(until=ts_at(3)), [1, 2, 3]),
    ("since_until", EntryFilter(since=ts_at(4), until=ts_at(8)), [4, 5, 6, 7, 8]),
    ("until_before_all", EntryFilter(until=ts_at(0)), []),
    ("limit", EntryFilter(limit=3), [1, 2, 3]),
    ("limit_zero", EntryFilter(limit=0), []),
    ("limit_large", EntryFilter(limit=100), list(range(1, 13))),
    ("descending", EntryFilter(descending=True), list(range(12, 0, -1))),
    ("descending_limit", EntryFilter(descending=True, limit=3), [12, 11, 10]),
    ("descending_range", EntryFilter(first_seq=3, last_seq=5, descending=True), [5, 4, 3]),
    ("kind_then_limit", EntryFilter(kinds=("Wake",), limit=2), [1, 4]),
    ("kind_descending_limit", EntryFilter(kinds=("Wake",), descending=True, limit=2), [10, 7]),
    ("range_kind_descending",
     EntryFilter(first_seq=2, last_seq=11, kinds=("Observation",), descending=True),
     [11, 8, 5, 2]),
    ("since_kind_limit", EntryFilter(since=ts_at(3), kinds=("Decision",), limit=2), [3, 6]),
    ("everything",
     EntryFilter(first_seq=4, last_seq=9, since=ts_at(5), until=ts_at(8),
                 kinds=("Wake", "Observation")),
     [5, 7, 8]),
]


def malformed_batches(pid: str, stored: list[Entry]) -> dict[str, tuple[Batch, type[Exception]]]:
    """Batches that must be refused after ``stored`` (each also carries a fresh blob)."""
    head = stored[-1]
    blob = f"blob of a refused batch {uuid.uuid4()}".encode()
    blobs = {sha(blob): blob}
    good = chain(pid, head.seq + 1, head.hash, 3)
    gap = [good[0], make_entry(pid, head.seq + 3, good[0].hash)]
    bad_link = [good[0], make_entry(pid, head.seq + 2, "f" * 64)]
    mixed = [good[0], make_entry("other-process", head.seq + 2, good[0].hash)]
    rewrite = [make_entry(pid, head.seq, stored[-2].hash, payload='{"forged":true}')]
    return {
        "seq_skips_ahead": (Batch(chain(pid, head.seq + 2, head.hash, 2), dict(blobs)),
                            ConflictError),
        "seq_rewrites_head": (Batch(rewrite, dict(blobs)), ConflictError),
        "seq_restarts_at_one": (Batch(chain(pid, 1, GENESIS_HASH, 2), dict(blobs)),
                                ConflictError),
        "wrong_prev_hash": (Batch(chain(pid, head.seq + 1, "e" * 64, 2), dict(blobs)),
                            ConflictError),
        "gap_inside_batch": (Batch(gap, dict(blobs)), ConflictError),
        "broken_link_inside_batch": (Batch(bad_link, dict(blobs)), ConflictError),
        "two_processes": (Batch(mixed, dict(blobs)), JournalError),
        "blob_does_not_match_digest": (Batch(good, {sha(b"expected"): b"tampered"}),
                                       JournalError),
    }


MALFORMED = list(malformed_batches("a", chain("a", 1, GENESIS_HASH, 2)))

json_scalars = (st.none() | st.booleans() | st.integers(-(2**53), 2**53)
                | st.text(max_size=30)
                | st.decimals(allow_nan=False, allow_infinity=False, places=8))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)
batch_item = st.tuples(st.sampled_from((*KINDS3, "Fill", "OrderIntent")),
                       st.integers(0, 10**6), json_values)



def lease(owner: str, beat: str = "2026-01-01T00:00:00.000000Z") -> _Lease:
    return _Lease(process_id="actor-1", owner=owner, heartbeat=beat, info='{"pid":1}')

class JournalContract:
    """Behaviour every Journal backend must show; subclass and implement the hooks."""

    durable: ClassVar[bool] = True
    tmp_path: Path

    @pytest.fixture(autouse=True)
    def _workspace(self, tmp_path: Path) -> Iterator[None]:
        self.tmp_path = tmp_path
        self.opened: list[Journal] = []
        yield
        for journal in reversed(self.opened):
            journal.close()
        self.cleanup()

    def create_journal(self) -> Journal:
        """Return a new, empty journal (every call a fresh storage)."""
        raise NotImplementedError

    def reopen(self, journal: Journal) -> Journal:
        """Return a new Journal object over the same storage as ``journal``."""
        raise NotImplementedError

    def cleanup(self) -> None:
        """Remove what the test stored outside tmp_path (hook)."""

    def break_storage(self, journal: Journal) -> None:
        """Make the journal's storage fail underneath it (drop its tables), or skip."""
        pytest.skip("this backend has no storage that can fail")

    def track(self, journal: Journal) -> Journal:
        """Remember a journal so it is closed after the test."""
        self.opened.append(journal)
        return journal

    # --- reading --------------------------------------------------------------------------

    def test_empty_journal(self) -> None:
        journal = self.create_journal()

        assert journal.head("nobody") is None
        assert list(journal.read("nobody")) == []
        assert list(journal.read("nobody", EntryFilter(descending=True))) == []
        assert journal.count("nobody") == 0
        assert journal.count("nobody", ["Wake"]) == 0
        assert journal.processes() == []
        journal.append(Batch())
        assert journal.processes() == []

    def test_round_trip_of_every_field(self) -> None:
        journal = self.create_journal()
        writer = JournalWriter(journal, "actor-1")
        appended = [
            writer.append("Start", ts_at(0), {"name": "Zürich–東京 ☃ 🚀", "cash": Decimal("1.50")}),
            writer.append("Observation", "2024-02-29T23:59:59.999999Z",
                          {"quote": 'a "quoted"\nline\twith\\escapes', "emoji": "\U0001f4b8"}),
            writer.append_text("Decision", ts_at(2), '{"rule":"ünïcödé","x":[1,2.5,null]}'),
            writer.append_text("Fill", ts_at(3), "plain text, not JSON: ßœ∑"),
        ]

        writer.flush()
        stored = list(journal.read("actor-1"))

        assert stored == appended
        for got, want in zip(stored, appended, strict=True):
            assert (got.process_id, got.seq, got.kind, got.ts, got.payload, got.prev_hash,
                    got.hash) == (want.process_id, want.seq, want.kind, want.ts,
                                  want.payload, want.prev_hash, want.hash)
            assert type(got.seq) is int
            assert type(got.payload) is str
        assert loads(stored[0].payload)["name"] == "Zürich–東京 ☃ 🚀"
        assert loads(stored[1].payload)["quote"] == 'a "quoted"\nline\twith\\escapes'
        assert stored[3].payload == "plain text, not JSON: ßœ∑"
        assert_linked(stored)

    def test_longest_valid_process_id_round_trips(self) -> None:
        journal = self.create_journal()
        pid = "p" + "x" * 127

        entries = write(journal, pid, 2)

        assert list(journal.read(pid)) == entries
        assert journal.processes() == [pid]

    def test_invalid_process_id_is_refused(self) -> None:
        journal = self.create_journal()

        for pid in ("", "has space", "-leading-dash", "p" * 129):
            with pytest.raises(JournalError):
                journal.append(Batch(chain(pid, 1, GENESIS_HASH, 1)))

        assert journal.processes() == []

    def test_read_order_ascending_and_descending(self) -> None:
        journal = self.create_journal()
        entries = write(journal, "a", 7)

        ascending = list(journal.read("a"))
        descending = list(journal.read("a", EntryFilter(descending=True)))

        assert [e.seq for e in ascending] == [1, 2, 3, 4, 5, 6, 7]
        assert ascending == entries
        assert descending == entries[::-1]

    @pytest.mark.parametrize(("where", "seqs"), [(c[1], c[2]) for c in FILTER_CASES],
                             ids=[c[0] for c in FILTER_CASES])
    def test_read_filter(self, where: EntryFilter, seqs: list[int]) -> None:
        journal = self.create_journal()
        entries = write(journal, "a", 12)
        write(journal, "b", 12)  # a neighbour stream that must never leak in

        got = list(journal.read("a", where))

        assert [e.seq for e in got] == seqs
        assert got == [entries[seq - 1] for seq in seqs]

    def test_head_is_the_last_stored_entry(self) -> None:
        journal = self.create_journal()
        first = write(journal, "a", 3)
        assert journal.head("a") == first[-1]

        second = write(journal, "a", 2, first_minute=10)

        assert journal.head("a") == second[-1]
        assert journal.head("a") == list(journal.read("a"))[-1]
        assert journal.head("b") is None

    def test_processes_are_sorted_and_only_non_empty(self) -> None:
        journal = self.create_journal()
        names = ["zeta", "alpha", "Mid", "beta-2", "alpha.1", "9lives", "a:b", "alph", "Z",
                 "alpha-"]
        for name in names:
            write(journal, name, 1)
        JournalWriter(journal, "never-written").flush()

        assert journal.processes() == sorted(names)

    def test_count_with_and_without_kinds(self) -> None:
        journal = self.create_journal()
        write(journal, "a", 12)
        write(journal, "b", 5)

        assert journal.count("a") == 12
        assert journal.count("b") == 5
        assert journal.count("a", ["Wake"]) == 4
        assert journal.count("a", ("Wake", "Decision")) == 8
        assert journal.count("a", ["Fill"]) == 0
        assert journal.count("c") == 0

    def test_processes_are_independent_streams(self) -> None:
        journal = self.create_journal()
        wa, wb = JournalWriter(journal, "a"), JournalWriter(journal, "b")
        a_entries: list[Entry] = []
        b_entries: list[Entry] = []

        for i in range(5):
            a_entries.append(wa.append("Wake", ts_at(i), {"i": i}))
            wa.flush()
            b_entries.append(wb.append("Wake", ts_at(i), {"i": i}))
            b_entries.append(wb.append("Decision", ts_at(i), {"i": i}))
            wb.flush()

        assert list(journal.read("a")) == a_entries
        assert list(journal.read("b")) == b_entries
        assert [e.seq for e in a_entries] == [1, 2, 3, 4, 5]
        assert [e.seq for e in b_entries] == list(range(1, 11))
        assert a_entries[0].prev_hash == GENESIS_HASH == b_entries[0].prev_hash
        assert_linked(list(journal.read("a")))
        assert_linked(list(journal.read("b")))

    def test_a_read_in_progress_does_not_block_an_append(self) -> None:
        journal = self.create_journal()
        write(journal, "a", 3)
        reader = journal.read("a")
        assert next(reader).seq == 1
        outcome: list[BaseException | None] = []

        def append_more() -> None:
            try:
                write(journal, "a", 2, first_minute=10)
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                outcome.append(exc)

        worker = threading.Thread(target=append_more, daemon=True)
        try:
            worker.start()
            worker.join(timeout=3)
            finished_while_reading = not worker.is_alive()
        finally:
            reader.close()
            worker.join(timeout=60)

        assert finished_while_reading, (
            "an append (or the writer's head lookup) waited for an unfinished read: "
            "a suspended reader must not hold the write lock")
        assert outcome == [None]
        assert journal.count("a") == 5

    # --- the chain's shape ----------------------------------------------------------------

    def test_first_entry_must_be_seq_one_after_genesis(self) -> None:
        journal = self.create_journal()

        with pytest.raises(ConflictError):
            journal.append(Batch(chain("a", 2, GENESIS_HASH, 2)))
        with pytest.raises(ConflictError):
            journal.append(Batch(chain("a", 1, "a" * 64, 2)))

        assert journal.head("a") is None
        assert journal.processes() == []

    @pytest.mark.parametrize("case", MALFORMED)
    def test_malformed_batch_is_refused_and_stores_nothing(self, case: str) -> None:
        journal = self.create_journal()
        stored = write(journal, "a", 3)
        batch, error = malformed_batches("a", stored)[case]

        with pytest.raises(error):
            journal.append(batch)

        assert list(journal.read("a")) == stored
        assert journal.head("a") == stored[-1]
        assert journal.count("a") == 3
        assert journal.processes() == ["a"]
        for digest in batch.blobs:
            assert not journal.has_blob(digest)

    def test_refused_batch_leaves_the_journal_usable(self) -> None:
        journal = self.create_journal()
        stored = write(journal, "a", 3)
        with pytest.raises(ConflictError):
            journal.append(Batch(chain("a", 5, stored[-1].hash, 2)))

        more = chain("a", 4, stored[-1].hash, 2)
        journal.append(Batch(more))

        assert list(journal.read("a")) == stored + more

    def test_second_writer_conflicts_and_resyncs(self) -> None:
        journal = self.create_journal()
        first, second = JournalWriter(journal, "a"), JournalWriter(journal, "a")
        ours = [first.append("Wake", ts_at(i), {"by": "first", "i": i}) for i in range(2)]
        first.flush()
        theirs_blob = f"blob of the losing writer {uuid.uuid4()}".encode()
        digest = second.put_blob(theirs_blob)
        for i in range(3):
            second.append("Wake", ts_at(i), {"by": "second", "i": i})

        with pytest.raises(ConflictError):
            second.flush()

        assert list(journal.read("a")) == ours
        assert not journal.has_blob(digest)
        head = journal.head("a")
        assert head is not None
        assert (second.last_seq, second.head_hash) == (head.seq, head.hash) == (2, ours[-1].hash)
        again = second.append("Decision", ts_at(9), {"by": "second", "retry": True})
        second.flush()
        assert again.seq == 3
        assert again.prev_hash == ours[-1].hash
        assert list(journal.read("a")) == [*ours, again]
        assert_linked(list(journal.read("a")))

    def test_stale_writer_conflicts_after_another_appended(self) -> None:
        journal = self.create_journal()
        stale, fresh = JournalWriter(journal, "a"), JournalWriter(journal, "a")
        fresh.append("Wake", ts_at(0), {"by": "fresh"})
        fresh.flush()
        stale.append("Wake", ts_at(0), {"by": "stale"})

        with pytest.raises(ConflictError):
            stale.flush()

        assert [loads(e.payload)["by"] for e in journal.read("a")] == ["fresh"]
        assert stale.last_seq == 1

    def test_racing_writers_keep_the_stream_whole(self) -> None:
        journal = self.create_journal()
        errors: list[BaseException] = []
        landed: list[tuple[int, int]] = []
        lock = threading.Lock()

        def race(worker: int) -> None:
            writer = JournalWriter(journal, "raced")
            try:
                for batch in range(15):
                    size = 1 + (worker + batch) % 4
                    for i in range(size):
                        writer.append("Wake", ts_at(batch), {"w": worker, "b": batch, "i": i})
                    try:
                        writer.flush()
                    except ConflictError:
                        continue  # the writer resynced; its batch is dropped
                    with lock:
                        landed.extend((worker, batch) for _ in range(size))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=race, args=(w,), daemon=True) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

        assert errors == []
        stored = list(journal.read("raced"))
        assert_linked(stored)
        assert sorted((loads(e.payload)["w"], loads(e.payload)["b"]) for e in stored) == sorted(
            landed)
        assert journal.count("raced") == len(landed) > 0

    # --- blobs ----------------------------------------------------------------------------

    def test_blob_round_trip(self) -> None:
        journal = self.create_journal()
        writer = JournalWriter(journal, "a")
        blobs = [bytes(range(256)) * 4, os.urandom(300_000), b"", "naïve ✓".encode()]

        digests = [writer.put_blob(data) for data in blobs]
        assert not any(journal.has_blob(d) for d in digests)  # buffered until the flush
        writer.append("Observation", ts_at(0), {"blobs": digests})
        writer.flush()

        assert digests == [sha(data) for data in blobs]
        for digest, data in zip(digests, blobs, strict=True):
            assert journal.has_blob(digest)
            got = journal.get_blob(digest)
            assert type(got) is bytes
            assert got == data

    def test_unknown_blob_is_missing(self) -> None:
        journal = self.create_journal()
        digest = sha(b"never stored")

        assert not journal.has_blob(digest)
        with pytest.raises(BlobMissingError):
            journal.get_blob(digest)

    def test_same_blob_stored_twice_is_fine(self) -> None:
        journal = self.create_journal()
        data = b"content-addressed " * 100
        writer = JournalWriter(journal, "a")
        assert writer.put_blob(data) == writer.put_blob(data)
        first = writer.append("Observation", ts_at(0), {"blob": sha(data)})
        writer.flush()

        # A hand-made batch repeats the stored blob (a writer would skip it).
        again = make_entry("a", 2, first.hash, kind="Observation")
        journal.append(Batch([again], {sha(data): data}))
        other = make_entry("b", 1, GENESIS_HASH, kind="Observation")
        journal.append(Batch([other], {sha(data): data}))

        assert journal.get_blob(sha(data)) == data
        assert journal.count("a") == 2
        assert journal.count("b") == 1

    def test_blob_that_does_not_match_its_digest_is_refused(self) -> None:
        journal = self.create_journal()
        good = f"good blob {uuid.uuid4()}".encode()
        entries = chain("a", 1, GENESIS_HASH, 2)
        batch = Batch(entries, {sha(good): good, sha(b"what was promised"): b"something else"})

        with pytest.raises(JournalError):
            journal.append(batch)

        assert journal.head("a") is None
        assert not journal.has_blob(sha(good))
        assert not journal.has_blob(sha(b"what was promised"))

    # --- failures -------------------------------------------------------------------------

    def test_storage_failures_are_journal_errors(self) -> None:
        journal = self.create_journal()
        stored = write(journal, "a", 2)
        self.break_storage(journal)
        operations: dict[str, Any] = {
            "append": lambda: journal.append(Batch(chain("a", 3, stored[-1].hash, 1))),
            "read": lambda: list(journal.read("a")),
            "head": lambda: journal.head("a"),
            "processes": journal.processes,
            "count": lambda: journal.count("a"),
            "has_blob": lambda: journal.has_blob(sha(b"x")),
            "get_blob": lambda: journal.get_blob(sha(b"x")),
        }
        escaped: dict[str, str] = {}

        for name, operation in operations.items():
            try:
                operation()
                escaped[name] = "returned normally"
            except JournalError:
                pass
            except Exception as exc:  # noqa: BLE001 - collected and reported below
                escaped[name] = f"{type(exc).__module__}.{type(exc).__name__}"

        assert escaped == {}, "a storage failure must surface as JournalError"

    # --- durability and size ----------------------------------------------------------------

    def test_everything_survives_reopening(self) -> None:
        if not self.durable:
            pytest.skip("this backend keeps nothing beyond its Journal object")
        journal = self.create_journal()
        a_entries = write(journal, "a", 5)
        b_entries = write(journal, "b", 2)
        writer = JournalWriter(journal, "a")
        data = b"\x00\xffblob that must survive"
        writer.put_blob(data)
        a_entries.append(writer.append("Observation", ts_at(50), {"blob": sha(data)}))
        writer.flush()

        reopened = self.reopen(journal)

        assert reopened is not journal
        assert list(reopened.read("a")) == a_entries
        assert list(reopened.read("b")) == b_entries
        assert reopened.head("a") == a_entries[-1]
        assert reopened.processes() == ["a", "b"]
        assert reopened.count("a") == 6
        assert reopened.get_blob(sha(data)) == data
        resumed = JournalWriter(reopened, "a")
        assert (resumed.last_seq, resumed.head_hash) == (6, a_entries[-1].hash)
        nxt = resumed.append("Wake", ts_at(60), {"after": "reopen"})
        resumed.flush()
        assert list(reopened.read("a")) == [*a_entries, nxt]

    def test_batch_of_twenty_thousand_entries(self) -> None:
        journal = self.create_journal()
        writer = JournalWriter(journal, "big", batch_size=50_000)
        appended = [writer.append(KINDS3[i % 3], ts_at(i % 1000), {"i": i, "pad": "x" * (i % 50)})
                    for i in range(20_000)]

        writer.flush()

        stored = list(journal.read("big"))
        assert stored == appended
        assert journal.count("big") == 20_000
        assert journal.head("big") == appended[-1]
        assert_linked(stored)
        tail = list(journal.read("big", EntryFilter(first_seq=19_995)))
        assert [e.seq for e in tail] == [19_995, 19_996, 19_997, 19_998, 19_999, 20_000]

    def test_hand_built_batch_of_twenty_thousand_entries(self) -> None:
        journal = self.create_journal()
        entries = chain("big", 1, GENESIS_HASH, 20_000)

        journal.append(Batch(entries))

        assert list(journal.read("big", EntryFilter(descending=True))) == entries[::-1]

    # --- property -------------------------------------------------------------------------

    def test_random_batches_read_back_identically(self) -> None:
        # given() wraps a closure so that each backend's subclass gets its own test function.
        @settings(max_examples=30, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                         HealthCheck.too_slow])
        @given(batches=st.lists(st.lists(batch_item, max_size=20), max_size=8))
        def check(batches: list[list[tuple[str, int, Any]]]) -> None:
            self.check_random_batches(batches)

        check()

    def check_random_batches(self, batches: list[list[tuple[str, int, Any]]]) -> None:
        """Append the batches through one writer; the stream must read back identically."""
        journal = self.create_journal()
        writer = JournalWriter(journal, "prop")
        appended: list[Entry] = []

        for batch in batches:
            for kind, second, payload in batch:
                moment = T0 + timedelta(seconds=second)
                appended.append(writer.append(kind, moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                                              payload))
            writer.flush()
            head = journal.head("prop")
            assert (head.seq if head else 0) == len(appended)

        stored = list(journal.read("prop"))
        assert stored == appended
        assert_linked(stored)
        assert journal.count("prop") == len(appended)
        assert list(journal.read("prop", EntryFilter(descending=True))) == appended[::-1]

    # --- leases: which writer holds a stream --------------------------------------------

    def test_an_unheld_lease_is_claimed_once(self) -> None:
        journal = self.create_journal()

        assert journal.lease("actor-1") is None
        assert journal.claim(lease("a"), None)
        assert not journal.claim(lease("b"), None)  # already held
        assert journal.lease("actor-1") == lease("a")

    def test_renewal_and_takeover_are_compare_and_swap(self) -> None:
        journal = self.create_journal()
        journal.claim(lease("a"), None)
        later = "2026-01-01T00:00:05.000000Z"

        assert journal.claim(lease("a", later), "a")  # a renews
        assert not journal.claim(lease("b", later), "x")  # b guessed the holder wrong
        assert journal.claim(lease("b", later), "a")  # b takes over from a
        assert not journal.claim(lease("a", later), "a")  # a's renewal now fails
        assert journal.leases() == [lease("b", later)]

    def test_release_only_by_the_holder(self) -> None:
        journal = self.create_journal()
        journal.claim(lease("a"), None)

        journal.release("actor-1", "b")
        assert journal.lease("actor-1") is not None
        journal.release("actor-1", "a")
        assert journal.lease("actor-1") is None

    def test_racing_claims_have_one_winner(self) -> None:
        journal = self.create_journal()
        wins: list[str] = []
        barrier = threading.Barrier(4)

        def race(owner: str) -> None:
            barrier.wait()
            if journal.claim(lease(owner), None):
                wins.append(owner)

        threads = [threading.Thread(target=race, args=(f"o{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert len(wins) == 1 and journal.lease("actor-1").owner == wins[0]


class TestMemoryJournal(JournalContract):
    """The in-process journal."""

    durable = False

    def create_journal(self) -> Journal:
        return self.track(MemoryJournal(f"memory://contract-{uuid.uuid4().hex}"))

    def reopen(self, journal: Journal) -> Journal:
        return journal


class TestSqliteJournal(JournalContract):
    """An SQLite file in tmp_path, opened by URL as the application does."""

    def create_journal(self) -> Journal:
        path = self.tmp_path / f"journal-{uuid.uuid4().hex[:12]}.db"
        return self.track(open_journal(f"sqlite:///{path}"))

    def reopen(self, journal: Journal) -> Journal:
        journal.close()
        return self.track(open_journal(journal.url, must_exist=True))

    def break_storage(self, journal: Journal) -> None:
        path = journal.url.split(":///", 1)[1]
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("DROP TABLE journal_entries")
            conn.execute("DROP TABLE journal_blobs")


class TestPostgresJournal(JournalContract):
    """PostgreSQL at DATABASE_URL; every journal in its own schema, dropped afterwards."""

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.urls = JournalUrls("postgres", tmp_path)  # skips, saying why, without a server

    def create_journal(self) -> Journal:
        return self.track(open_journal(self.urls()))

    def reopen(self, journal: Journal) -> Journal:
        journal.close()
        return self.track(open_journal(journal.url))

    def break_storage(self, journal: Journal) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(journal.url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE journal_entries"))
                conn.execute(text("DROP TABLE journal_blobs"))
        finally:
            engine.dispose()

    def cleanup(self) -> None:
        if hasattr(self, "urls"):  # not when the test skipped
            self.urls.close()
