"""The journal bundle: one portable, self-contained, verifiable file (docs/bundle.md).

A bundle is a ZIP archive: ``manifest.json`` first, then ``streams/<process_id>.jsonl``
(one line per entry, the seven stored fields) for every stream in process-id order, then
``blobs/<sha256>`` (the raw bytes) in digest order. :class:`BundleJournal` reads one as a
read-only :class:`~fund.journal.base.Journal`, streaming each member, so ``fund verify``,
``fund journal show|export`` and ``fund journal import`` work on it unchanged. Writing and
importing are in :mod:`fund.journal.bundle_io`.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import orjson

from fund.journal.base import (
    ALL,
    PROCESS_ID,
    Batch,
    BlobMissingError,
    Entry,
    EntryFilter,
    Journal,
    JournalError,
    Lease,
    ascii_lower,
)

FORMAT = "agentfund-bundle"
VERSION = 1
MANIFEST = "manifest.json"
STREAMS = "streams/"
BLOBS = "blobs/"
FIELDS = Entry._fields  # process_id, seq, kind, ts, payload, prev_hash, hash
DIGEST = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError)  # RuntimeError: an encrypted member


class BundleError(JournalError):
    """A bundle is not one, is damaged, or does not match its manifest."""


def stream_member(process_id: str) -> str:
    """The member holding a stream's entries."""
    return f"{STREAMS}{process_id}.jsonl"


def blob_member(digest: str) -> str:
    """The member holding a blob's bytes."""
    return f"{BLOBS}{digest}"


def encode_line(entry: Entry) -> bytes:
    """One entry as its bundle line: a JSON object of the seven fields, in order, + LF."""
    return orjson.dumps(entry._asdict()) + b"\n"


def decode_line(line: bytes) -> Entry:
    """Parse one bundle line back into the entry; raise ValueError when it is not one."""
    try:
        fields = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(fields, dict) or tuple(fields) != FIELDS:
        raise ValueError(f"not an entry: the fields must be {', '.join(FIELDS)}")
    values = tuple(fields.values())
    if type(values[1]) is not int or not all(type(v) is str for i, v in enumerate(values)
                                              if i != 1):
        raise ValueError("not an entry: seq must be an integer, the rest strings")
    return Entry(*values)


BLOB_KEYS = ("blobs", "raw")
"""The payload keys whose lists name blobs: an observation's ``data.blobs`` (page bodies),
an exchange event's ``raw`` (the venue's answers)."""


def references_blobs(payload: str) -> bool:
    """Whether a payload's text may reference blobs (a cheap test before parsing it)."""
    return any(f'"{key}":' in payload for key in BLOB_KEYS)


def referenced_blobs(payload: str) -> list[str]:
    """The blob digests a payload lists under a :data:`BLOB_KEYS` key (at any depth), in
    order, each once."""
    if not references_blobs(payload):
        return []
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return []  # a payload that is not JSON references nothing (verify reports it)
    found: list[str] = []
    _walk(value, found)
    return list(dict.fromkeys(found))


