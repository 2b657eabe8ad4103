"""Snapshots kept between page views and between UI runs, always checked against the journal.

In the process, the last snapshot of each actor is kept and brought up to the journal's
head on every view. Between runs, it is a projection checkpoint (:mod:`fund.projection_store`:
canonical JSON beside the journal, keyed by the entry and hash it reaches), written as a long
stream is folded and whenever enough new entries were folded. Before it is used, that entry
is read back: if the journal no longer has it with that hash (another journal at the same
URL, or an altered one), or the fold is another version, the checkpoint is discarded (one
line in the log, and shown by the UI) and the stream folded from its first entry. So a
checkpoint can make the UI fast, never wrong.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import fund.books
import fund.ledger
import fund.markets
import fund.monitor.snapshot
import fund.performance
import fund.projections
from fund import projection_store
from fund.journal import EntryFilter, Journal
from fund.monitor.snapshot import SNAPSHOT_VERSION, ActorSnapshot, Sentiment, Series, advance

NAME = "monitor"
CLASSES: dict[str, type] = {cls.__name__: cls for cls in (
    ActorSnapshot, Series, Sentiment, fund.ledger.Ledger, fund.ledger.Position,
    fund.books.OrderBook, fund.markets.Market, fund.projections.Orders,
    fund.projections.OrderState, fund.projections.Controls, fund.performance.Units,
    fund.performance.Flow)}
KEY = projection_store.identity(NAME, SNAPSHOT_VERSION, CLASSES.values(), (
    fund.monitor.snapshot, fund.projections, fund.ledger, fund.performance, fund.markets,
    fund.books))

_MEMO: dict[tuple[str, str], ActorSnapshot] = {}
_NOTES: dict[tuple[str, str], str] = {}
_LOCK = threading.Lock()
_PAGE = 50_000  # entries folded between progress reports


def _still_valid(journal: Journal, snapshot: ActorSnapshot) -> bool:
    """Whether the journal still has the snapshot's last entry with its hash."""
    if snapshot.seq == 0:
        return True
    found = list(journal.read(snapshot.actor, EntryFilter(first_seq=snapshot.seq,
                                                          last_seq=snapshot.seq)))
    return bool(found) and found[0].hash == snapshot.head_hash


def _load(journal: Journal, actor: str) -> ActorSnapshot | None:
    def report(message: str) -> None:
        _NOTES[(journal.url, actor)] = message
        projection_store.LOG.warning(message)

    found = projection_store.load(journal, actor, NAME, KEY, CLASSES, report)
    if found is None:
        return None
    state = found.state
    if not isinstance(state, ActorSnapshot) or state.actor != actor or \
            (state.seq, state.head_hash) != (found.seq, found.head_hash) or not state.trusted:
        report(f"{journal.url}: {actor}: projection checkpoint at entry {found.seq} discarded, "
               "it does not hold this actor's snapshot; folding every entry again")
        projection_store.discard(journal, actor, NAME)
        return None
    return state


def kept(journal: Journal, actor: str) -> ActorSnapshot | None:
    """The actor's snapshot as its checkpoint holds it (checked against the chain; not
    folded further), or None when there is no valid one: for another reader of the same
    projections (``fund status``) that goes on from it alone."""
    return _load(journal, actor)


def keep(journal: Journal, snapshot: ActorSnapshot) -> None:
    """Keep the snapshot as a projection checkpoint (only on an intact chain); a failure
    only costs speed."""
    if snapshot.trusted:
        projection_store.save(journal, snapshot.actor, NAME, KEY, CLASSES, snapshot.seq,
                              snapshot.head_hash, snapshot)


def current(journal: Journal, actor: str) -> tuple[ActorSnapshot, int]:
    """The actor's snapshot at the journal's head, from its checkpoint when one is valid,
    for a caller that goes on folding it alone (not the memo the UI's views share); and how
    many entries were folded after the checkpoint."""
    snapshot = _load(journal, actor) or ActorSnapshot(actor=actor)
    return snapshot, advance(journal, snapshot)


def at_head(journal: Journal, actor: str) -> bool:
    """Whether the actor's checkpoint is this fold's and at the stream's head (the next
    :func:`snapshot` in any process only reads it), told without decoding it."""
    return projection_store.at_head(journal, actor, NAME, KEY)


def note(journal: Journal, actor: str) -> str | None:
    """The line saying why the actor's checkpoint was just discarded, if it was (once)."""
    return _NOTES.pop((journal.url, actor), None)


def snapshot(journal: Journal, actor: str,
             progress: Callable[[int], None] | None = None) -> ActorSnapshot:
    """The actor's snapshot, brought up to the journal's head.

    ``progress`` (optional) is called with the number of entries folded so far while a
    long stream is read for the first time.
    """
    key = (journal.url, actor)
    with _LOCK:
        current = _MEMO.get(key)
        if current is None or not _still_valid(journal, current):
            current = _load(journal, actor) or ActorSnapshot(actor=actor)
        folded = unsaved = 0
        while True:
            read = advance(journal, current, limit=_PAGE)
            folded += read
            unsaved += read
            if progress is not None and read:
                progress(folded)
            if read < _PAGE or current.chain_error is not None:
                break
            if unsaved >= projection_store.SAVE_EVERY:
                keep(journal, current)
                unsaved = 0
        _MEMO[key] = current
        if unsaved >= projection_store.SAVE_AFTER or \
                (unsaved and folded >= projection_store.SAVE_EVERY):
            keep(journal, current)
        return current


def forget(journal: Journal, *, disk: bool = False) -> None:
    """Drop the journal's snapshots kept in this process (and, with ``disk``, its projection
    checkpoints), so the next :func:`snapshot` re-reads every entry and re-checks every
    hash."""
    with _LOCK:
        for key in [k for k in _MEMO if k[0] == journal.url]:
            del _MEMO[key]
        if disk:
            projection_store.discard(journal)
