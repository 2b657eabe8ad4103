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
    "Journal", "JournalError", "JournalWriter", "Lease", "MemoryJournal", "journal_url",
    "open_journal",
]

_MEMORY: dict[str, MemoryJournal] = {}


def journal_url(target: str) -> str:
    """Turn a URL or a plain file path into a journal URL."""
    if "://" in target:
        return target
    return f"sqlite:///{Path(target).expanduser().resolve()}"


def open_journal(target: str, *, must_exist: bool = False) -> Journal:
    """Open the journal a URL names (``memory://NAME``, ``sqlite:///PATH``, ``postgresql…``).

    A plain path means an SQLite file. With ``must_exist`` a missing SQLite file is an
    error instead of a new, empty journal.
    """
    url = journal_url(target)
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        return _MEMORY.setdefault(url, MemoryJournal(url))
    if scheme.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if must_exist and not Path(path).is_file():
            raise JournalError(f"{url}: no journal file at {path}")
        from fund.journal.sql import SqlJournal

        return SqlJournal(url)
    if scheme.startswith("postgresql"):
        from fund.journal.sql import SqlJournal

        return SqlJournal(url)
    raise JournalError(
        f"{target}: unsupported journal URL (use sqlite:///PATH, postgresql+psycopg://…, "
        "memory://NAME or a file path)"
    )
