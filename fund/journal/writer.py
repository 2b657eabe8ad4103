"""Build hash-chained entries for one process and append them in batches."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from fund.canonical import dumps
from fund.journal.base import (
    GENESIS_HASH,
    Batch,
    Entry,
    Journal,
    JournalError,
    blob_digest,
    chain,
    chain_columns,
    chained,
    entry_hash,
)
from fund.journal.behind import BehindStore, storable

LOG = logging.getLogger(__name__)
BATCH_SIZE = 20_000  # entries a writer buffers before it stores them (by default)
BEHIND_BATCH = 2_000
"""With a helper storing behind: the entries handed to it at a time when it is free (the
last batch, which the run waits for at its end, is then this small, not a full buffer)."""
_LOOK_EVERY = 250  # entries between looks at whether the helper is free, past that
_make = Entry._make  # an Entry from its fields in order, without keyword handling


class JournalWriter:
    """Append entries for one process: sequence, chain and batch them.

    Entries are buffered and written by :meth:`flush` in one atomic append; a full buffer
    (``batch_size`` entries, :data:`BATCH_SIZE` by default) is flushed on its own. A failed
    flush drops the unwritten batch, resynchronises with the stored head and re-raises: the
    stored stream stays whole and gapless.

    ``on_stored`` (optional) is handed each batch's entries once they are stored, in order:
    a projection kept up to date by the writer (:mod:`fund.monitor.keeper`) folds what the
    journal holds, without reading it back.

    ``behind`` (a backtest's): the buffer is handed to a helper process that chains and
    stores it while the caller goes on (:mod:`fund.journal.behind`; SQLite files only,
    else ignored): at :data:`BEHIND_BATCH` entries when the helper is free (or not started
    yet), else when the buffer is full, once the batch in flight is stored. The entries
    :meth:`append` returns are then not chained yet (empty hashes); ``on_stored`` gets them
    chained, and :attr:`head_hash` is known once they are stored.
    :meth:`flush` still returns only once everything appended is stored; a batch that
    could not be stored is reported at the next hand-off or flush, with everything
    appended after it dropped. Call :meth:`close` when done (it stops the helper).
    ``fold_behind`` (``module:function``): the helper also folds the stored batches into
    that projection (:func:`fund.journal.behind.serve`) — when it stores the stream from
    its first entry on (:attr:`folds_behind` says whether it does).
    """

    def __init__(self, journal: Journal, process_id: str, batch_size: int | None = None, *,
                 on_stored: Callable[[Sequence[Entry]], None] | None = None,
                 behind: bool = False, fold_behind: str = "") -> None:
        self.journal = journal
        self.process_id = process_id
        self.batch_size = batch_size or BATCH_SIZE
        self.on_stored = on_stored
        self._pending = Batch()
        self._behind_path = storable(journal) if behind else None
        self._behind: BehindStore | None = None  # started at the first full buffer
        self._fold_behind = fold_behind
        self._folds_behind = False  # the helper started folds every batch
        self._stored_here = False  # this process stored a batch itself
        self._resync()

    def _resync(self) -> None:
        head = self._head = self.journal.head(self.process_id)
        self._seq = self._hashed = head.seq if head else 0
        self._hash = head.hash if head else GENESIS_HASH

    @property
    def last_seq(self) -> int:
        """Sequence number of the last entry appended (stored or pending)."""
        return self._seq

    @property
    def stored_head(self) -> Entry | None:
        """The last entry stored, chained as stored (None: the stream is empty)."""
        return self._head

    @property
    def head_hash(self) -> str:
        """Hash of the last entry appended (stored or pending). A writer storing behind
        knows it once the entry is stored (after :meth:`flush`): its helper chains the
        entries; before, asking is a RuntimeError."""
        if self._hashed != self._seq:
            raise RuntimeError(f"{self.process_id}: entry {self._seq} is chained when it is "
                               "stored: flush first")
        return self._hash

    def append(self, kind: str, ts: str, payload: Any) -> Entry:
        """Encode, chain and buffer one entry; return it."""
        return self.append_text(kind, ts, dumps(payload))

    def append_text(self, kind: str, ts: str, text: str) -> Entry:
        """Chain and buffer one entry whose payload is already canonical JSON. A writer
        storing behind leaves the returned entry's ``prev_hash`` and ``hash`` empty: the
        entries are chained as they are stored (by the helper, or by :meth:`flush`), and
        ``on_stored`` and the journal get them chained."""
        seq = self._seq + 1
        if self._behind_path is None:
            prev = self._hash
            digest = entry_hash(self.process_id, seq, kind, ts, text, prev)
            entry = _make((self.process_id, seq, kind, ts, text, prev, digest))
            self._hash = digest
            self._hashed = seq
        else:
            entry = _make((self.process_id, seq, kind, ts, text, "", ""))
        entries = self._pending.entries
        entries.append(entry)
        self._seq = seq
        size = len(entries)
        if size >= self.batch_size:
            if self._behind_path is None:
                self.flush()
            else:
                self._hand_off()
        elif size >= BEHIND_BATCH and not size % _LOOK_EVERY and self._behind_path is not None \
                and (self._behind is None or self._behind.answered()):
            self._hand_off()
        return entry

    @property
    def folds_behind(self) -> bool:
        """Whether the helper storing behind folds every batch of the stream (``fold_behind``);
        still said after :meth:`close`."""
        return self._folds_behind

    def put_blob(self, data: bytes) -> str:
        """Buffer a blob to be stored with the next flush; return its sha256."""
        digest = blob_digest(data)
        if digest not in self._pending.blobs and not self.journal.has_blob(digest):
            self._pending.blobs[digest] = data
        return digest

    def discard(self) -> None:
        """Drop every buffered entry and blob and continue from the stored head."""
        self._pending = Batch()
        if self._behind is not None:
            # the stored head is known once the batch in flight landed, or did not: either
            # way the writer resynchronises with it below
            with contextlib.suppress(JournalError):
                self._settle()
        self._resync()

    def flush(self) -> None:
        """Store every buffered entry and blob (in one atomic append, after the batch
        handed to the helper, if any); return once they are stored."""
        if self._behind is not None:
            if self._pending.entries:
                self._hand_off()
            self._settle()
            return
        batch = self._pending
        if not batch.entries:
            return
        self._pending = Batch()
        self._stored_here = True
        if self._hashed != self._seq:  # appended to be chained by a helper that was not
            columns = chain_columns(batch.entries)  # started: chained here
            batch.entries = chained(columns, self._hash, chain(columns, self._hash))
        try:
            self.journal.append(batch)
        except BaseException:
            self._resync()
            raise
        self._stored(batch)

    def finish(self) -> None:
        """The last entries are appended: hand them to the helper storing behind, tell it
        that no more follow and return at once — it stores them, folds them and keeps its
        projection while the caller goes on; :meth:`flush` and :meth:`close` then wait for
        it. Without a helper, the same as :meth:`flush`. Append nothing after it."""
        if self._behind is None:
            self.flush()
            return
        if self._pending.entries:
            self._hand_off()
        self._behind.end_input()

    def close(self) -> None:
        """Stop the helper storing behind, if one was started (after the batch in flight;
        what was not flushed is not stored)."""
        behind, self._behind = self._behind, None
        if behind is not None:
            try:
                self._stored(behind.wait())
            finally:
                behind.close()

    def _hand_off(self) -> None:
        """Hand the buffer to the helper, once the batch before it is stored."""
        if self._behind is None:
            assert self._behind_path is not None
            # the helper folds only a stream it stores from the first entry on
            whole = not self._stored_here and self._pending.entries[0].seq == 1
            try:
                self._behind = BehindStore(self.journal.url, self._behind_path,
                                           self._fold_behind if whole else "",
                                           self.process_id)
                self._folds_behind = self._behind.folds
            except OSError as exc:  # no process to be had: this writer stores its own
                LOG.warning("%s: storing in this process (%s)", self.journal.url, exc)
                self._behind_path = None
                self.flush()
                return
        batch, self._pending = self._pending, Batch()
        self._settle()  # (a batch before it that was not stored drops this one too)
        try:
            self._behind.send(batch, self._hash)
        except BaseException:
            self._resync()
            raise

    def _settle(self) -> None:
        """Wait for the batch in flight; hand it to ``on_stored`` once stored."""
        assert self._behind is not None
        try:
            stored = self._behind.wait()
        except BaseException:
            self._pending = Batch()
            self._resync()
            raise
        self._stored(stored)

    def _stored(self, batch: Batch | None) -> None:
        """A batch is stored (here or by the helper), its entries chained: its last is the
        head; hand it to ``on_stored``."""
        if batch is None:
            return
        last = self._head = batch.entries[-1]
        self._hash, self._hashed = last.hash, last.seq
        if self.on_stored is not None:
            self.on_stored(batch.entries)
