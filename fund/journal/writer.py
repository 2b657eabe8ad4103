"""Build hash-chained entries for one process and append them in batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fund.canonical import dumps
from fund.journal.base import GENESIS_HASH, Batch, Entry, Journal, blob_digest, entry_hash

_make = Entry._make  # an Entry from its fields in order, without keyword handling


class JournalWriter:
    """Append entries for one process: sequence, chain and batch them.

    Entries are buffered and written by :meth:`flush` in one atomic append; a full buffer
    (``batch_size`` entries) is flushed on its own. A failed flush drops the unwritten
    batch, resynchronises with the stored head and re-raises: the stored stream stays
    whole and gapless.

    ``on_stored`` (optional) is handed each batch's entries once they are stored, in order:
    a projection kept up to date by the writer (:mod:`fund.monitor.keeper`) folds what the
    journal holds, without reading it back.
    """

    def __init__(self, journal: Journal, process_id: str, batch_size: int = 20_000, *,
                 on_stored: Callable[[Sequence[Entry]], None] | None = None) -> None:
        self.journal = journal
        self.process_id = process_id
        self.batch_size = batch_size
        self.on_stored = on_stored
        self._pending = Batch()
        self._resync()

    def _resync(self) -> None:
        head = self.journal.head(self.process_id)
        self._seq = head.seq if head else 0
        self._hash = head.hash if head else GENESIS_HASH

    @property
    def last_seq(self) -> int:
        """Sequence number of the last entry appended (stored or pending)."""
        return self._seq

    @property
    def head_hash(self) -> str:
        """Hash of the last entry appended (stored or pending)."""
        return self._hash

    def append(self, kind: str, ts: str, payload: Any) -> Entry:
        """Encode, chain and buffer one entry; return it."""
        return self.append_text(kind, ts, dumps(payload))

    def append_text(self, kind: str, ts: str, text: str) -> Entry:
        """Chain and buffer one entry whose payload is already canonical JSON."""
        seq, prev = self._seq + 1, self._hash
        digest = entry_hash(self.process_id, seq, kind, ts, text, prev)
        entry = _make((self.process_id, seq, kind, ts, text, prev, digest))
        entries = self._pending.entries
        entries.append(entry)
        self._seq, self._hash = seq, digest
        if len(entries) >= self.batch_size:
            self.flush()
        return entry

    def put_blob(self, data: bytes) -> str:
        """Buffer a blob to be stored with the next flush; return its sha256."""
        digest = blob_digest(data)
        if digest not in self._pending.blobs and not self.journal.has_blob(digest):
            self._pending.blobs[digest] = data
        return digest

    def discard(self) -> None:
        """Drop every buffered entry and blob and continue from the stored head."""
        self._pending = Batch()
        self._resync()

    def flush(self) -> None:
        """Store every buffered entry and blob in one atomic append."""
        batch = self._pending
        if not batch.entries:
            return
        self._pending = Batch()
        try:
            self.journal.append(batch)
        except BaseException:
            self._resync()
            raise
        if self.on_stored is not None:
            self.on_stored(batch.entries)