def _walk(value: Any, found: list[str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in BLOB_KEYS and isinstance(inner, list):
                found.extend(d for d in inner if isinstance(d, str) and DIGEST.match(d))
            _walk(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _walk(inner, found)


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What the manifest says of one stream."""

    entries: int
    head: str
    kind: str  # "actor" or "commands"


@dataclass(frozen=True, slots=True)
class Manifest:
    """A bundle's manifest, checked: what the bundle claims to hold."""

    streams: Mapping[str, StreamInfo]
    blobs: int
    document: Mapping[str, Any]  # the whole manifest as written


def parse_manifest(where: str, text: bytes) -> Manifest:
    """Check a manifest's format, version and stream table; raise BundleError naming why."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise BundleError(f"{where}: not an agentfund bundle ({MANIFEST} is not JSON)") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BundleError(f"{where}: not an agentfund bundle ({MANIFEST} does not say "
                          f'"format": "{FORMAT}")')
    version = document.get("version")
    if type(version) is not int or version < 1:
        raise BundleError(f"{where}: unknown bundle format version {version!r}")
    if version > VERSION:
        raise BundleError(f"{where}: bundle format version {version} is newer than this "
                          f"agentfund reads ({VERSION})")
    streams = document.get("streams")
    blobs = document.get("blobs")
    if not isinstance(streams, dict) or type(blobs) is not int or blobs < 0:
        raise BundleError(f"{where}: {MANIFEST} lacks its streams or its blob count")
    table = {}
    for process_id, info in streams.items():
        try:
            table[process_id] = _stream_info(process_id, info)
        except (KeyError, TypeError, ValueError):
            raise BundleError(f"{where}: {MANIFEST}: stream {process_id!r} is not described "
                              "by entries, head and kind") from None
    return Manifest(streams=table, blobs=blobs, document=document)


def _stream_info(process_id: str, info: Mapping[str, Any]) -> StreamInfo:
    entries, head, kind = info["entries"], info["head"], info["kind"]
    if not PROCESS_ID.match(process_id) or type(entries) is not int or entries < 1 \
            or not isinstance(head, str) or not DIGEST.match(head) \
            or kind not in ("actor", "commands"):
        raise ValueError(process_id)
    return StreamInfo(entries=entries, head=head, kind=kind)


def _members(where: str, archive: zipfile.ZipFile, manifest: Manifest) -> set[str]:
    """Check the archive holds exactly the manifest's streams and blobs; return blob digests."""
    names = archive.namelist()
    if len(set(names)) != len(names):
        raise BundleError(f"{where}: a member appears twice")
    missing = [stream_member(p) for p in manifest.streams if stream_member(p) not in names]
    if missing:
        raise BundleError(f"{where}: stream member {missing[0]} is missing (truncated?)")
    streams = {stream_member(p) for p in manifest.streams}
    digests = set()
    for name in names[1:]:
        if name in streams:
            continue
        digest = name.removeprefix(BLOBS)
        if digest == name or not DIGEST.match(digest):
            raise BundleError(f"{where}: member {name} is neither a stream of the manifest "
                              "nor a blob")
        digests.add(digest)
    if len(digests) < manifest.blobs:
        raise BundleError(f"{where}: a blob is missing: it holds {len(digests)} blobs, its "
                          f"manifest says {manifest.blobs} (truncated?)")
    if len(digests) > manifest.blobs:
        raise BundleError(f"{where}: it holds {len(digests)} blobs, its manifest says only "
                          f"{manifest.blobs}")
    return digests


def _open_archive(where: str, path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, ValueError):
        raise BundleError(f"{where}: truncated or damaged: not a complete ZIP archive (no "
                          "central directory at its end)") from None
    except OSError as exc:
        raise BundleError(f"{where}: cannot read it ({exc.strerror or exc})") from None


class _Cursor:
    """A stream member read part way: where a paged read continues."""

    def __init__(self, entries: Iterator[Entry], next_seq: int) -> None:
        self.entries = entries
        self.next_seq = next_seq


class BundleJournal(Journal):
    """A bundle opened as a read-only journal: entries streamed from its members.

    Every read that reaches the end of a stream checks it against the manifest (number of
    entries, head hash); a damaged member (CRC, deflate data) or a mismatch raises
    BundleError and is kept in :attr:`damage`, so a caller that catches it (the verifier
    reports any exception as a failed stream) can still tell damage from tampering.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = str(path)
        self.damage: BundleError | None = None
        self._cursors: dict[str, _Cursor] = {}
        self._heads: dict[str, Entry] = {}
        self._whole: set[str] = set()  # members read to their end: their CRC-32 checked
        self._zip = _open_archive(self.url, self.path)
        try:
            names = self._zip.namelist()
            if not names or names[0] != MANIFEST:
                raise BundleError(f"{self.url}: not an agentfund bundle (its first member is "
                                  f"not {MANIFEST})")
            self.manifest = parse_manifest(self.url, self._read_member(MANIFEST))
            self._blobs = _members(self.url, self._zip, self.manifest)
        except BaseException:
            self._zip.close()
            raise

    def _read_member(self, name: str) -> bytes:
        try:
            data = self._zip.read(name)
        except _READ_ERRORS as exc:
            raise self._damaged(name, exc) from None
        self._whole.add(name)
        return data

    def _damaged(self, name: str, exc: BaseException) -> BundleError:
        what = str(exc) or type(exc).__name__
        if "CRC" in what:
            what = "its CRC-32 does not match its content"
        elif isinstance(exc, EOFError | zlib.error):
            what = f"its compressed data is cut short or corrupt ({what})"
        return self._record(f"member {name} is damaged: {what}")

    def _record(self, problem: str) -> BundleError:
        error = BundleError(f"{self.url}: {problem}")
        if self.damage is None:
            self.damage = error
        return error

    def check_intact(self) -> None:
        """Raise the first damage found while reading, if any; first read through (to
        their CRC-32) the members no read reached the end of. A reader that stopped at an
        entry that does not hash, say, learns here whether the file was damaged rather than
        its content altered: a tamperer writes a well-formed archive."""
        for name in self._zip.namelist():
            if self.damage is not None:
                break
            if name not in self._whole:
                try:
                    with self._zip.open(name) as member:
                        while member.read(_CHUNK):
                            pass
                except _READ_ERRORS as exc:
                    self._damaged(name, exc)
                self._whole.add(name)
        if self.damage is not None:
            raise self.damage

    # --- entries -------------------------------------------------------------------------

    def _lines(self, name: str) -> Iterator[bytes]:
        try:
            with self._zip.open(name) as member:
                rest = b""
                while chunk := member.read(_CHUNK):
                    lines = (rest + chunk).split(b"\n")
                    rest = lines.pop()
                    yield from lines
        except _READ_ERRORS as exc:
            raise self._damaged(name, exc) from None
        self._whole.add(name)
        if rest:
            raise self._record(f"{name}: its last line is incomplete (truncated?)")

    def _entries(self, process_id: str) -> Iterator[Entry]:
        """Every entry of a stream's member, checked against the manifest at its end."""
        name = stream_member(process_id)
        expected = self.manifest.streams[process_id]
        count, last = 0, None
        for count, line in enumerate(self._lines(name), 1):
            try:
                entry = decode_line(line)
            except ValueError as exc:
                raise self._record(f"{name}: line {count}: {exc}") from None
            if entry.process_id != process_id:
                raise self._record(f"{name}: line {count} is an entry of {entry.process_id}")
            last = entry
            yield entry
        if count != expected.entries:
            raise self._record(f"stream {process_id}: {name} holds {count} entries, the "
                               f"manifest says {expected.entries}")
        if last is not None and last.hash != expected.head:
            raise self._record(f"stream {process_id}: its last entry's hash {last.hash[:16]}… "
                               f"is not the manifest's head {expected.head[:16]}…")
        if last is not None:
            self._heads[process_id] = last

    def _known(self, process_id: str) -> bool:
        return process_id in self.manifest.streams

    def read(self, process_id: str, where: EntryFilter = ALL) -> Iterator[Entry]:
        if not self._known(process_id):
            return iter(())
        if where.descending:
            return self._descending(process_id, where)
        return self._ascending(process_id, where)

    def _descending(self, process_id: str, where: EntryFilter) -> Iterator[Entry]:
        forward = EntryFilter(first_seq=where.first_seq, last_seq=where.last_seq,
                              kinds=where.kinds, since=where.since, until=where.until,
                              contains=where.contains)
        kept: deque[Entry] = deque(maxlen=where.limit)
        kept.extend(self._ascending(process_id, forward))
        return reversed(kept)

    def _ascending(self, process_id: str, where: EntryFilter) -> Iterator[Entry]:
        cursor = self._cursors.pop(process_id, None)
        if cursor is not None and cursor.next_seq <= where.first_seq:
            source = cursor.entries
        else:
            source = self._entries(process_id)
        produced = 0
        for entry in source:
            if entry.seq < where.first_seq:
                continue
            if where.last_seq is not None and entry.seq > where.last_seq:
                self._cursors[process_id] = _Cursor(chain([entry], source), entry.seq)
                return
            if not _matches(entry, where):
                continue
            yield entry
            produced += 1
            if where.limit is not None and produced >= where.limit:
                self._cursors[process_id] = _Cursor(source, entry.seq + 1)
                return

    def head(self, process_id: str) -> Entry | None:
        if not self._known(process_id):
            return None
        if process_id not in self._heads:
            for _ in self._entries(process_id):
                pass
        return self._heads.get(process_id)

    def processes(self) -> list[str]:
        return sorted(self.manifest.streams)

    def count(self, process_id: str, kinds: Sequence[str] = ()) -> int:
        if not self._known(process_id):
            return 0
        if not kinds:
            return self.manifest.streams[process_id].entries
        return sum(1 for _ in self._ascending(process_id, EntryFilter(kinds=tuple(kinds))))

    # --- blobs ---------------------------------------------------------------------------

    def blob_digests(self) -> list[str]:
        """Every blob the bundle holds, sorted."""
        return sorted(self._blobs)

    def get_blob(self, digest: str) -> bytes:
        if digest not in self._blobs:
            raise BlobMissingError(f"{self.url}: blob {digest} is missing")
        return self._read_member(blob_member(digest))

    def has_blob(self, digest: str) -> bool:
        return digest in self._blobs

    # --- read-only -----------------------------------------------------------------------

    def _read_only(self) -> JournalError:
        return JournalError(f"{self.url}: a bundle is read-only (load it into a journal with "
                            "fund journal import)")

    def append(self, batch: Batch) -> None:
        raise self._read_only()

    def lease(self, process_id: str) -> Lease | None:
        return None

    def leases(self) -> list[Lease]:
        return []

    def claim(self, lease: Lease, expected_owner: str | None) -> bool:
        raise self._read_only()

    def release(self, process_id: str, owner: str) -> None:
        return None

    def close(self) -> None:
        self._cursors.clear()
        self._zip.close()


def _matches(entry: Entry, where: EntryFilter) -> bool:
    """Whether an entry passes a filter's kind, time and text conditions."""
    if where.kinds and entry.kind not in where.kinds:
        return False
    if where.since is not None and entry.ts < where.since:
        return False
    if where.until is not None and entry.ts > where.until:
        return False
    return where.contains is None or \
        ascii_lower(where.contains) in ascii_lower(entry.payload)
