"""Appends to a journal are atomic when the writing process is SIGKILLed.

A child process appends batches of 1..5000 entries in a loop; the test kills it at a
random moment, checks the stored stream, and starts it again on the same journal (it
resumes from the stored head). Payloads follow from the sequence number, so a torn or
misplaced entry shows up as a payload that differs from what the writer would have
written. Runs on SQLite and on PostgreSQL: on either, a killed writer must leave no part
of a batch behind.
"""

from __future__ import annotations

import inspect
import os
import random
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fund.canonical import loads
from fund.journal import GENESIS_HASH, Journal, open_journal

# timing-sensitive (SIGKILL windows on a real clock): run alone, not beside other tests
# under pytest-xdist (make test runs the "serial" ones after the rest)
pytestmark = pytest.mark.serial

PID = "crash-writer"
ROOT = Path(__file__).resolve().parents[2]
MIN_KILLS = 15
MAX_KILLS = 40
COMMIT_DELAY = 0.04
TIME_BUDGET = 17.0  # seconds of kill rounds after MIN_KILLS, to find an in-flight kill


def payload_for(seq: int) -> dict[str, Any]:
    """Return the payload the writer stores at ``seq`` (of a size that varies with seq)."""
    size = (seq * 7919) % 1500
    return {"seq": seq, "pad": ("0123456789abcdef" * 94)[:size], "tag": f"é✓{seq % 97}"}


def kind_for(seq: int) -> str:
    """Return the kind the writer stores at ``seq``."""
    return ("Wake", "Observation", "Decision")[seq % 3]


def ts_for(seq: int) -> str:
    """Return the timestamp the writer stores at ``seq``."""
    return f"2024-01-01T00:00:00.{seq % 1_000_000:06d}Z"


SCRIPT = f'''
from __future__ import annotations
import math
import random
import sys
import time
from typing import Any

from sqlalchemy import event

from fund.journal import JournalWriter, open_journal

{inspect.getsource(payload_for)}
{inspect.getsource(kind_for)}
{inspect.getsource(ts_for)}

journal = open_journal(sys.argv[1])
engine = getattr(journal, "_engine", None)
if engine is not None:
    # A slow disk: each commit waits (inside its transaction, after the INSERTs), so kills
    # often land between the INSERT and the COMMIT, and the stream grows slowly enough to
    # be re-read whole after every kill.
    event.listen(engine, "commit", lambda conn: time.sleep({COMMIT_DELAY}))
writer = JournalWriter(journal, {PID!r}, batch_size=10**9)
print("ready", writer.last_seq, flush=True)
rng = random.Random(writer.last_seq)
while True:
    first = writer.last_seq + 1
    size = min(5000, int(math.exp(rng.uniform(0, math.log(5001)))))  # 1..5000, log-uniform
    for seq in range(first, first + size):
        writer.append(kind_for(seq), ts_for(seq), payload_for(seq))
    print("batch", first, writer.last_seq, flush=True)
    writer.flush()
    print("done", writer.last_seq, flush=True)
'''


@dataclass
class Run:
    """What one child reported before it was killed."""

    ready_head: int
    batches: list[tuple[int, int]] = field(default_factory=list)
    done: list[int] = field(default_factory=list)

    @classmethod
    def parse(cls, output: bytes) -> Run:
        """Parse the child's complete output lines."""
        lines = output.decode().split("\n")[:-1]  # the last piece may be a partial line
        words = [line.split() for line in lines]
        assert words and words[0][0] == "ready", output[:200]
        run = cls(ready_head=int(words[0][1]))
        for word in words[1:]:
            if word[0] == "batch":
                run.batches.append((int(word[1]), int(word[2])))
            elif word[0] == "done":
                run.done.append(int(word[1]))
        return run

    def acknowledged(self) -> int:
        """Return the last seq the child saw committed (its starting head if none)."""
        return self.done[-1] if self.done else self.ready_head

    def in_flight(self) -> tuple[int, int] | None:
        """Return the batch whose flush was under way when the child died, if any."""
        if self.batches and (not self.done or self.done[-1] != self.batches[-1][1]):
            return self.batches[-1]
        return None


def wait_ready(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """Read the child's stdout until its first line (ready); return what was read."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "the writer did not start in time"
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            chunk = os.read(fd, 65536)
            assert chunk, f"the writer exited early (code {proc.wait()})"
            data += chunk
    return data


def check_stream(journal: Journal) -> int:
    """Check the whole stored stream: gapless, linked, hashed, payloads whole; return head."""
    prev = GENESIS_HASH
    seq = 0
    for seq, entry in enumerate(journal.read(PID), start=1):
        assert entry.seq == seq, f"gap: expected seq {seq}, found {entry.seq}"
        assert entry.prev_hash == prev, f"entry {seq} is not linked to its predecessor"
        assert entry.expected_hash() == entry.hash, f"entry {seq} does not match its hash"
        assert entry.kind == kind_for(seq)
        assert entry.ts == ts_for(seq)
        assert loads(entry.payload) == payload_for(seq), f"entry {seq} has a torn payload"
        prev = entry.hash
    head = journal.head(PID)
    assert (head.seq if head else 0) == seq
    return seq


def kill_round(script: Path, url: str, wait: float, log: Path) -> Run:
    """Start the writer, let it run ``wait`` seconds after it is ready, SIGKILL it."""
    with log.open("ab") as stderr:
        proc = subprocess.Popen([sys.executable, str(script), url], stdout=subprocess.PIPE,
                                stderr=stderr, bufsize=0, cwd=ROOT)
    try:
        output = wait_ready(proc, timeout=30)
        time.sleep(wait)
        assert proc.poll() is None, f"the writer died on its own: {log.read_text()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        assert proc.stdout is not None
        output += proc.stdout.read()
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    return Run.parse(output)


def test_appends_are_atomic_under_sigkill(tmp_path: Path, store_url: str) -> None:
    script = tmp_path / "writer.py"
    script.write_text(SCRIPT, encoding="utf-8")
    url = store_url
    rng = random.Random(20240101)
    heads = [0]
    in_flight_kills = 0
    started = time.monotonic()

    kills = 0
    while kills < MIN_KILLS or (in_flight_kills == 0 and kills < MAX_KILLS
                                and time.monotonic() - started < TIME_BUDGET):
        run = kill_round(script, url, rng.uniform(0.05, 0.6), tmp_path / "writer.log")
        kills += 1

        journal = open_journal(url, must_exist=True)
        try:
            head = check_stream(journal)
        finally:
            journal.close()

        assert run.ready_head == heads[-1], "the writer did not resume from the stored head"
        if run.batches:
            assert run.batches[0][0] == heads[-1] + 1
        pending = run.in_flight()
        allowed = {run.acknowledged()} | ({pending[1]} if pending else set())
        assert head in allowed, (f"kill {kills}: head {head}, but a whole batch ends at one "
                                 f"of {sorted(allowed)}")
        in_flight_kills += pending is not None
        heads.append(head)

    assert heads[-1] > 0, "nothing was ever written"
    assert len(set(heads)) >= 3, f"the stream barely grew across the kills: {heads}"
    assert in_flight_kills > 0, "no kill landed during a flush; the test proved nothing"
