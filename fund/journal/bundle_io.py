"""Write a journal as a bundle, and copy a bundle (or any journal) into a new journal.

Both stream: entries are read a page at a time (``EntryFilter(first_seq, limit)``) and a
bundle's stream members are written as they are read; an import appends batches of at most
:data:`BATCH` entries (and :data:`BATCH_BLOB_BYTES` of blobs) through ``Journal.append``,
which checks every link. Memory does not grow with the journal, only with its number of
streams and blobs (one small record each). The format is in docs/bundle.md.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from fund.journal.base import ALL, Batch, Entry, EntryFilter, Journal, JournalError
from fund.journal.bundle import (
    BLOB_KEYS,
    FORMAT,
    MANIFEST,
    VERSION,
    blob_member,
    encode_line,
    referenced_blobs,
    stream_member,
)
from fund.journal.writer import BATCH_SIZE
from fund.messages import CHECKPOINT, START, is_commands_stream, is_side_stream

PAGE = 10_000
"""Entries per read: one short query each, never a cursor held over the whole stream."""
BATCH = BATCH_SIZE
"""Entries per append when importing (what JournalWriter flushes at)."""
BATCH_BLOB_BYTES = 64 << 20
"""An import's batch is appended early once its blobs reach this size."""
EPOCH = (1980, 1, 1, 0, 0, 0)
"""Every member's timestamp: the earliest a ZIP archive can record."""
_CHUNK = 1 << 20  # bytes of lines handed to the compressor at a time


@dataclass(frozen=True, slots=True)
class Copied:
    """What an export or import wrote."""

    streams: int
    entries: int
    blobs: int


def pages(journal: Journal, process_id: str, last_seq: int | None = None,
          where: EntryFilter = ALL) -> Iterator[Entry]:
    """Yield a stream's entries (up to ``last_seq``) a page of :data:`PAGE` at a time."""
    first = 1
    while True:
        page = list(journal.read(process_id, replace(where, first_seq=first, last_seq=last_seq,
                                                     limit=PAGE)))
        yield from page
        if len(page) < PAGE:
            return
        first = page[-1].seq + 1


# --- export --------------------------------------------------------------------------------


def _snapshot(journal: Journal, process_id: str) -> tuple[Entry, int]:
    """The stream's head and number of entries, taken together (a writer may be running)."""
    for _ in range(5):
        head = journal.head(process_id)
        count = journal.count(process_id)
        if head is not None and journal.head(process_id) == head:
            return head, count
    raise JournalError(f"{journal.url}: stream {process_id} kept growing while it was read: "
                       "export it again")


