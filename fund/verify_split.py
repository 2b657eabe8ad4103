"""Verify a long stream in segments at once, each by its own process, with the same report.

A strict replay is sequential: each wake's decision depends on the books, controls, orders
and the strategy's state left by every wake before it. :class:`Split` cuts a stream at
Wake entries into segments and gives each segment after the first to a helper process,
while the caller verifies the first itself (fund/verify.py):

* A helper builds the core at its segment's first Wake the cheap way: it folds the entries
  before it into the books, the controls, the orders and the NAV peak, without running the
  handler (:class:`~fund.replay.Replayer` with ``decides=False``), whose state it takes to
  be the one it starts with. It sends the core's :meth:`~fund.actor.ActorCore.fingerprint`,
  the hashes of the Start entry and of the entry before the segment, and the last
  checkpoint, then verifies its segment strictly — chain, inputs, replay — from there.
* The replay before a segment checks what the helper assumed. When it reaches the
  segment's first entry, everything must be equal: the entry before it (so the helper read
  the same chain), the Start entry (the same actor), the last checkpoint, and the core's
  fingerprint, with no order or event still due. Only then is the helper's verdict on its
  segment taken; the segment's own last core is checked the same way against the next
  one. Any difference — a stateful strategy, whose state the helper cannot know without
  replaying, is the usual one — and the caller replays on from there itself, as if there
  were no split: a split may be slower, never a different verdict.
* Helpers are forked where that is safe — on Linux, from a single thread, with no SQLite
  connection open in the process (a connection must not cross a fork; the journal's are
  closed first) — and share the modules already loaded; elsewhere they are new
  interpreters on the same source tree. They run in their own sessions and only read;
  their errors count only as "no verdict", and the caller kills them when it has its
  answer. A helper that cannot be started at all leaves the caller verifying alone.

The fingerprint covers the core; the Replayer's own bookkeeping is at rest at a Wake, and
the checks of recorded inputs keep nothing from entry to entry. What it cannot cover is
state a handler keeps outside the state it returns (a module's global), which the
strategy contract already rules out: ``on_wake`` is pure (fund/strategy.py).

Only an actor's stream (not a side stream, whose chain alone is checked) in an SQLite file,
of at least :data:`MIN_ENTRIES` entries, is split (a URL of a server may hold a password,
which must not go into a process's arguments).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from fund.helper_process import start_helper
from fund.journal.base import EntryFilter, Journal
from fund.journal.behind import storable
from fund.messages import WAKE, is_side_stream
from fund.money import standard

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from fund.messages import Checkpoint
    from fund.verify import StreamCheck, StreamReport

__all__ = ["MIN_ENTRIES", "Split", "cuts", "default_jobs", "serve"]

MIN_ENTRIES = 20_000
"""Shorter streams are replayed in one process: a helper's start costs more than it saves."""

SKIM = 0.33
"""A folded entry's cost as a fraction of a replayed one's, the helpers' later start
included (W1 every 5 minutes: 0.28 measured, and 0.33 ends both processes together):
where the cuts go so that every segment ends at about the same time."""

_STOP_S = 5.0


