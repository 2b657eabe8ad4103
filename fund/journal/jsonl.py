"""The JSON-lines export (``fund journal export``): its lines, and reading one back.

One line per entry: ``{"actor","seq","kind","ts","payload","prev_hash","hash"}`` with the
payload embedded as JSON (its stored canonical text, verbatim); then one line per blob the
entries reference, ``{"blob": SHA256, "data": BASE64}``, in digest order (only in an export
of whole streams: no ``--kind``, ``--since`` or ``--until``). Such an export verifies:
:class:`JsonlJournal` loads it into memory, whole, as a read-only journal (a bundle is the
format that streams: docs/bundle.md).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from fund.journal.base import Batch, Entry, Journal, JournalError
from fund.journal.bundle import DIGEST
from fund.journal.memory import MemoryJournal

_PAYLOAD = b',"payload":'
_TAIL = len(',"prev_hash":"') + 64 + len('","hash":"') + 64 + len('"}')


def export_line(entry: Entry) -> str:
    """One entry as a JSON line: every field, the payload embedded as JSON."""
    return (f'{{"actor":"{entry.process_id}","seq":{entry.seq},"kind":"{entry.kind}",'
            f'"ts":"{entry.ts}","payload":{entry.payload},'
            f'"prev_hash":"{entry.prev_hash}","hash":"{entry.hash}"}}\n')


def blob_line(digest: str, data: bytes) -> str:
    """One blob as a JSON line: its sha256 and its bytes in base64."""
    return f'{{"blob":"{digest}","data":"{base64.b64encode(data).decode("ascii")}"}}\n'


def blob_lines(journal: Journal, digests: Iterable[str]) -> Iterator[str]:
    """The blob lines of these digests, in digest order (a blob the journal lacks has no
    line: ``fund verify`` names the entry that references it)."""
    for digest in sorted(set(digests)):
        if journal.has_blob(digest):
            yield blob_line(digest, journal.get_blob(digest))


def _payload_text(line: bytes, fields: dict[str, object]) -> str:
    """The payload exactly as embedded: the text between its key and the fixed-width tail
    (re-encoded canonically only for a line another tool laid out differently)."""
    start = line.find(_PAYLOAD)
    tail = f',"prev_hash":"{fields["prev_hash"]}","hash":"{fields["hash"]}"}}'.encode()
    if start >= 0 and len(line) - _TAIL > start and line.endswith(tail):
        return line[start + len(_PAYLOAD):len(line) - _TAIL].decode()
    from fund.canonical import dumps

    return dumps(fields["payload"])


def parse_entry(line: bytes) -> Entry:
    """An entry line back into the entry; raise ValueError when it is not one."""
    fields = orjson.loads(line)
    if not isinstance(fields, dict):
        raise ValueError("not a JSON object")
    texts = [fields.get(key) for key in ("actor", "kind", "ts", "prev_hash", "hash")]
    seq = fields.get("seq")
    if "payload" not in fields or not isinstance(seq, int) or isinstance(seq, bool) or \
            not all(isinstance(text, str) for text in texts):
        raise ValueError("not an entry line")
    actor, kind, ts, prev_hash, digest = (str(text) for text in texts)
    return Entry(process_id=actor, seq=seq, kind=kind, ts=ts,
                 payload=_payload_text(line, fields), prev_hash=prev_hash, hash=digest)


def parse_blob(line: bytes) -> tuple[str, bytes]:
    """A blob line back into (digest, bytes); raise ValueError when it is not one."""
    fields = orjson.loads(line)
    digest, data = fields.get("blob"), fields.get("data")
    if not isinstance(digest, str) or not DIGEST.match(digest) or not isinstance(data, str):
        raise ValueError("not a blob line")
    try:
        return digest, base64.b64decode(data, validate=True)
    except binascii.Error:
        raise ValueError("its data is not base64") from None


class JsonlJournal(MemoryJournal):
    """A JSONL export loaded whole, as stored: read-only, and nothing checked on loading
    (a gap or a broken link is for ``fund verify`` to report, naming the entry)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(str(path))
        try:
            with Path(path).open("rb") as handle:
                for number, line in enumerate(handle, 1):
                    self._load(number, line.rstrip(b"\r\n"))
        except OSError as exc:
            raise JournalError(f"{path}: cannot read it ({exc.strerror or exc})") from None

    def _load(self, number: int, line: bytes) -> None:
        if not line.strip():
            return
        try:
            if line.startswith(b'{"blob":'):
                digest, data = parse_blob(line)
                self._blobs[digest] = data
            else:
                entry = parse_entry(line)
                self._streams.setdefault(entry.process_id, []).append(entry)
        except (ValueError, UnicodeDecodeError) as exc:
            raise JournalError(f"{self.url}: line {number} is not an entry or a blob of a "
                               f"JSONL export ({exc})") from None

    def append(self, batch: Batch) -> None:
        raise JournalError(f"{self.url}: a JSONL export is read-only (load it into a journal "
                           "with fund journal import)")
