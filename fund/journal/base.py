"""The journal: one append-only, hash-chained stream of entries per process.

Every backend implements :class:`Journal` and passes ``tests/contract/test_journal.py``.
A backend stores what it is given and enforces the chain's shape (gapless sequence
numbers, each entry linked to the stored head); :class:`fund.journal.writer.JournalWriter`
builds the entries. Appends are all-or-nothing: a batch lands whole or not at all.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any, NamedTuple

GENESIS_HASH = "0" * 64
PROCESS_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class JournalError(Exception):
    """A journal operation failed; the message names the journal and the problem."""


class ConflictError(JournalError):
    """An append did not follow the stored head (another writer, or a stale writer)."""


class BlobMissingError(JournalError):
    """A referenced blob is not in the blob store."""


class Entry(NamedTuple):
    """One journal entry: the unit that is stored, hashed and replayed (immutable)."""

    process_id: str
    seq: int
    kind: str
    ts: str
    payload: str
    prev_hash: str
    hash: str

    def expected_hash(self) -> str:
        """Recompute this entry's hash from its content and its predecessor's hash."""
        return entry_hash(self.process_id, self.seq, self.kind, self.ts, self.payload,
                          self.prev_hash)


def entry_hash(process_id: str, seq: int, kind: str, ts: str, payload: str,
               prev_hash: str) -> str:
    """Hash an entry's fields together with the previous entry's hash."""
    return sha256(f"{process_id}\x1f{seq}\x1f{kind}\x1f{ts}\x1f{prev_hash}\x1f{payload}"
                  .encode()).hexdigest()


def chain_columns(entries: Sequence[Entry]) -> list[tuple[Any, ...]]:
    """The entries' fields that their hashes cover, as columns: process ids, seqs, kinds,
    times and payloads (what :func:`chain` hashes)."""
    return list(zip(*entries, strict=True))[:5]


def chain(columns: Sequence[Sequence[Any]], prev_hash: str) -> list[str]:
    """The hashes of a stream's entries given as columns (process ids, seqs, kinds, times,
    payloads: consecutive entries, in order), the first one's predecessor's hash being
    ``prev_hash``: what :func:`entry_hash` gives each in turn."""
    digests: list[str] = []
    add = digests.append
    for process_id, seq, kind, ts, payload in zip(*columns, strict=True):
        prev_hash = entry_hash(process_id, seq, kind, ts, payload, prev_hash)
        add(prev_hash)
    return digests


def chained(columns: Sequence[Sequence[Any]], prev_hash: str,
            digests: Sequence[str]) -> list[Entry]:
    """The entries of ``columns`` (as :func:`chain`'s) with their chain: ``digests`` their
    hashes, ``prev_hash`` the first one's predecessor's."""
    prevs = (prev_hash, *digests[:-1])
    return list(map(Entry._make, zip(*columns, prevs, digests, strict=True)))


def describe_error(url: str, exc: BaseException) -> str:
    """A storage error as a message naming the journal (locked and full said plainly)."""
    text = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
    if "locked" in text:
        return f"{url}: database is locked by another process ({text})"
    if "full" in text:
        return f"{url}: database or disk is full ({text})"
    return f"{url}: {text}"


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only, as SQL ``lower()`` does in SQLite: how ``contains`` matches."""
    return text.translate(_ASCII_LOWER)


def blob_digest(data: bytes) -> str:
    """Return the content address (sha256 hex) of a blob."""
    return sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Which entries of a process to read; all bounds inclusive, ``None`` means open."""

    first_seq: int = 1
    last_seq: int | None = None
    kinds: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    limit: int | None = None
    descending: bool = False
    contains: str | None = None
    """Only entries whose payload text contains this, ignoring ASCII case."""


ALL = EntryFilter()


class Lease(NamedTuple):
    """Who is writing a process's stream: a daemon's claim, renewed by heartbeats."""

    process_id: str
    owner: str
    heartbeat: str
    info: str  # canonical JSON: host, pid, next wake…


@dataclass(slots=True)
class Batch:
    """Entries of one process and the blobs they reference, appended atomically."""

    entries: list[Entry] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)


class Journal(ABC):
    """Storage for hash-chained entry streams and content-addressed blobs."""

    url: str

    @abstractmethod
    def append(self, batch: Batch) -> None:
        """Store a batch of one process atomically, after checking it follows the head.

        Raises ConflictError when the first entry's seq or prev_hash does not continue the
        stored stream, and JournalError when storage fails; nothing is stored then.
        """

    @abstractmethod
    def read(self, process_id: str, where: EntryFilter = ALL) -> Iterator[Entry]:
        """Yield a process's entries in sequence order (reversed if ``descending``)."""

    @abstractmethod
    def head(self, process_id: str) -> Entry | None:
        """Return the last stored entry of a process, or None for an empty stream."""

    @abstractmethod
    def processes(self) -> list[str]:
        """Return the ids of every process with at least one entry, sorted."""

    @abstractmethod
    def count(self, process_id: str, kinds: Sequence[str] = ()) -> int:
        """Count a process's entries (of the given kinds, if any)."""

    @abstractmethod
    def get_blob(self, digest: str) -> bytes:
        """Return a stored blob's bytes; raise BlobMissingError when absent."""

    @abstractmethod
    def has_blob(self, digest: str) -> bool:
        """Tell whether a blob is stored."""

    @abstractmethod
    def lease(self, process_id: str) -> Lease | None:
        """Return the current lease on a stream, if any."""

    @abstractmethod
    def leases(self) -> list[Lease]:
        """Return every lease, sorted by process id."""

    @abstractmethod
    def claim(self, lease: Lease, expected_owner: str | None) -> bool:
        """Take a lease if it is still held by ``expected_owner`` (None: if unheld).

        A compare-and-swap: True when the lease is now ``lease``, False when another
        writer changed it first. Renewing one's own lease is a claim expecting oneself.
        """

    @abstractmethod
    def release(self, process_id: str, owner: str) -> None:
        """Drop a lease if ``owner`` holds it."""

    def check_intact(self) -> None:  # noqa: B027 - optional hook
        """Raise a JournalError if the store itself is damaged (not its content altered:
        that is for ``fund verify`` to find); a file that can be damaged in transit (a
        bundle) checks here, a database has nothing to add."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the journal is unusable afterwards."""

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_batch(batch: Batch, head: Entry | None) -> None:
    """Raise ConflictError unless the batch is one process's gapless continuation of head."""
    if not batch.entries:
        return
    process_id = batch.entries[0].process_id
    if not PROCESS_ID.match(process_id):
        raise JournalError(f"invalid process id {process_id!r}")
    expected_seq = head.seq + 1 if head else 1
    expected_prev = head.hash if head else GENESIS_HASH
    for pid, seq, kind, ts, _, prev_hash, digest in batch.entries:
        if pid != process_id:
            raise JournalError("a batch must hold the entries of one process")
        if len(kind) > 40 or len(ts) > 32:
            raise JournalError(f"{process_id}: entry {seq}: kind or ts too long")
        if seq != expected_seq or prev_hash != expected_prev:
            raise ConflictError(
                f"{process_id}: entry {seq} does not follow the stored head "
                f"(expected seq {expected_seq}); another writer may be active"
            )
        expected_seq += 1
        expected_prev = digest
    for digest, data in batch.blobs.items():
        if blob_digest(data) != digest:
            raise JournalError(f"blob {digest[:12]}… does not match its content")

