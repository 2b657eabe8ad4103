"""Verification catches every single-entry tampering at that entry (property tests).

A short real backtest (W1 rules, three days, hourly) is written once to each durable
backend (SQLite, PostgreSQL); each example copies that journal, tampers with the copy's
tables directly (as an attacker with write access would), and runs the real verifier.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from fund.journal import open_journal
from fund.verify import StreamReport, verify_stream
from tests.conftest import run_fund
from tests.fixtures.journals import JournalUrls
from tests.fixtures.tamper import Row, backtest_journal, copy_journal, rehash_from, tampering
from tests.fixtures.tamper import rows as stream_rows

ACTOR = "rebalancer"


@pytest.fixture(scope="module")
def pristine(module_store_urls: JournalUrls,
             tmp_path_factory: pytest.TempPathFactory) -> str:
    return backtest_journal(module_store_urls("pristine"), tmp_path_factory.mktemp("pristine"))


def rows(db: str) -> list[Row]:
    return stream_rows(db, ACTOR)


def verify(db: str, head: str | None = None) -> StreamReport:
    journal = open_journal(db)
    try:
        return verify_stream(journal, ACTOR, head)
    finally:
        journal.close()


def copy(pristine: str, scratch_urls: JournalUrls, name: str) -> str:
    """Copy the pristine journal into a new one, to tamper with."""
    return copy_journal(pristine, scratch_urls(name))


def flip_digit(text: str) -> str:
    for index, char in enumerate(text):
        if char.isdigit():
            return text[:index] + str((int(char) + 1) % 10) + text[index + 1:]
    return text + " "


def test_the_pristine_journal_verifies(pristine: str) -> None:
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
        pristine: str, scratch_urls: JournalUrls, data: st.DataObject, field: str) -> None:
    db = copy(pristine, scratch_urls, "edit")
    seq = data.draw(st.integers(1, len(rows(db))), label="seq")
    with tampering(db) as conn:
        value = conn.execute(text(f"SELECT {field} FROM journal_entries WHERE seq = :seq"),
                             {"seq": seq}).scalar_one()
        conn.execute(text(f"UPDATE journal_entries SET {field} = :value WHERE seq = :seq"),
                     {"value": flip_digit(value) if field != "kind" else "Fill"
                      if value != "Fill" else "Wake", "seq": seq})

    report = verify(db)

    assert not report.ok
    assert report.seq == seq, report.error


@SETTINGS
@given(data=st.data())
def test_deleting_any_entry_fails_at_that_entry(pristine: str, scratch_urls: JournalUrls,
                                                data: st.DataObject) -> None:
    db = copy(pristine, scratch_urls, "delete")
    all_rows = rows(db)
    seq = data.draw(st.integers(1, len(all_rows)), label="seq")
    with tampering(db) as conn:
        conn.execute(text("DELETE FROM journal_entries WHERE seq = :seq"), {"seq": seq})

    report = verify(db, head=all_rows[-1][6])

    assert not report.ok
    # deleting the last entry leaves a valid shorter chain: only the published head shows it
    assert report.seq == (seq if seq < len(all_rows) else seq - 1), report.error


@SETTINGS
@given(data=st.data())
def test_swapping_two_neighbouring_entries_fails_at_the_first(
        pristine: str, scratch_urls: JournalUrls, data: st.DataObject) -> None:
    db = copy(pristine, scratch_urls, "swap")
    all_rows = rows(db)
    seq = data.draw(st.integers(1, len(all_rows) - 1), label="seq")
    first, second = all_rows[seq - 1], all_rows[seq]
    assume(first[2:5] != second[2:5])
    with tampering(db) as conn:
        for row, target in ((second, seq), (first, seq + 1)):
            conn.execute(text("UPDATE journal_entries SET kind = :kind, ts = :ts, "
                              "payload = :payload, prev_hash = :prev_hash, hash = :hash "
                              "WHERE seq = :seq"),
                         dict(zip(("kind", "ts", "payload", "prev_hash", "hash"), row[2:],
                                  strict=True), seq=target))

    report = verify(db)

    assert not report.ok
    assert report.seq == seq, report.error


@SETTINGS
@given(data=st.data())
def test_a_rewritten_chain_is_caught_by_replay_at_the_forged_output(
        pristine: str, scratch_urls: JournalUrls, data: st.DataObject) -> None:
    db = copy(pristine, scratch_urls, "forge")
    outputs = [r for r in rows(db) if r[2] in ("Decision", "OrderIntent", "Fill", "OrderAck",
                                                  "End")]
    target = data.draw(st.sampled_from(outputs), label="entry")
    seq = target[1]
    with tampering(db) as conn:
        conn.execute(text("UPDATE journal_entries SET payload = :payload WHERE seq = :seq"),
                     {"payload": flip_digit(target[4]), "seq": seq})
        rehash_from(conn, ACTOR, seq)

    report = verify(db)

    assert not report.ok
    assert report.seq == seq, report.error


def test_a_forged_observation_from_the_future_is_a_look_ahead(
        pristine: str, scratch_urls: JournalUrls) -> None:
    db = copy(pristine, scratch_urls, "future")
    observation = next(r for r in rows(db) if r[2] == "Observation")
    candle_time = observation[4].split('"time":"')[1][:11]
    future = observation[4].replace(f'"time":"{candle_time}', '"time":"2031-01-01T', 1)
    assert future != observation[4]
    with tampering(db) as conn:
        conn.execute(text("UPDATE journal_entries SET payload = :payload WHERE seq = :seq"),
                     {"payload": future, "seq": observation[1]})
        rehash_from(conn, ACTOR, observation[1])

    report = verify(db)

    assert not report.ok
    assert report.seq == observation[1]
    assert "look-ahead" in (report.error or "")


def test_the_cli_names_the_tampered_entry_and_exits_1(pristine: str,
                                                       scratch_urls: JournalUrls) -> None:
    db = copy(pristine, scratch_urls, "cli")
    with tampering(db) as conn:
        conn.execute(text("UPDATE journal_entries SET payload = payload || ' ' WHERE seq = 42"))

    result = run_fund("verify", db)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "fund: rebalancer: FAILED at entry 42: content does not match its hash (altered)"]
