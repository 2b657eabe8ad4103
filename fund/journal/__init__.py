"""Journals: hash-chained entry streams, chosen by URL."""

from __future__ import annotations

from pathlib import Path

from fund.journal.base import (
    GENESIS_HASH,
    Batch,
    BlobMissingError,
    ConflictError,
    Entry,
    EntryFilter,
    Journal,
    JournalError,
    Lease,
)
from fund.journal.memory import MemoryJournal
from fund.journal.writer import JournalWriter

__all__ = [
    "GENESIS_HASH", "Batch", "BlobMissingError", "ConflictError", "Entry", "EntryFilter",
    "Journal", "JournalError", "JournalWriter", "Lease", "MemoryJournal", "file_kind",
    "journal_url", "open_journal",
]

_MEMORY: dict[str, MemoryJournal] = {}
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")  # a member first; an empty archive
_SQLITE = b"SQLite format 3\x00"


def file_kind(path: Path) -> str:
    """What a journal file holds, told by its first bytes: ``bundle`` (a ZIP archive),
    ``jsonl`` (a JSON-lines export) or ``sqlite`` (an SQLite database, or an empty file,
    which SQLite makes one of); a JournalError for anything else. A file this process has
    an SQLite journal open on is not opened (closing it would drop SQLite's locks)."""
    from fund.journal.sqlite import open_here

    if open_here(path):
        return "sqlite"
    try:
        with path.open("rb") as handle:
            start = handle.read(len(_SQLITE))
    except OSError as exc:
        raise JournalError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if start.startswith(_ZIP):
        return "bundle"
    if start.startswith(b"{"):
        return "jsonl"
    if start == _SQLITE or not start:
        return "sqlite"
    raise JournalError(f"{path}: not a journal: neither an SQLite database, an agentfund "
                       "bundle (ZIP) nor a JSONL export")


def journal_url(target: str) -> str:
    """Turn a URL or a plain file path into a journal URL."""
    if "://" in target:
        return target
    return f"sqlite:///{Path(target).expanduser().resolve()}"


def open_journal(target: str, *, must_exist: bool = False) -> Journal:
    """Open the journal a URL names (``memory://NAME``, ``sqlite:///PATH``, ``postgresql…``).

    A plain path means a file: an existing one is opened as what its first bytes say it
    is (:func:`file_kind`): an SQLite journal, a bundle or a JSON-lines export (both
    read-only); a new one is an SQLite journal. With ``must_exist`` a missing file is an
    error instead of a new, empty journal.
    """
    url = journal_url(target)
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        return _MEMORY.setdefault(url, MemoryJournal(url))
    if scheme.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if Path(path).is_file():
            kind = file_kind(Path(path))
            if kind == "bundle":
                from fund.journal.bundle import BundleJournal

                return BundleJournal(path)
            if kind == "jsonl":
                from fund.journal.jsonl import JsonlJournal

                return JsonlJournal(path)
        elif must_exist:
            raise JournalError(f"{url}: no journal file at {path}")
        from fund.journal.sqlite import SqliteJournal, sqlite_path

        if (plain := sqlite_path(url)) is not None:
            return SqliteJournal(url, plain)
        from fund.journal.sql import SqlJournal

        return SqlJournal(url)
    if scheme.startswith("postgresql"):
        from fund.journal.sql import SqlJournal

        return SqlJournal(url)
    raise JournalError(
        f"{target}: unsupported journal URL (use sqlite:///PATH, postgresql+psycopg://…, "
        "memory://NAME or a file path)"
    )