def default_jobs() -> int:
    """The processes ``fund verify`` uses by default: the CPUs it may run on, up to 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def cuts(entries: int, jobs: int) -> list[int]:
    """Where the segments after the first should begin, as sequence numbers, so that each
    of ``jobs`` processes (the first replaying from the start, each other folding up to
    its segment first) has about the same work."""
    first = entries * SKIM / (1 - (1 - SKIM) ** jobs)  # the first segment's length
    points, at = [], 0.0
    for _ in range(jobs - 1):
        at = first + (1 - SKIM) * at
        points.append(int(at) + 1)
    return points


@dataclass
class _Helper:
    at: int  # its segment's first entry
    pid: int
    out: IO[bytes]  # what it sends
    proc: subprocess.Popen[bytes] | None = None  # a new interpreter's (None: forked)

    def message(self) -> dict[str, Any] | None:
        """The helper's next line, or None when it ended or sent something else."""
        line = self.out.readline()
        try:
            message = json.loads(line) if line else None
        except ValueError:
            return None
        return message if isinstance(message, dict) else None

    def stop(self) -> None:
        """Kill it if it still runs, and reap it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=_STOP_S)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)  # prompt after a SIGKILL
        self.out.close()


class Split:
    """Helpers verifying the segments after the first of one stream; see the module."""

    def __init__(self, helpers: list[_Helper]) -> None:
        self.helpers = helpers
        self.at = helpers[0].at if helpers else 0  # where the caller hands over: the
        # second segment's start
        self.used = False  # whether the helpers' verdicts made the report

    @classmethod
    def start(cls, journal: Journal, process_id: str, jobs: int, *,
              allow_code_change: bool = False, key: Ed25519PublicKey | None = None,
              min_entries: int = MIN_ENTRIES, fork: bool | None = None) -> Split | None:
        """Start helpers for a split of the stream into up to ``jobs`` segments; None
        where it is not split (see the module). ``fork``: fork the helpers, or start new
        interpreters (default: fork where it is safe, :func:`_may_fork`)."""
        path = storable(journal) if not is_side_stream(process_id) else None
        head = journal.head(process_id) if path is not None else None
        if path is None or head is None or head.seq < min_entries or jobs < 2:
            return None
        starts: list[int] = []
        for target in cuts(head.seq, jobs):
            wakes = list(journal.read(process_id, EntryFilter(
                first_seq=max(target, starts[-1] + 1 if starts else 2), kinds=(WAKE,),
                limit=1)))
            if wakes:
                starts.append(wakes[0].seq)
        if not starts:
            return None
        args = [journal.url, path, process_id, "", "", "1" if allow_code_change else "",
                _public_hex(key)]
        fork = _may_fork(journal) if fork is None else fork and _may_fork(journal, threads=False)
        split = cls([])
        try:
            for at, end in zip(starts, [*starts[1:], 0], strict=True):
                args[3:5] = str(at), str(end)
                split.helpers.append(_fork(at, args) if fork else _spawn(at, args))
        except OSError:  # no process to be had (a limit, memory): one process verifies
            split.close()
            return None
        split.at = starts[0]
        return split

    def hand_over(self, check: StreamCheck) -> StreamReport | None:
        """At the second segment's first entry, with everything before it verified by
        ``check``: the stream's report from the helpers' verdicts, or None where they
        cannot be used (the caller replays on)."""
        try:
            return self._verdicts(check)
        except Exception:  # noqa: BLE001 - a state that cannot be pickled, a pipe that
            return None  # broke: no verdict, and the caller's replay decides

    def _verdicts(self, check: StreamCheck) -> StreamReport | None:
        from fund.verify import StreamReport

        core = check.replay.core
        if not check.replay.at_rest() or core is None:
            return None
        expected: dict[str, Any] | None = _boundary(check.start, check.last.hash,
                                                    check.previous, core.fingerprint())
        report = None
        for helper in self.helpers:
            if helper.message() != expected:
                return None
            verdict = helper.message() or {}
            try:
                report = StreamReport(check.process_id, int(verdict["seq"]),
                                      str(verdict["hash"]), verdict["error"], verdict["at"])
            except (KeyError, TypeError, ValueError):  # it ended before its verdict
                return None
            if not report.ok:
                break
            expected = verdict.get("end")
        self.used = report is not None
        return report

    def close(self) -> None:
        """Stop the helpers still running and wait for them (bounded)."""
        for helper in self.helpers:
            helper.stop()
        self.helpers = []


def _may_fork(journal: Journal, *, threads: bool = True) -> bool:
    """Whether helpers may be forked from this process, sharing the modules it has loaded
    instead of loading them again: only on Linux (macOS's system libraries are not safe
    to use in a forked child, which is why Python's multiprocessing spawns there), only
    from a single thread (a fork copies no other thread, and a lock another one held
    stays held), and only when this process has no SQLite connection open on the file
    (a connection must not cross a fork: the journal's are closed here, and it connects
    again when next used)."""
    from fund.journal.sqlite import SqliteJournal

    return sys.platform.startswith("linux") and \
        (not threads or threading.active_count() == 1) and \
        isinstance(journal, SqliteJournal) and journal.disconnect()


def _fork(at: int, args: list[str]) -> _Helper:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the helper: it never returns from here
        status = 1
        try:
            os.setsid()  # a Ctrl-C is the caller's, who stops its helpers
            os.close(read)
            quiet = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(quiet, fd)
            with os.fdopen(write, "w") as out:
                serve(*args, out=out)
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    return _Helper(at, pid, os.fdopen(read, "rb"))


def _spawn(at: int, args: list[str]) -> _Helper:
    proc = start_helper("fund.verify_split:serve", *args, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    return _Helper(at, proc.pid, proc.stdout, proc)


def _boundary(start: str, link: str, previous: Checkpoint | None,
              fingerprint: bytes) -> dict[str, Any]:
    """What two processes must agree on where a segment begins."""
    from fund.canonical import dumps

    return {"start": start, "link": link, "fingerprint": fingerprint.hex(),
            "previous": dumps(previous.to_payload()) if previous is not None else None}


def _public_hex(key: Ed25519PublicKey | None) -> str:
    if key is None:
        return ""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


@standard
def serve(url: str, path: str, process_id: str, at: str, end: str, allow_code_change: str,
          public: str, *, out: IO[str] = sys.stdout) -> None:
    """A helper's life: fold the entries before ``at``, send the boundary, verify the
    segment up to ``end`` (0: the stream's end) strictly and send the verdict. It sends
    nothing where it cannot (an entry the fold cannot read: the caller's replay says
    what is wrong there)."""
    from fund.actor import UNREAD, payload_of
    from fund.journal.base import Entry, entry_hash
    from fund.journal.sqlite import SqliteJournal
    from fund.messages import CHECKPOINT, Checkpoint
    from fund.replay import Replayer
    from fund.verify import StreamCheck, _chain

    first, stop = int(at), int(end)
    key = None
    if public:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))
    journal = SqliteJournal(url, path)
    check = StreamCheck(journal, process_id, allow_code_change=bool(allow_code_change),
                        key=key)
    start = next(journal.read(process_id, EntryFilter(last_seq=1)), None)
    before = next(journal.read(process_id, EntryFilter(first_seq=first - 1,
                                                       last_seq=first - 1)), None)
    if start is None or before is None or entry_hash(*start[:6]) != start.hash:
        return  # the chain check before this segment says where
    skim = Replayer(strict=False, decides=False)
    for seq, kind, text in journal.contents(process_id, first, UNREAD):
        payload = payload_of(kind, text)
        skim.feed(Entry(process_id, seq, kind, "", text, "", ""), payload)
        if kind == CHECKPOINT:
            check.previous = Checkpoint.from_payload(payload)
    core = skim.core
    if core is None:
        return
    check.replay.core, check.start, check.last = core, start.hash, before
    _send(out, _boundary(check.start, before.hash, check.previous, core.fingerprint()))
    where = EntryFilter(first_seq=first, last_seq=stop - 1 if stop else None)
    boundary = None
    try:
        for entry in _chain(journal.read(process_id, where), first, before.hash):
            check.feed(entry)
        if stop:
            if check.last.seq != stop - 1 or not check.replay.at_rest():
                return  # the next segment's helper cannot be used: no verdict
            boundary = _boundary(check.start, check.last.hash, check.previous,
                                 core.fingerprint())
        else:
            check.replay.finish(check.last.seq)
    except Exception as exc:  # noqa: BLE001 - reported as the sequential replay would
        failed = check.failed(exc)
        _send(out, {"seq": failed.entries, "hash": failed.head, "error": failed.error,
               "at": failed.seq})
        return
    _send(out, {"seq": check.last.seq, "hash": check.last.hash, "error": None, "at": None,
           "end": boundary})


def _send(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()

