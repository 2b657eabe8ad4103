"""Finished backtests kept by what they depend on, so that an identical re-run copies them.

A backtest is a pure function of its config (after ``--set``), its period, the files it
reads and the code that runs it: the journal it writes is byte-identical every time
(what ``fund verify`` proves by replaying it). So ``fund backtest`` keeps each finished
run — journal, summary and report — under ``$AGENTFUND_CACHE/runs/KEY/`` and, when asked
for a run whose key is there, copies it into the new output directory instead of
running again (it says so on stderr). The key (:func:`run_key`) is the sweep cache's
(:mod:`agentfund.backtests.sweep_keys`): the config as written, the content of every file
the config reads or names (prices, news, a scorer's lexicon or weights, a plugin's
source), the period, and the agentfund sources and library versions — here including the
code that renders the report and summary. ``--no-cache`` (or ``AGENTFUND_RUN_CACHE=off``)
neither reuses nor keeps; only runs writing a new journal file in their output directory
are kept or reused.

A kept run is trusted only whole: its manifest names the journal's sha256 and head hash,
and the copy is checked against them before it is used; anything else is a miss (and the
entry is removed). Entries are written to a temporary directory and renamed into place,
so a run interrupted while keeping leaves nothing half-written (the journal is copied and
hashed by a thread while the summary and report are written: :func:`keeping`); the
:data:`KEEP` most recently used runs are kept, none whose journal is larger than
:data:`LARGEST`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agentfund.backtests.sweep_keys import (
    FileHashes,
    code_version,
    config_hash,
    plugin_hash,
    result_key,
    sha256_file,
)
from fund.cache import cache_root
from fund.config import FundConfig, raw_config
from fund.journal.base import JournalError

KEEP = 8
"""How many finished runs are kept (the most recently used)."""
LARGEST = 1 << 30
"""A run whose journal file is larger than this (bytes) is not kept."""
SWITCH = "AGENTFUND_RUN_CACHE"


def enabled() -> bool:
    """Whether whole runs are kept and reused (``$AGENTFUND_RUN_CACHE`` is not off)."""
    return os.environ.get(SWITCH, "on").strip().lower() not in {"off", "0", "no", "false"}


def runs_dir() -> Path:
    """``$AGENTFUND_CACHE/runs``."""
    return cache_root() / "runs"


def run_key(config_path: Path, overrides: Sequence[str], config: FundConfig, *,
            start: datetime | None, end: datetime | None, report: bool) -> str:
    """The key a backtest's result is kept under (see the module's docstring)."""
    raw = raw_config(config_path, overrides)
    hashes = FileHashes(cache_root() / "file_hashes.sqlite")
    try:
        data = hashes.inputs_hash(config, raw, config_path.resolve().parent, Path.cwd())
    finally:
        hashes.close()
    period = f"{start.isoformat() if start else ''}..{end.isoformat() if end else ''}"
    key = result_key(config=config_hash(raw), data=data,
                     code=code_version(presentation=True), plugins=plugin_hash(raw),
                     period=f"{period} report={report}")
    return key


def _head(path: Path, actors: Iterable[str]) -> str | None:
    """The fund's head hash in the journal file at ``path`` (as the summary states it)."""
    from agentfund.backtests.summary import combined_head
    from fund.journal import open_journal

    with open_journal(str(path), must_exist=True) as store:
        heads = {actor: store.head(actor) for actor in actors}
    if not heads or any(entry is None for entry in heads.values()):
        return None
    return combined_head({actor: entry.hash for actor, entry in heads.items() if entry})


@dataclass(frozen=True)
class Kept:
    """A kept run, copied into an output directory: its summary (paths not yet set)."""

    summary: dict[str, Any]
    source: Path


