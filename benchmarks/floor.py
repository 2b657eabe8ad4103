"""The floor: what recording a journal's entries costs at the least, in plain Python.

A loop that canonically encodes each payload (``fund.canonical.dumps``, the journal's own
encoder, so the bytes are the journal's), sha256-chains the entries
(``fund.journal.base.entry_hash``) and inserts them into a new SQLite file in one
transaction (``executemany``). The entries are those of a journal a backtest wrote — kind,
time and payload, decoded back to Python values before the clock starts — so the floor
records exactly what the backtest recorded, with nothing else around it.

    python benchmarks/floor.py JOURNAL.db [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fund.canonical import dumps, loads  # noqa: E402
from fund.journal.base import GENESIS_HASH, entry_hash  # noqa: E402

SCHEMA = ("CREATE TABLE journal_entries (process_id VARCHAR(128) NOT NULL, seq BIGINT NOT NULL,"
          " kind VARCHAR(40) NOT NULL, ts VARCHAR(32) NOT NULL, payload TEXT NOT NULL,"
          " prev_hash VARCHAR(64) NOT NULL, hash VARCHAR(64) NOT NULL,"
          " PRIMARY KEY (process_id, seq))")
INSERT = "INSERT INTO journal_entries VALUES (?, ?, ?, ?, ?, ?, ?)"


class Item(NamedTuple):
    """One entry to record: its stream, kind, time and payload as Python values."""

    process_id: str
    kind: str
    ts: str
    payload: Any


def read_items(journal: Path) -> tuple[list[Item], list[str]]:
    """The entries of a SQLite journal in stream order, payloads decoded; and their stored
    payload texts (to check that the floor's encoding gives the same bytes)."""
    with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db, db:
        rows = db.execute("SELECT process_id, kind, ts, payload FROM journal_entries "
                          "ORDER BY process_id, seq").fetchall()
    return [Item(p, k, t, loads(text)) for p, k, t, text in rows], [r[3] for r in rows]


def record(items: Sequence[Item], path: Path) -> tuple[float, list[str]]:
    """Encode, chain and insert ``items`` into a new SQLite file in one transaction; return
    the seconds it took (connection and table creation excluded) and the head hashes."""
    db = sqlite3.connect(path)
    db.execute(SCHEMA)
    db.commit()
    started = time.perf_counter()
    heads: dict[str, tuple[int, str]] = {}
    rows = []
    for process_id, kind, ts, payload in items:
        seq, prev = heads.get(process_id, (0, GENESIS_HASH))
        seq += 1
        text = dumps(payload)
        digest = entry_hash(process_id, seq, kind, ts, text, prev)
        rows.append((process_id, seq, kind, ts, text, prev, digest))
        heads[process_id] = (seq, digest)
    with db:
        db.executemany(INSERT, rows)
    seconds = time.perf_counter() - started
    db.close()
    return seconds, [digest for _, digest in heads.values()]


def heads(journal: Path) -> list[str]:
    """The head hash of every stream of a SQLite journal."""
    with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db, db:
        return [digest for (digest,) in db.execute(
            "SELECT hash FROM journal_entries AS e WHERE seq = (SELECT max(seq) FROM "
            "journal_entries WHERE process_id = e.process_id)")]


def same_bytes(items: Sequence[Item], stored: Sequence[str]) -> bool:
    """Whether the canonical encoding of every decoded payload is the stored text."""
    return all(dumps(item.payload) == text for item, text in zip(items, stored, strict=True))


def floor_seconds(journal: Path, runs: int = 3) -> tuple[float, int]:
    """The floor loop over a journal's entries, ``runs`` times: (median seconds, entries).

    Stops if the floor's encoding or chain differs from the journal's: it must record the
    very same bytes.
    """
    items, stored = read_items(journal)
    if not same_bytes(items, stored):
        raise SystemExit(f"{journal}: re-encoding a payload does not give its stored bytes")
    times = []
    with tempfile.TemporaryDirectory(prefix="agentfund-floor-") as tmp:
        for number in range(runs):
            seconds, floor_heads = record(items, Path(tmp) / f"floor-{number}.db")
            times.append(seconds)
    if sorted(floor_heads) != sorted(heads(journal)):
        raise SystemExit(f"{journal}: the floor's chain does not reach the journal's heads")
    return statistics.median(times), len(items)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("journal", type=Path, help="a SQLite journal a backtest wrote")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    seconds, entries = floor_seconds(args.journal, args.runs)
    if args.json:
        print(json.dumps({"seconds": seconds, "entries": entries}))
        return 0
    print(f"floor: {entries:,} entries encoded, chained and inserted in {seconds:.3f} s "
          f"(median of {args.runs}) = {entries / seconds:,.0f} entries/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
