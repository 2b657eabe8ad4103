"""Write-behind: a bulk writer's batches stored by a helper process while the writer goes on.

A backtest records every entry of every wake; storing them — SQLite's inserts, its
write-ahead log and its checkpoints — is a sixth to a fifth of the run, and it is work the
driver does in C, apart from the Python that computes the next wakes. :class:`BehindStore`
hands a full batch to a helper process that appends it to the same SQLite file while the
writer fills the next one (:class:`fund.journal.writer.JournalWriter` with ``behind``).

* One batch is in flight at a time, and the writer waits for it before it hands over the
  next (or flushes): what is stored is always every batch before the one in flight, so a
  failure reported at the next hand-off leaves a whole, gapless stream, and nothing after
  the failed batch was sent.
* The helper is a new interpreter (fund/helper_process.py), not a fork: SQLite connections
  must not cross a ``fork()`` ("carrying an open database across a fork",
  sqlite.org/howtocorrupt.html §2.6), and the writer's process has its journal open. It
  imports the journal module only, from the same source tree, and appends through the same
  :class:`~fund.journal.sqlite.SqliteJournal` code, which checks each batch against the
  stored head as any append does.
* The helper also chains the entries (:func:`fund.journal.base.chain`, from the stored
  head's hash the writer sends with each batch): hashing costs 0.8 µs an entry on the
  core that runs the strategy (4 % of W1 every 5 minutes), and the helper has time to
  spare. The writer hands ``on_stored`` the
  entries chained as the helper stored them, and knows its head's hash once it is stored.
* Batches travel as length-prefixed :mod:`marshal` frames of their columns (the entries'
  fields are strings and integers); the answer is the batch's hashes, or the error's
  class name and its one-line message, raised again in the writer as that
  :class:`JournalError`.
* Every wait is bounded by the helper's life: a helper that dies is reported as such (its
  exit status), never waited for; the helper stops at the end of its input, so it cannot
  outlive the writer's process.

Only a writer that is not the last word on an order uses it: a daemon writes each intent
before it sends the order and never stores behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import marshal
import os
import select
import subprocess
import sys
import time
import weakref
from typing import IO, Any

from fund.helper_process import start_helper
from fund.journal.base import (
    Batch,
    BlobMissingError,
    ConflictError,
    Entry,
    Journal,
    JournalError,
    chain,
    chain_columns,
    chained,
)

_HEADER = 8  # bytes of a frame's length
_ERRORS: dict[str, type[JournalError]] = {
    cls.__name__: cls for cls in (JournalError, ConflictError, BlobMissingError)}
_POLL_S = 0.5  # how often a wait checks that the helper is alive
_PIPE_BYTES = 1 << 20
_STOP_S = 30.0  # how long a helper may take to keep its fold and exit once its input ends


def storable(journal: Journal) -> str | None:
    """The SQLite file a helper can append to for ``journal``, or None (a journal in memory,
    or on a server, whose URL may hold a password that must not be put in a process's
    arguments: the writer stores its batches itself)."""
    from fund.journal.sqlite import SqliteJournal

    return journal.path if type(journal) is SqliteJournal else None


class BehindStore:
    """A helper process appending batches to one SQLite journal file, one at a time."""

    def __init__(self, url: str, path: str, fold: str = "", process_id: str = "") -> None:
        """``fold``: ``module:function`` the helper calls with its journal and
        ``process_id`` for a projection to fold each batch into once it is stored
        (``stored(entries)``) and to keep at the end (``save()``): see :func:`serve`."""
        self.url = url
        self.folds = bool(fold)
        # in a session of its own: a Ctrl-C is the writer's to handle, and its last flush
        # must still find the helper storing (it stops when its input ends)
        self._proc = start_helper("fund.journal.behind:serve", url, path, fold, process_id,
                                  stdin=subprocess.PIPE)
        # the batch handed over and not answered for: it, its columns, its first entry's
        # predecessor's hash
        self._flight: tuple[Batch, list[tuple[Any, ...]], str] | None = None
        self._closer = weakref.finalize(self, _stop, self._proc)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        _widen(self._proc.stdin)
        _widen(self._proc.stdout)  # (an answer lists its batch's hashes)

    @property
    def busy(self) -> bool:
        """Whether a batch was handed over and not yet answered for."""
        return self._flight is not None

    def answered(self) -> bool:
        """Whether :meth:`wait` would return at once: nothing in flight, or the helper has
        answered for it (or ended)."""
        stdout = self._proc.stdout
        assert stdout is not None
        return self._flight is None or bool(select.select([stdout], [], [], 0)[0])

    def send(self, batch: Batch, prev_hash: str) -> None:
        """Hand ``batch`` to the helper (nothing may be in flight): entries to be chained
        from ``prev_hash``, the stored head's hash (their own hashes are not read)."""
        if self._flight is not None:
            raise RuntimeError("a batch is still in flight")
        assert self._proc.stdin is not None
        if self._proc.stdin.closed:
            raise RuntimeError("the helper was told that no batch follows")
        columns = chain_columns(batch.entries)
        frame = marshal.dumps((columns, batch.blobs, prev_hash))
        try:
            _write_frame(self._proc.stdin, frame)
        except OSError:
            raise JournalError(self._gone()) from None
        self._flight = (batch, columns, prev_hash)

    def end_input(self) -> None:
        """Tell the helper that no batch follows the one in flight: it stores that one,
        keeps its fold and exits while the caller goes on (:meth:`wait` still answers for
        the batch; :meth:`close` waits for the exit)."""
        assert self._proc.stdin is not None
        with contextlib.suppress(OSError):  # a helper gone already: wait() says so
            self._proc.stdin.close()

    def wait(self) -> Batch | None:
        """The batch in flight once it is stored, its entries chained as stored (None: none
        was); raises the helper's JournalError when it could not be stored."""
        flight, self._flight = self._flight, None
        if flight is None:
            return None
        batch, columns, prev_hash = flight
        failed, digests = self._read()
        if failed is not None:
            name, message = failed
            raise _ERRORS.get(name, JournalError)(message)
        return Batch(entries=chained(columns, prev_hash, digests), blobs=batch.blobs)

    def close(self) -> None:
        """Stop the helper (after the batch in flight, if any, is stored or not, and its
        fold kept): its input ends, and it is waited for, at most 30 s, then killed."""
        self._flight = None
        self._closer()

    def _read(self) -> Any:
        stdout = self._proc.stdout
        assert stdout is not None
        while not select.select([stdout], [], [], _POLL_S)[0]:
            if self._proc.poll() is not None:
                raise JournalError(self._gone())
        frame = _read_frame(stdout)
        if frame is None:
            raise JournalError(self._gone())
        return marshal.loads(frame)

    def _gone(self) -> str:
        try:
            status = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            status = None
        said = f"exit status {status}" if status is not None else "not answering"
        return f"{self.url}: the process storing this writer's batches stopped ({said})"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Close the helper's input (it stops there: its fold kept, it exits) and reap it, told
    by the end of its output rather than by polling; at most ``_STOP_S``, then killed."""
    deadline = time.monotonic() + _STOP_S
    if proc.stdin is not None:
        with contextlib.suppress(OSError):  # a helper gone already: nothing to close
            proc.stdin.close()
    if proc.stdout is not None:
        fd = proc.stdout.fileno()
        with contextlib.suppress(OSError):
            while (left := deadline - time.monotonic()) > 0 and \
                    select.select([fd], [], [], left)[0] and os.read(fd, 1 << 16):
                pass  # (nothing is left to answer: the end of it is the helper's exit)
        with contextlib.suppress(OSError):
            proc.stdout.close()
    try:
        proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _widen(pipe: IO[bytes]) -> None:
    """Give the pipe a 1 MiB buffer where Linux allows it (a batch is megabytes: fewer
    turns between the two processes); elsewhere, or when refused, it stays as it is."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe.fileno(), setsize, _PIPE_BYTES)