def fetch(key: str, out: Path, *, report: bool) -> Kept | None:
    """Copy the run kept under ``key`` into ``out`` (created) and return it, or None when
    none is kept or what is kept does not check out (then it is removed)."""
    entry = runs_dir() / key
    try:
        manifest = json.loads((entry / "manifest.json").read_text(encoding="utf-8"))
        summary = json.loads((entry / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if report and not (entry / "report.html").is_file():
        return None
    out.mkdir(parents=True, exist_ok=True)
    copied: list[Path] = []
    try:
        for name in ("journal.db", *(("report.html",) if report else ())):
            partial = out / f".{name}.partial"
            shutil.copyfile(entry / name, partial)
            copied.append(partial)
        journal = out / ".journal.db.partial"
        if (sha256_file(journal) != manifest.get("journal_sha256")
                or _head(journal, summary.get("actors") or ()) != summary.get("head_hash")):
            raise ValueError("kept run does not match its manifest")
        for partial in copied:
            partial.replace(out / partial.name[1:-len(".partial")])
    except (OSError, ValueError, JournalError):
        for partial in copied:
            partial.unlink(missing_ok=True)
        shutil.rmtree(entry, ignore_errors=True)
        return None
    os.utime(entry)  # most recently used
    return Kept(summary=summary, source=entry)


@contextmanager
def keeping(key: str | None, out: Path) -> Iterator[Keeping]:
    """Keep the finished run in ``out`` (its journal, summary and report) under ``key``
    (None: keep nothing): the journal, closed, is copied as soon as the block begins; the
    block writes the summary and report and calls :meth:`Keeping.done`. A block left
    without it (an error) leaves nothing kept; one that cannot keep says so in a line (the
    run itself is done and written)."""
    keeper = Keeping(key, out)
    try:
        yield keeper
    finally:
        keeper.abandon()


class Keeping:
    """A run being kept: a thread copies its closed journal into a staging directory and
    hashes the copy — both outside the GIL, ~0.09 s for W1-5m's 94 MB journal, on the core
    the run's helper has left idle — while the caller writes the summary and report;
    :meth:`done` adds those and renames the entry into place."""

    def __init__(self, key: str | None, out: Path) -> None:
        self.out = out
        self._digest = ""
        self._error: OSError | None = None
        self._thread: threading.Thread | None = None
        if key is None or not _closed(out / "journal.db"):
            return
        self.root = runs_dir()
        self.entry = self.root / key
        self.staging = self.root / f".{key}.{os.getpid()}.{time.monotonic_ns()}"
        self._thread = threading.Thread(target=self._copy, name="agentfund-keep", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        try:
            self.staging.mkdir(parents=True)
            self._digest = _copy_hashed(self.out / "journal.db", self.staging / "journal.db")
        except OSError as exc:
            self._error = exc

    def done(self, summary: Mapping[str, Any]) -> None:
        """Add the summary (and the report, if written) to the copied journal and put the
        entry in place; quietly does nothing when it cannot (the run itself is written)."""
        if self._thread is None:
            return
        self._thread.join()
        try:
            self._put(summary)
        except OSError as exc:
            self.abandon()
            if not (self.entry / "manifest.json").is_file():  # else another run kept it first
                print(f"fund: could not keep the run in {self.root}: {exc.strerror or exc}",
                      file=sys.stderr)
            return
        self._thread = None
        _prune(self.root)

    def _put(self, summary: Mapping[str, Any]) -> None:
        if self._error is not None:
            raise self._error
        staging, out = self.staging, self.out
        if (out / "report.html").is_file() and summary.get("report"):
            shutil.copyfile(out / "report.html", staging / "report.html")
        (staging / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
        manifest = {"journal_sha256": self._digest, "head_hash": summary.get("head_hash"),
                    "entries": summary.get("entries")}
        (staging / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        shutil.rmtree(self.entry, ignore_errors=True)
        staging.rename(self.entry)

    def abandon(self) -> None:
        """Keep nothing of a run not :meth:`done` (its staging copy is removed)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            shutil.rmtree(self.staging, ignore_errors=True)


def _copy_hashed(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` (in the kernel) and return the copy's sha256, read in
    16 MiB chunks: few, as the thread doing it waits for the GIL after each."""
    shutil.copyfile(source, target)
    return sha256_file(target, chunk=1 << 24)


def _closed(journal: Path) -> bool:
    """Whether the journal file can be kept: a closed, self-contained file (no write-ahead
    log or rollback journal beside it) no larger than :data:`LARGEST`."""
    try:
        if journal.stat().st_size > LARGEST:
            return False
    except OSError:
        return False
    return not any(Path(f"{journal}{suffix}").exists() for suffix in ("-wal", "-journal"))


def _prune(root: Path) -> None:
    """Remove all but the :data:`KEEP` most recently used runs (and stale staging)."""
    entries = []
    for path in root.iterdir():
        try:
            entries.append((path.stat().st_mtime, path))
        except OSError:
            continue
    stale = time.time() - 3600
    for _, path in [e for e in entries if e[1].name.startswith(".") and e[0] < stale]:
        shutil.rmtree(path, ignore_errors=True)
    kept = sorted((e for e in entries if not e[1].name.startswith(".")), reverse=True)
    for _, path in kept[KEEP:]:
        shutil.rmtree(path, ignore_errors=True)
