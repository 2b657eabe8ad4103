"""In-memory journal: for tests and throwaway runs (``memory://``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from fund.journal.base import (
    ALL,
    Batch,
    BlobMissingError,
    Entry,
    EntryFilter,
    Journal,
    Lease,
    ascii_lower,
    check_batch,
)


class MemoryJournal(Journal):
    """A journal held in process memory; lost when the process ends."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._streams: dict[str, list[Entry]] = {}
        self._blobs: dict[str, bytes] = {}
        self._leases: dict[str, Lease] = {}
        self._lock = threading.Lock()

    def append(self, batch: Batch) -> None:
        if not batch.entries:
            return
        with self._lock:
            process_id = batch.entries[0].process_id
            check_batch(batch, self._head(process_id))
            self._blobs.update(batch.blobs)
            self._streams.setdefault(process_id, []).extend(batch.entries)

    def read(self, process_id: str, where: EntryFilter = ALL) -> Iterator[Entry]:
        stream = self._streams.get(process_id, [])
        first = max(where.first_seq, 1) - 1
        last = len(stream) if where.last_seq is None else max(0, min(where.last_seq, len(stream)))
        picked = stream[first:last]
        if where.descending:
            picked = picked[::-1]
        produced = 0
        for entry in picked:
            if where.limit is not None and produced >= where.limit:
                return
            if where.kinds and entry.kind not in where.kinds:
                continue
            if where.since is not None and entry.ts < where.since:
                continue
            if where.until is not None and entry.ts > where.until:
                continue
            if where.contains is not None and \
                    ascii_lower(where.contains) not in ascii_lower(entry.payload):
                continue
            produced += 1
            yield entry

    def head(self, process_id: str) -> Entry | None:
        return self._head(process_id)

    def _head(self, process_id: str) -> Entry | None:
        stream = self._streams.get(process_id)
        return stream[-1] if stream else None

    def processes(self) -> list[str]:
        return sorted(self._streams)

    def count(self, process_id: str, kinds: Sequence[str] = ()) -> int:
        stream = self._streams.get(process_id, [])
        if not kinds:
            return len(stream)
        return sum(1 for entry in stream if entry.kind in kinds)

    def lease(self, process_id: str) -> Lease | None:
        return self._leases.get(process_id)

    def leases(self) -> list[Lease]:
        return [self._leases[k] for k in sorted(self._leases)]

    def claim(self, lease: Lease, expected_owner: str | None) -> bool:
        with self._lock:
            current = self._leases.get(lease.process_id)
            if (current.owner if current else None) != expected_owner:
                return False
            self._leases[lease.process_id] = lease
            return True

    def release(self, process_id: str, owner: str) -> None:
        with self._lock:
            current = self._leases.get(process_id)
            if current is not None and current.owner == owner:
                del self._leases[process_id]

    def get_blob(self, digest: str) -> bytes:
        try:
            return self._blobs[digest]
        except KeyError:
            raise BlobMissingError(f"{self.url}: blob {digest} is missing") from None

    def has_blob(self, digest: str) -> bool:
        return digest in self._blobs