def _write_frame(out: IO[bytes], frame: bytes) -> None:
    out.write(len(frame).to_bytes(_HEADER, "big"))
    out.write(frame)
    out.flush()


def _read_frame(source: IO[bytes]) -> bytes | None:
    """One frame, or None at the end of the input (or a frame cut short)."""
    header = source.read(_HEADER)
    if len(header) < _HEADER:
        return None
    size = int.from_bytes(header, "big")
    frame = source.read(size)
    return frame if len(frame) == size else None


def serve(url: str, path: str, fold: str = "", process_id: str = "") -> None:
    """The helper: append each batch read from stdin, answer on stdout; stop at the end of
    the input. With ``fold`` (``module:function``), each stored batch is then folded by
    ``function(journal, process_id)``'s ``stored`` — after the answer, so the writer goes
    on meanwhile — and its ``save`` is called at the end. Any failure is said in one line,
    never a traceback; a fold that fails stops folding (its projection is then only as far
    as it was kept), never storing."""
    from fund.journal.sqlite import SqliteJournal

    source, answers = sys.stdin.buffer, sys.stdout.buffer
    status = 0
    journal: SqliteJournal | None = None
    folder: Any = None
    try:
        journal = SqliteJournal(url, path)
        if fold:
            folder = _folder(fold, journal, process_id)
        while (frame := _read_frame(source)) is not None:
            columns, blobs, prev_hash = marshal.loads(frame)
            digests = chain(columns, prev_hash)
            entries = chained(columns, prev_hash, digests)
            try:
                journal.append(Batch(entries=entries, blobs=blobs))
                answer: Any = (None, digests)
            except JournalError as exc:
                answer = ((type(exc).__name__, str(exc)), None)
            _write_frame(answers, marshal.dumps(answer))
            if folder is not None and answer[0] is None:
                folder = _fold(folder, url, entries)
        if folder is not None:
            folder.save()
    except BrokenPipeError:  # the writer went away: nothing to answer to
        status = 1
    except BaseException as exc:  # noqa: BLE001 - said in one line, to the writer's stderr
        print(f"fund: {url}: storing batches failed: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        status = 1
    finally:
        if journal is not None:
            journal.close()
    os._exit(status)


def _folder(fold: str, journal: Journal, process_id: str) -> Any:
    module, _, name = fold.partition(":")
    found: Any = importlib.import_module(module)
    for part in name.split("."):  # a function, or a class's method
        found = getattr(found, part)
    return found(journal, process_id)


def _fold(folder: Any, url: str, entries: list[Entry]) -> Any:
    """Fold a stored batch; None (no more folding) if the fold failed, said in one line."""
    try:
        folder.stored(entries)
    except Exception as exc:  # noqa: BLE001 - a projection's failure only costs speed
        print(f"fund: {url}: {entries[0].process_id}: folding stopped at entry "
              f"{entries[0].seq}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    return folder
