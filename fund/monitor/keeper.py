"""The monitor's snapshot kept up to date by the process that writes the stream.

A backtest or a daemon folds each batch its writer has just stored (the writer's
``on_stored``) into the actor's :class:`~fund.monitor.snapshot.ActorSnapshot` — the fold
the UI and the reports read — and keeps it as the projection checkpoint
(:func:`fund.monitor.store.keep`) every so many entries and when it closes. So a journal
arrives at ``fund ui`` with its projections at its head, and opening it is a read of the
checkpoint; the entries are never read back to be folded. The checkpoint is still checked
against the chain when it is loaded, like any other (:mod:`fund.monitor.store`).
"""

from __future__ import annotations

from collections.abc import Sequence

from fund import projection_store
from fund.journal import Entry, Journal
from fund.monitor import store
from fund.monitor.snapshot import ActorSnapshot, fold_entries

SAVE_EVERY = projection_store.SAVE_EVERY  # a backtest's: as the UI's while it first reads
DAEMON_SAVE_EVERY = projection_store.SAVE_AFTER  # a daemon's: the UI never has more to fold
# than it would fold itself before saving, whenever the daemon stopped


class SnapshotKeeper:
    """Fold a stream's stored entries as its writer stores them; keep the checkpoint."""

    def __init__(self, journal: Journal, snapshot: ActorSnapshot, *,
                 save_every: int = SAVE_EVERY) -> None:
        self.journal = journal
        self.snapshot = snapshot
        self.save_every = save_every
        self.unsaved = 0

    @classmethod
    def resume(cls, journal: Journal, actor: str, *,
               save_every: int = SAVE_EVERY) -> SnapshotKeeper:
        """A keeper for a stream that may hold entries already: from its checkpoint (checked
        as the UI checks it) and the entries after it, which count as not saved yet."""
        snapshot, folded = store.current(journal, actor)
        keeper = cls(journal, snapshot, save_every=save_every)
        keeper.unsaved = folded
        return keeper

    @classmethod
    def behind(cls, journal: Journal, actor: str) -> SnapshotKeeper:
        """The keeper run by a process that stores a writer's batches behind it
        (``JournalWriter(fold_behind="fund.monitor.keeper:SnapshotKeeper.behind")``): the
        stream from its first entry on, kept as the checkpoint every ``SAVE_EVERY``
        entries and at the end."""
        return cls(journal, ActorSnapshot(actor=actor))

    def stored(self, entries: Sequence[Entry]) -> None:
        """Fold the entries the writer has just stored (the writer's ``on_stored``)."""
        self.unsaved += fold_entries(self.snapshot, entries, rehash=False)
        if self.unsaved >= self.save_every:
            self.save()

    def save(self) -> None:
        """Keep the snapshot as the checkpoint now (only on an intact chain)."""
        if self.unsaved:
            store.keep(self.journal, self.snapshot)
            self.unsaved = 0
