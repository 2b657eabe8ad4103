"""``fund journal export --bundle`` and ``fund journal import``: move a whole fund between
a journal (SQLite, PostgreSQL) and a file an investor can hold (a bundle, docs/bundle.md;
or a JSONL export). Both stream a bundle; a JSONL export is read whole into memory."""

from __future__ import annotations

from pathlib import Path

from fund.errors import UsageError
from fund.journal import open_journal


def export_bundle(target: str, bundle: Path) -> int:
    """Write every stream and blob of a journal, and its manifest, to the bundle file."""
    from fund.journal.bundle_io import write_bundle

    if bundle.is_dir():
        raise UsageError(f"{bundle}: is a folder: name the bundle file to write")
    if not bundle.parent.is_dir():
        raise UsageError(f"{bundle}: no folder {bundle.parent} to write it in")
    with open_journal(target, must_exist=True) as journal:
        if journal_file(journal.url) == bundle.resolve():
            raise UsageError(f"{bundle}: is the journal being exported")
        copied = write_bundle(journal, bundle)
    print(f"{bundle}: {copied.streams} streams, {copied.entries} entries, "
          f"{copied.blobs} blobs")
    return 0


def import_journal(source: str, target: str) -> int:
    """Load a bundle or a JSONL export (or any journal) into a journal that holds none of
    its streams yet: SQLite (a file or ``sqlite:///``) or PostgreSQL."""
    from fund.journal.bundle_io import copy_journal

    if "://" not in source and not Path(source).is_file():
        raise UsageError(f"{source}: no such file")
    with open_journal(source, must_exist=True) as loaded:
        same = journal_file(loaded.url)
        if same is not None and journal_file(target) == same:
            raise UsageError(f"{target}: is the file being imported: name a new journal")
        with open_journal(target) as journal:
            copied = copy_journal(loaded, journal)
            url = journal.url
    print(f"{url}: imported {copied.streams} streams, {copied.entries} entries, "
          f"{copied.blobs} blobs")
    return 0


def journal_file(url: str) -> Path | None:
    """The file a journal URL or path names (None for a database server or memory)."""
    if "://" not in url:
        return Path(url).expanduser().resolve()
    if url.startswith("sqlite"):
        return Path(url.split(":///", 1)[-1]).resolve()
    return None