def _member_info(name: str) -> zipfile.ZipInfo:
    """A member's header: deflated, dated 1980-01-01, a regular file of mode 0644."""
    info = zipfile.ZipInfo(name, date_time=EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED  # at zlib's default level, 6
    info.create_system = 3  # Unix: external_attr holds a Unix mode
    info.external_attr = 0o100644 << 16
    return info


def _dependency_versions() -> dict[str, str]:
    from agentfund.backtests.sweep_keys import DEPENDENCIES

    versions = {}
    for package in DEPENDENCIES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return versions


def _start(journal: Journal, process_id: str) -> dict[str, Any] | None:
    """A stream's Start payload, decoded (None if its first entry is not a readable Start)."""
    first = next(iter(journal.read(process_id, EntryFilter(limit=1))), None)
    if first is None or first.kind != START:
        return None
    try:
        payload = orjson.loads(first.payload)
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def _fund_name(journal: Journal, process_id: str, start: dict[str, Any]) -> str | None:
    """The fund an actor belongs to: its Start's ``fund``, else its first checkpoint's."""
    name = start.get("fund")
    if isinstance(name, str):
        return name
    where = EntryFilter(kinds=(CHECKPOINT,), limit=1)
    for entry in journal.read(process_id, where):
        try:
            name = orjson.loads(entry.payload).get("fund")
        except (orjson.JSONDecodeError, AttributeError):
            return None
    return name if isinstance(name, str) else None


def manifest(journal: Journal, heads: dict[str, tuple[Entry, int]], blobs: int) -> bytes:
    """The manifest of a bundle of these streams (head and count each) and blobs."""
    from fund import __version__

    actors: dict[str, dict[str, Any]] = {}
    funds: set[str | None] = set()
    for process_id in heads:
        start = None if is_side_stream(process_id) else _start(journal, process_id)
        if start is not None:
            actors[process_id] = {"strategy": start.get("strategy"), "mode": start.get("mode"),
                                  "code": start.get("code"), "start": start}
            funds.add(_fund_name(journal, process_id, start))
    funds.discard(None)
    document = {
        "format": FORMAT, "version": VERSION, "agentfund": __version__,
        "dependencies": _dependency_versions(),
        "streams": {pid: {"entries": count, "head": head.hash,
                          "kind": "commands" if is_commands_stream(pid) else
                          "alerts" if is_side_stream(pid) else "actor"}
                    for pid, (head, count) in heads.items()},
        "blobs": blobs, "actors": actors,
        "fund": funds.pop() if len(funds) == 1 else None,
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _write_stream(archive: zipfile.ZipFile, journal: Journal, process_id: str,
                  head: Entry) -> int:
    """Write one stream's member, up to its snapshot head; return its number of lines."""
    written = 0
    with archive.open(_member_info(stream_member(process_id)), "w", force_zip64=True) as out:
        lines: list[bytes] = []
        size = 0
        for entry in pages(journal, process_id, head.seq):
            line = encode_line(entry)
            lines.append(line)
            size += len(line)
            written += 1
            if size >= _CHUNK:  # chunk bounds follow from the content: same bytes each time
                out.write(b"".join(lines))
                lines.clear()
                size = 0
        out.write(b"".join(lines))
    return written


def write_bundle(journal: Journal, path: Path, streams: Sequence[str] = ()) -> Copied:
    """Write every stream (or those named) of a journal and the blobs they reference to a
    bundle at ``path``, replacing it only once the bundle is whole."""
    chosen = list(streams) or journal.processes()
    if not chosen:
        raise JournalError(f"{journal.url}: the journal is empty")
    heads = {pid: _snapshot(journal, pid) for pid in sorted(chosen)}
    referenced: set[str] = set()
    for pid, (head, _) in heads.items():
        for key in BLOB_KEYS:  # only the entries that may name a blob: a cheap query each
            for entry in pages(journal, pid, head.seq, EntryFilter(contains=f'"{key}":')):
                referenced.update(referenced_blobs(entry.payload))
    digests = sorted(d for d in referenced if journal.has_blob(d))  # a missing one: verify says
    partial = path.with_name(f".{path.name}.partial")
    try:
        with zipfile.ZipFile(partial, "w", allowZip64=True) as archive:
            archive.writestr(_member_info(MANIFEST), manifest(journal, heads, len(digests)))
            for pid, (head, count) in heads.items():
                if _write_stream(archive, journal, pid, head) != count:
                    raise JournalError(f"{journal.url}: stream {pid} changed while it was "
                                       "exported: export it again")
            for digest in digests:
                archive.writestr(_member_info(blob_member(digest)), journal.get_blob(digest))
        os.replace(partial, path)
    except OSError as exc:
        raise JournalError(f"{path}: cannot write the bundle ({exc.strerror or exc})") from None
    finally:
        partial.unlink(missing_ok=True)
    return Copied(streams=len(heads), entries=sum(c for _, c in heads.values()),
                  blobs=len(digests))


# --- import --------------------------------------------------------------------------------


def copy_journal(source: Journal, target: Journal) -> Copied:
    """Append every stream of ``source`` (a bundle, usually) and the blobs its entries
    reference to ``target``, which must hold none of those streams yet."""
    streams = source.processes()
    if not streams:
        raise JournalError(f"{source.url}: holds no streams")
    clash = sorted(set(streams) & set(target.processes()))
    if clash:
        raise JournalError(f"{target.url} already holds stream {', '.join(clash)}: import "
                           "into a new journal")
    copied = Copied(streams=0, entries=0, blobs=0)
    stored: set[str] = set()
    try:
        for process_id in streams:
            entries = _copy_stream(source, target, process_id, stored)
            copied = Copied(streams=copied.streams + 1, entries=copied.entries + entries,
                            blobs=len(stored))
    except JournalError as exc:
        if copied.entries or target.processes():
            raise JournalError(f"{exc} (the import stopped: {target.url} holds part of it "
                               "now; import into a new journal)") from None
        raise
    return copied


def _copy_stream(source: Journal, target: Journal, process_id: str, stored: set[str]) -> int:
    """Copy one stream in batches; add each blob with the first entry that references it."""
    batch, blob_bytes, copied = Batch(), 0, 0
    for entry in pages(source, process_id):
        batch.entries.append(entry)
        for digest in referenced_blobs(entry.payload):
            if digest not in stored and digest not in batch.blobs and source.has_blob(digest):
                data = source.get_blob(digest)
                batch.blobs[digest] = data
                blob_bytes += len(data)
        if len(batch.entries) >= BATCH or blob_bytes >= BATCH_BLOB_BYTES:
            target.append(batch)
            stored.update(batch.blobs)
            copied += len(batch.entries)
            batch, blob_bytes = Batch(), 0
    if batch.entries:
        target.append(batch)
        stored.update(batch.blobs)
        copied += len(batch.entries)
    return copied
