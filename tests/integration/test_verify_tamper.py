"""Verification catches every single-entry tampering at that entry (property tests).

A short real backtest (W1 rules, three days, hourly) is written to SQLite once; each
example copies the database, tampers with it through sqlite3 directly (as an attacker
with write access would), and runs the real verifier.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fund.journal import open_journal
from fund.journal.base import entry_hash
from fund.verify import StreamReport, verify_stream
from tests.conftest import EXAMPLES, run_fund

ACTOR = "rebalancer"
COLUMNS = "process_id, seq, kind, ts, payload, prev_hash, hash"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pristine")
    result = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), "--out", str(out),
                      "--start", "2024-03-01", "--end", "2024-03-03", "--no-report", "--json")
    assert result.returncode == 0, result.stderr
    return out / "journal.db"


def rows(db: Path) -> list[tuple[str, int, str, str, str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT {COLUMNS} FROM journal_entries ORDER BY seq").fetchall()


def verify(db: Path, head: str | None = None) -> StreamReport:
    journal = open_journal(f"sqlite:///{db}")
    try:
        return verify_stream(journal, ACTOR, head)
    finally:
        journal.close()


def copy(pristine: Path, tmp_path: Path, name: str) -> Path:
    """Copy the journal to a new file (unique: SQLite would apply a stale -wal beside it)."""
    target = tmp_path / f"{name}-{uuid.uuid4().hex}.db"
    shutil.copy(pristine, target)
    return target


def flip_digit(text: str) -> str:
    for index, char in enumerate(text):
        if char.isdigit():
            return text[:index] + str((int(char) + 1) % 10) + text[index + 1:]
    return text + " "


def test_the_pristine_journal_verifies(pristine: Path) -> None:
    all_rows = rows(pristine)
    report = verify(pristine, head=all_rows[-1][6])
    assert report.ok, report.error
    assert report.entries == len(all_rows) > 200
    assert {"Fill", "OrderIntent", "Decision", "End"} <= {r[2] for r in all_rows}


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(data=st.data(), field=st.sampled_from(["kind", "ts", "payload", "prev_hash", "hash"]))
def test_editing_any_field_of_any_entry_fails_at_that_entry(
        pristine: Path, tmp_path: Path, data: st.DataObject, field: str) -> None:
    db = copy(pristine, tmp_path, "edit")
    seq = data.draw(st.integers(1, len(rows(db))), label="seq")
    with sqlite3.connect(db) as conn:
        (value,) = conn.execute(f"SELECT {field} FROM journal_entries WHERE seq = ?",
                                (seq,)).fetchone()
        conn.execute(f"UPDATE journal_entries SET {field} = ? WHERE seq = ?",
                     (flip_digit(value) if field != "kind" else "Fill" if value != "Fill"
                      else "Wake", seq))

    report = verify(db)

    assert not report.ok
    assert report.seq == seq, report.error


@SETTINGS
@given(data=st.data())
def test_deleting_any_entry_fails_at_that_entry(pristine: Path, tmp_path: Path,
                                                data: st.DataObject) -> None:
    db = copy(pristine, tmp_path, "delete")
    all_rows = rows(db)
    seq = data.draw(st.integers(1, len(all_rows)), label="seq")
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM journal_entries WHERE seq = ?", (seq,))

    report = verify(db, head=all_rows[-1][6])

    assert not report.ok
    # deleting the last entry leaves a valid shorter chain: only the published head shows it
    assert report.seq == (seq if seq < len(all_rows) else seq - 1), report.error


@SETTINGS
@given(data=st.data())
def test_swapping_two_neighbouring_entries_fails_at_the_first(pristine: Path, tmp_path: Path,
                                                              data: st.DataObject) -> None:
    db = copy(pristine, tmp_path, "swap")
    all_rows = rows(db)
    seq = data.draw(st.integers(1, len(all_rows) - 1), label="seq")
    first, second = all_rows[seq - 1], all_rows[seq]
    assume(first[2:5] != second[2:5])
    with sqlite3.connect(db) as conn:
        for row, target in ((second, seq), (first, seq + 1)):
            conn.execute("UPDATE journal_entries SET kind = ?, ts = ?, payload = ?, "
                         "prev_hash = ?, hash = ? WHERE seq = ?", (*row[2:], target))

    report = verify(db)

    assert not report.ok
    assert report.seq == seq, report.error


def rehash_from(conn: sqlite3.Connection, seq: int) -> None:
    """Recompute every hash from ``seq`` on, as an attacker rewriting the chain would."""
    prev = conn.execute("SELECT hash FROM journal_entries WHERE seq = ?", (seq - 1,)).fetchone()
    prev_hash = prev[0] if prev else "0" * 64
    for pid, s, kind, ts, payload in conn.execute(
            "SELECT process_id, seq, kind, ts, payload FROM journal_entries WHERE seq >= ? "
            "ORDER BY seq", (seq,)).fetchall():
        digest = entry_hash(pid, s, kind, ts, payload, prev_hash)
        conn.execute("UPDATE journal_entries SET prev_hash = ?, hash = ? WHERE seq = ?",
                     (prev_hash, digest, s))
        prev_hash = digest


@SETTINGS
@given(data=st.data())
def test_a_rewritten_chain_is_caught_by_replay_at_the_forged_output(
        pristine: Path, tmp_path: Path, data: st.DataObject) -> None:
    db = copy(pristine, tmp_path, "forge")
    outputs = [r for r in rows(db) if r[2] in ("Decision", "OrderIntent", "Fill", "OrderAck",
                                                  "End")]
    target = data.draw(st.sampled_from(outputs), label="entry")
    seq = target[1]
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE journal_entries SET payload = ? WHERE seq = ?",
                     (flip_digit(target[4]), seq))
        rehash_from(conn, seq)

    report = verify(db)

    assert not report.ok
    assert report.seq == seq, report.error


def test_a_forged_observation_from_the_future_is_a_look_ahead(pristine: Path,
                                                                tmp_path: Path) -> None:
    db = copy(pristine, tmp_path, "future")
    observation = next(r for r in rows(db) if r[2] == "Observation")
    candle_time = observation[4].split('"time":"')[1][:11]
    future = observation[4].replace(f'"time":"{candle_time}', '"time":"2031-01-01T', 1)
    assert future != observation[4]
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE journal_entries SET payload = ? WHERE seq = ?",
                     (future, observation[1]))
        rehash_from(conn, observation[1])

    report = verify(db)

    assert not report.ok
    assert report.seq == observation[1]
    assert "look-ahead" in (report.error or "")


def test_the_cli_names_the_tampered_entry_and_exits_1(pristine: Path, tmp_path: Path) -> None:
    db = copy(pristine, tmp_path, "cli")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE journal_entries SET payload = payload || ' ' WHERE seq = 42")

    result = run_fund("verify", str(db))

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "fund: rebalancer: FAILED at entry 42: content does not match its hash (altered)"]
