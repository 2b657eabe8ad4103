"""What a command creates on disk: its output directory and its journal, taken back when
the command is refused before anything was journaled.

Commands validate everything they can before creating anything; this covers the refusals
that can only come later (a backtest's data, a daemon's lease). A journal that existed
before, or that holds an entry, is never removed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from fund.errors import UsageError
from fund.journal import Journal, journal_url, open_journal


def slug(name: str) -> str:
    """A fund's name as a directory name: safe characters, at most 64 of them."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:64] or "fund"


def missing_dirs(folder: Path) -> list[Path]:
    """The directories ``mkdir(parents=True)`` would create for ``folder``, deepest first."""
    created: list[Path] = []
    for path in (folder, *folder.parents):
        if _exists(path):
            break
        created.append(path)
    return created


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; True when that cannot be told (then it is never removed)."""
    try:
        return path.exists()
    except OSError:  # a name too long, say: opening it fails later, with a clear error
        return True


@contextlib.contextmanager
def new_journal(target: str, folder: Path | None = None) -> Iterator[Journal]:
    """Create ``folder`` (if given) and open the journal ``target`` names; close it after.

    If the body raises, a journal file this opening created and that holds no entries is
    removed, and then whichever of the directories it created are empty.
    """
    dirs = missing_dirs(folder) if folder is not None else []
    url = journal_url(target)
    file = _sqlite_file(url)
    created = file is not None and not _exists(file)
    try:
        if folder is not None:
            _make(folder)
        store = open_journal(url)
    except BaseException:
        _take_back(file if created else None, dirs)
        raise
    try:
        yield store
    except BaseException:
        empty = _holds_nothing(store)
        store.close()
        _take_back(file if created and empty else None, dirs)
        raise
    store.close()


def _make(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{folder}: cannot create the directory: {exc.strerror or exc}"
                         ) from None


def _take_back(file: Path | None, dirs: list[Path]) -> None:
    """Remove the journal file (with SQLite's companions), then the empty directories."""
    if file is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                Path(f"{file}{suffix}").unlink(missing_ok=True)
    for path in dirs:  # deepest first
        with contextlib.suppress(OSError):  # not empty (or gone): keep it
            path.rmdir()


def _sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1]
    return None if not path or path == ":memory:" else Path(path)


def _holds_nothing(store: Journal) -> bool:
    try:
        return not store.processes()
    except Exception:  # noqa: BLE001 - a journal that cannot be read is kept, as it is
        return False
