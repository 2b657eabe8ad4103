"""Snapshots kept between page views and between UI runs, always checked against the journal.

A snapshot is derived data: it is saved under the cache directory (see
:func:`fund.cache.cache_root`) with the sequence number and hash of the last entry it
folded. Before it is used, that entry is read back: if the journal no longer has it with
that hash (another journal at the same URL, or an altered one), the snapshot is thrown away
and rebuilt from the first entry. So the cache can make the UI fast, never wrong.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from collections.abc import Callable
from pathlib import Path

from fund.cache import cache_root
from fund.journal import EntryFilter, Journal
from fund.monitor.snapshot import SNAPSHOT_VERSION, ActorSnapshot, advance

_MEMO: dict[tuple[str, str], ActorSnapshot] = {}
_LOCK = threading.Lock()
_SAVE_AFTER = 5_000  # entries folded since loading before the snapshot is worth saving


def _path(journal: Journal, actor: str) -> Path:
    key = hashlib.sha256(f"{journal.url}\x1f{actor}".encode()).hexdigest()[:32]
    return cache_root() / "monitor" / f"{key}.pickle"


def _still_valid(journal: Journal, snapshot: ActorSnapshot) -> bool:
    if snapshot.version != SNAPSHOT_VERSION:
        return False
    if snapshot.seq == 0:
        return True
    found = list(journal.read(snapshot.actor, EntryFilter(first_seq=snapshot.seq,
                                                          last_seq=snapshot.seq)))
    return bool(found) and found[0].hash == snapshot.head_hash


def _load(path: Path, actor: str) -> ActorSnapshot | None:
    try:
        with path.open("rb") as handle:
            snapshot = pickle.load(handle)  # our own cache file, written by _save
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError,
            TypeError, ValueError):
        return None
    return snapshot if isinstance(snapshot, ActorSnapshot) and snapshot.actor == actor else None


def _save(path: Path, snapshot: ActorSnapshot) -> None:
    """Write atomically (temporary file, then rename); a failure only costs speed."""
    if snapshot.ledger is not None:
        snapshot.ledger._held = None  # a cached view of positions; rebuilt on demand
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with temporary.open("wb") as handle:
            pickle.dump(snapshot, handle, protocol=pickle.HIGHEST_PROTOCOL)
        temporary.replace(path)
    except OSError:
        pass


def snapshot(journal: Journal, actor: str,
             progress: Callable[[int], None] | None = None) -> ActorSnapshot:
    """The actor's snapshot, brought up to the journal's head.

    ``progress`` (optional) is called with the number of entries folded so far while a
    long stream is read for the first time.
    """
    key = (journal.url, actor)
    path = _path(journal, actor)
    with _LOCK:
        current = _MEMO.get(key)
        if current is None or not _still_valid(journal, current):
            current = _load(path, actor)
            if current is None or not _still_valid(journal, current):
                current = ActorSnapshot(actor=actor)
        folded = 0
        while True:
            read = advance(journal, current, limit=50_000)
            folded += read
            if progress is not None and read:
                progress(folded)
            if read < 50_000 or current.chain_error is not None:
                break
        _MEMO[key] = current
        if folded >= _SAVE_AFTER:
            _save(path, current)
        return current


def forget(journal: Journal, *, disk: bool = False) -> None:
    """Drop the journal's snapshots kept in this process (and, with ``disk``, on disk), so
    the next :func:`snapshot` re-reads every entry and re-checks every hash."""
    with _LOCK:
        for key in [k for k in _MEMO if k[0] == journal.url]:
            del _MEMO[key]
        if disk:
            for actor in journal.processes():
                _path(journal, actor).unlink(missing_ok=True)
