"""Projection checkpoints (fund/projection_store.py): a read of the checkpoint plus the entries
after it folds to exactly what a full fold gives, and a checkpoint that does not match the
journal is discarded with a message, never trusted.

A short real backtest (W1 rules, three days, hourly) is written once to each durable backend
(SQLite, PostgreSQL); each test copies it and checkpoints, appends, forges or rewrites the
copy as it needs.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

import fund.monitor.store as store
from fund import projection_store
from fund.canonical import loads
from fund.commands.operate import StatusFold, status_fold
from fund.journal import EntryFilter, Journal, open_journal
from fund.monitor.snapshot import ActorSnapshot, advance
from fund.verify import verify_stream
from tests.fixtures.journals import JournalUrls
from tests.fixtures.tamper import backtest_journal, copy_journal, forge, rows, tampering

ACTOR = "rebalancer"


@pytest.fixture(scope="module")
def pristine(module_store_urls: JournalUrls,
             tmp_path_factory: pytest.TempPathFactory) -> str:
    return backtest_journal(module_store_urls("pristine"), tmp_path_factory.mktemp("pristine"))


@contextmanager
def opened(url: str) -> Iterator[Journal]:
    journal = open_journal(url)
    try:
        yield journal
    finally:
        store.forget(journal)
        journal.close()


def full_fold(journal: Journal) -> ActorSnapshot:
    """The reference: every entry folded from the first, no checkpoint involved."""
    snap = ActorSnapshot(actor=ACTOR)
    advance(journal, snap)
    return snap


def same(a: object, b: object, classes: dict[str, type] = store.CLASSES) -> bool:
    """Equal folded states: every field of every object, as the checkpoint would keep it."""
    return projection_store.encode(a, classes) == projection_store.encode(b, classes)


def checkpoint_at(journal: Journal, seq: int) -> ActorSnapshot:
    """Fold the first ``seq`` entries and keep them as the actor's checkpoint."""
    snap = ActorSnapshot(actor=ACTOR)
    advance(journal, snap, limit=seq)
    assert snap.seq == seq and snap.trusted
    store.keep(journal, snap)
    return snap


def reopened(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> tuple[ActorSnapshot, int]:
    """The snapshot as a new process gets it, and how many entries it folded to get it."""
    store.forget(journal)  # this process's memo only: the checkpoint stays
    folded: list[int] = []

    def counting(*args: object, **kwargs: object) -> int:
        read = advance(*args, **kwargs)  # type: ignore[arg-type]
        folded.append(read)
        return read

    monkeypatch.setattr(store, "advance", counting)
    snap = store.snapshot(journal, ACTOR)
    monkeypatch.setattr(store, "advance", advance)
    return snap, sum(folded)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_checkpoint_plus_the_entries_after_it_equals_a_full_fold(
        pristine: str, scratch_urls: JournalUrls, monkeypatch: pytest.MonkeyPatch,
        where: str) -> None:
    url = copy_journal(pristine, scratch_urls("copy"))
    total = len(rows(url, ACTOR))
    seq = {"first": 1, "middle": total // 2, "last": total}[where]
    with opened(url) as journal:
        head_before = journal.head(ACTOR)
        checkpoint_at(journal, seq)
        with tampering(url) as conn:  # in the journal's own database, beside its entries
            assert conn.execute(text("SELECT seq FROM projection_checkpoints WHERE "
                                     "process_id = :p AND name LIKE 'monitor@%'"),
                                {"p": ACTOR}).scalar() == seq
        snap, folded = reopened(journal, monkeypatch)
        reference = full_fold(journal)
        assert folded == total - seq  # only the entries after the checkpoint were read
        assert same(snap, reference) and snap.trusted
        assert snap.nav() == reference.nav() and snap.seq == total
        assert snap.series.nav == reference.series.nav
        # the checkpoint is not a journal entry: the chain and its head are unchanged
        assert journal.head(ACTOR) == head_before
        assert verify_stream(journal, ACTOR, head_before.hash).ok  # type: ignore[union-attr]


def test_entries_appended_after_the_checkpoint_are_folded(
        pristine: str, scratch_urls: JournalUrls, monkeypatch: pytest.MonkeyPatch) -> None:
    url = copy_journal(pristine, scratch_urls("copy"))
    every = rows(url, ACTOR)
    cut = len(every) * 2 // 3
    with tampering(url) as conn:  # the journal as it stood when the checkpoint was written
        conn.execute(text("DELETE FROM journal_entries WHERE process_id = :p AND seq > :s"),
                     {"p": ACTOR, "s": cut})
    with opened(url) as journal:
        assert store.snapshot(journal, ACTOR).seq == cut
        store.keep(journal, store.snapshot(journal, ACTOR))
    with tampering(url) as conn:  # ...then the daemon went on writing
        conn.execute(text("INSERT INTO journal_entries (process_id, seq, kind, ts, payload, "
                          "prev_hash, hash) VALUES (:p, :seq, :kind, :ts, :payload, :prev, "
                          ":hash)"),
                     [dict(zip(("p", "seq", "kind", "ts", "payload", "prev", "hash"), row,
                               strict=True)) for row in every[cut:]])
    with opened(url) as journal:
        snap, folded = reopened(journal, monkeypatch)
        assert folded == len(every) - cut
        assert same(snap, full_fold(journal)) and snap.seq == len(every)


def test_a_checkpoint_of_a_rewritten_history_is_discarded_with_a_message(
        pristine: str, scratch_urls: JournalUrls, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    url = copy_journal(pristine, scratch_urls("copy"))
    every = rows(url, ACTOR)
    seq = len(every) - 5
    fill = next(r for r in every if r[2] == "Fill" and r[1] < seq)
    with opened(url) as journal:
        checkpoint_at(journal, seq)
    payload = loads(fill[4])
    payload["price"] = str(float(payload["price"]) * 2)
    forge(url, ACTOR, fill[1], payload)  # rewritten and re-chained: entry `seq` changes hash
    with opened(url) as journal, caplog.at_level(logging.WARNING, "fund.projections"):
        snap, folded = reopened(journal, monkeypatch)
        message = store.note(journal, ACTOR)
        assert message is not None and "\n" not in message
        assert f"checkpoint at entry {seq} discarded" in message
        assert "rewritten history" in message and message in caplog.text
        assert folded == len(every)  # a full refold
        assert same(snap, full_fold(journal))
        lines: list[str] = []
        assert projection_store.load(journal, ACTOR, store.NAME, store.KEY, store.CLASSES,
                                     lines.append) is None and not lines  # it was removed


def test_a_checkpoint_of_another_fold_version_is_discarded(
        pristine: str, scratch_urls: JournalUrls) -> None:
    url = copy_journal(pristine, scratch_urls("copy"))
    with opened(url) as journal:
        snap = full_fold(journal)
        projection_store.save(journal, ACTOR, store.NAME, "another-version", store.CLASSES,
                              snap.seq, snap.head_hash, snap)
        lines: list[str] = []
        assert projection_store.load(journal, ACTOR, store.NAME, store.KEY, store.CLASSES,
                                     lines.append) is None
        assert lines and "another version of the fold" in lines[0]
        assert projection_store.load(journal, ACTOR, store.NAME, "another-version",
                                     store.CLASSES) is None  # discarded, not kept


def test_a_chain_broken_after_the_checkpoint_is_reported_not_folded(
        pristine: str, scratch_urls: JournalUrls, monkeypatch: pytest.MonkeyPatch) -> None:
    url = copy_journal(pristine, scratch_urls("copy"))
    every = rows(url, ACTOR)
    seq = len(every) // 2
    with opened(url) as journal:
        checkpoint_at(journal, seq)
    with tampering(url) as conn:  # an entry after the checkpoint edited, not re-chained
        conn.execute(text("UPDATE journal_entries SET ts = :ts WHERE process_id = :p AND "
                          "seq = :s"), {"ts": every[seq + 3][3][:-2] + "9Z", "p": ACTOR,
                                        "s": seq + 4})
    with opened(url) as journal:
        snap, _ = reopened(journal, monkeypatch)
        reference = full_fold(journal)
        assert not snap.trusted and snap.seq == seq + 3 == reference.seq
        assert snap.chain_error == reference.chain_error
        assert same(snap, reference)


def test_an_empty_journal_and_an_empty_stream(scratch_urls: JournalUrls) -> None:
    with opened(scratch_urls("empty")) as journal:
        snap = store.snapshot(journal, ACTOR)
        assert snap.seq == 0 and snap.trusted and snap.ledger is None
        assert not projection_store.save(journal, ACTOR, store.NAME, store.KEY, store.CLASSES,
                                         0, snap.head_hash, snap)
        assert projection_store.load(journal, ACTOR, store.NAME, store.KEY,
                                     store.CLASSES) is None
        fold = status_fold(journal, ACTOR, save_after=0)
        assert same(fold, StatusFold(), _status_classes())


def _status_classes() -> dict[str, type]:
    from fund.commands.operate import _CLASSES

    return _CLASSES


def test_fund_status_folds_from_its_checkpoint_and_discards_a_stale_one(
        pristine: str, scratch_urls: JournalUrls, caplog: pytest.LogCaptureFixture) -> None:
    url = copy_journal(pristine, scratch_urls("copy"))
    every = rows(url, ACTOR)
    with opened(url) as journal:
        first = status_fold(journal, ACTOR, save_after=1)  # full, then checkpointed
        found = projection_store.load(journal, ACTOR, "status", _key(), _status_classes())
        assert found is not None and found.seq == len(every)
        again = status_fold(journal, ACTOR)  # from the checkpoint, nothing after it
        assert same(first, again, _status_classes()) and again.intact
    fill = next(r for r in every if r[2] == "Fill")
    payload = loads(fill[4])
    payload["amount"] = str(float(payload["amount"]) / 2)
    forge(url, ACTOR, fill[1], payload)
    with opened(url) as journal, caplog.at_level(logging.WARNING, "fund.projections"):
        reference = StatusFold()
        for entry in journal.read(ACTOR):
            reference.apply(entry)
        forged = status_fold(journal, ACTOR)
        assert f"checkpoint at entry {len(every)} discarded" in caplog.text
        assert same(forged, reference, _status_classes())
        assert not same(forged, first, _status_classes())


def test_fund_status_starts_from_the_uis_checkpoint_where_it_has_none_of_its_own(
        pristine: str, scratch_urls: JournalUrls, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the UI's checkpoint at the head (as a backtest leaves it) and none of fund
    status's, status reads no entry and shows what a fold of every entry shows. With the
    UI's checkpoint some entries behind the head, it folds only those. It reads the UI's
    only where it would fold more entries than a checkpoint is kept for (SAVE_AFTER, 10
    here for this short journal): a few entries after its own are folded."""
    monkeypatch.setattr(projection_store, "SAVE_AFTER", 10)
    url = copy_journal(pristine, scratch_urls("copy"))  # (entries only: no checkpoint)
    every = rows(url, ACTOR)
    folded: list[int] = []
    apply = StatusFold.apply

    def counted(self: StatusFold, entry: object) -> None:
        folded.append(1)
        apply(self, entry)  # type: ignore[arg-type]

    with opened(url) as journal:
        store.keep(journal, full_fold(journal))
        assert projection_store.load(journal, ACTOR, "status", _key(),
                                     _status_classes()) is None
        reference = StatusFold()
        for entry in journal.read(ACTOR):
            reference.apply(entry)
        monkeypatch.setattr(StatusFold, "apply", counted)
        shown = status_fold(journal, ACTOR)
        assert folded == [] and same(shown, reference, _status_classes())
        assert shown.seq == len(every) and shown.intact and shown.problem is None
        own = projection_store.load(journal, ACTOR, "status", _key(), _status_classes())
        assert own is not None and own.seq == len(every)  # the next start reads its own
        assert same(status_fold(journal, ACTOR), reference, _status_classes())
        projection_store.discard(journal, ACTOR, "status")
        early = ActorSnapshot(actor=ACTOR)  # the UI's checkpoint 40 entries before the head
        advance(journal, early, limit=len(every) - 40)
        store.keep(journal, early)
        shown = status_fold(journal, ACTOR, save_after=10**9)
        assert len(folded) == 40 and same(shown, reference, _status_classes())
        assert shown.seq == len(every)
        # its own checkpoint behind the head, the UI's at it (a daemon keeps the UI's as
        # it writes): the UI's is read, nothing folded
        behind = StatusFold()
        for entry in journal.read(ACTOR, EntryFilter(last_seq=len(every) - 40)):
            apply(behind, entry)
        projection_store.save(journal, ACTOR, "status", _key(), _status_classes(),
                              behind.seq, behind.head_hash, behind)
        store.keep(journal, full_fold(journal))
        del folded[:]
        shown = status_fold(journal, ACTOR)
        assert folded == [] and same(shown, reference, _status_classes())
        own = projection_store.load(journal, ACTOR, "status", _key(), _status_classes())
        assert own is not None and own.seq == len(every)  # and it keeps that as its own
        # its own 5 entries behind (not more than SAVE_AFTER): those 5 are folded
        behind = StatusFold()
        for entry in journal.read(ACTOR, EntryFilter(last_seq=len(every) - 5)):
            apply(behind, entry)
        projection_store.save(journal, ACTOR, "status", _key(), _status_classes(),
                              behind.seq, behind.head_hash, behind)
        del folded[:]
        shown = status_fold(journal, ACTOR)
        assert len(folded) == 5 and same(shown, reference, _status_classes())


def _key() -> str:
    from fund.commands.operate import _status_key

    return _status_key()


def test_the_codec_builds_only_plain_values_and_the_folds_classes() -> None:
    three_bytes = base64.b64encode(zlib.compress(b"abc")).decode()
    for bad in (b'{"$c":"Popen","f":{}}', b'{"$x":1}', b'{"a":1}', b"not json",
                b'{"$a":"AAAA"}', f'{{"$a":"{three_bytes}"}}'.encode(),
                b'{"$c":"Controls","f":{"paused":true,"os":1}}'):
        with pytest.raises(ValueError):
            projection_store.decode(bad, store.CLASSES)


def test_the_sqlite_table_is_the_sqlmodel_one(tmp_path: Path) -> None:
    """A plain SQLite file is served through sqlite3, PostgreSQL through SQLAlchemy: the
    same table either way, so each reads what the other wrote."""
    from sqlalchemy import create_engine

    from fund.projection_table import TABLE

    engine = create_engine(f"sqlite:///{tmp_path / 'sqlmodel.db'}")
    TABLE.create(engine)
    engine.dispose()
    with sqlite3.connect(tmp_path / "sqlmodel.db") as db:
        (made,) = db.execute("SELECT sql FROM sqlite_master WHERE name = "
                             "'projection_checkpoints'").fetchone()
    assert projection_store.SQLITE_DDL.replace("IF NOT EXISTS ", "") == made


def test_a_journal_without_a_database_keeps_its_checkpoint_in_the_cache(
        pristine: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A bundle or a JSON-lines export cannot hold the table: the checkpoint is a file under
    $AGENTFUND_CACHE/projections, checked the same way. A journal in memory keeps none:
    nothing it could serve outlives the process."""
    from fund.journal import Batch, MemoryJournal
    from fund.journal.jsonl import JsonlJournal
    from tests.conftest import run_fund

    monkeypatch.setenv("AGENTFUND_CACHE", str(tmp_path / "cache"))
    exported = run_fund("journal", "export", pristine, "--actor", ACTOR)
    assert exported.returncode == 0, exported.stderr
    (tmp_path / "export.jsonl").write_text(exported.stdout, encoding="utf-8")
    journal = JsonlJournal(tmp_path / "export.jsonl")
    checkpoint_at(journal, 40)
    kept = tmp_path / "cache" / "projections"
    assert [p.name.split(".")[1] for p in kept.iterdir()] == [
        projection_store._filed("monitor", projection_store.local_key() or b"")]
    snap, folded = reopened(journal, monkeypatch)
    assert folded == journal.count(ACTOR) - 40 and same(snap, full_fold(journal))
    store.forget(journal, disk=True)  # "Re-read from the journal": the file goes too
    assert not list(kept.iterdir())

    memory = MemoryJournal("memory://checkpoint-file")
    memory.append(Batch(entries=list(journal.read(ACTOR))))
    snap = full_fold(memory)
    assert not projection_store.save(memory, ACTOR, store.NAME, store.KEY, store.CLASSES,
                                     snap.seq, snap.head_hash, snap)
    assert not list(kept.iterdir())


def test_fund_status_refolds_when_the_chain_breaks_after_its_checkpoint(
        pristine: str, scratch_urls: JournalUrls, caplog: pytest.LogCaptureFixture) -> None:
    url = copy_journal(pristine, scratch_urls("copy"))
    every = rows(url, ACTOR)
    cut = len(every) // 2
    with opened(url) as journal:
        fold = StatusFold()
        for entry in journal.read(ACTOR):
            if entry.seq > cut:
                break
            fold.apply(entry)
        projection_store.save(journal, ACTOR, "status", _key(), _status_classes(), fold.seq,
                              fold.head_hash, fold)
    with tampering(url) as conn:  # an entry after the checkpoint edited, not re-chained
        conn.execute(text("UPDATE journal_entries SET ts = :ts WHERE process_id = :p AND "
                          "seq = :s"), {"ts": every[cut + 1][3][:-2] + "9Z", "p": ACTOR,
                                        "s": cut + 2})
    with opened(url) as journal, caplog.at_level(logging.WARNING, "fund.projections"):
        reference = StatusFold()
        for entry in journal.read(ACTOR):
            reference.apply(entry)  # today's fold: every entry, whatever the chain
        shown = status_fold(journal, ACTOR, save_after=1)
        assert f"entry {cut + 2} is off the hash chain" in caplog.text
        assert same(shown, reference, _status_classes()) and not shown.intact
        assert projection_store.load(journal, ACTOR, "status", _key(),
                                     _status_classes()) is None  # and none kept since


def test_a_checkpoint_made_elsewhere_or_altered_is_never_read(
        pristine: str, scratch_urls: JournalUrls, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """A journal's database can come with checkpoints another machine wrote (the manager's
    daemon): without that machine's key they are not this one's, so the figures are
    folded from the entries here. One whose state was altered after it was written is
    discarded with a message."""
    url = copy_journal(pristine, scratch_urls("copy"))
    with opened(url) as journal:
        honest = full_fold(journal)
        monkeypatch.setenv("AGENTFUND_CACHE", str(tmp_path / "manager"))
        forged = full_fold(journal)
        assert forged.ledger is not None
        forged.ledger.cash += 1_000_000  # what a dishonest manager would like shown
        assert projection_store.save(journal, ACTOR, store.NAME, store.KEY, store.CLASSES,
                                     forged.seq, forged.head_hash, forged)
        assert store.at_head(journal, ACTOR)  # on the manager's machine, it is at the head
        monkeypatch.setenv("AGENTFUND_CACHE", str(tmp_path / "investor"))
        assert not store.at_head(journal, ACTOR)
        snap, folded = reopened(journal, monkeypatch)
        assert folded == honest.seq and same(snap, honest)  # every entry folded here
        store.keep(journal, snap)  # the investor's own, beside the manager's: alter it
    with tampering(url) as conn:
        names = sorted(r[0] for r in conn.execute(text(
            "SELECT name FROM projection_checkpoints WHERE process_id = :p"), {"p": ACTOR}))
        assert len(names) == 2 and all(n.startswith("monitor@") for n in names)
        ours = projection_store._filed("monitor", projection_store.local_key() or b"")
        (state,) = conn.execute(text("SELECT state FROM projection_checkpoints WHERE "
                                     "process_id = :p AND name = :n"),
                                {"p": ACTOR, "n": ours}).one()
        altered = bytes(state).replace(b'"cash":{"$d":"', b'"cash":{"$d":"9')
        assert altered != bytes(state)
        conn.execute(text("UPDATE projection_checkpoints SET state = :s WHERE "
                          "process_id = :p AND name = :n"), {"s": altered, "p": ACTOR, "n": ours})
    with opened(url) as journal:
        lines: list[str] = []
        assert projection_store.load(journal, ACTOR, store.NAME, store.KEY, store.CLASSES,
                                     lines.append) is None
        assert lines and "altered" in lines[0]


def test_a_dropped_checkpoint_table_is_made_again_on_the_next_save(
        pristine: str, scratch_urls: JournalUrls) -> None:
    """"DROP TABLE projection_checkpoints" discards every checkpoint (docs/operations.md);
    the next save makes the table again in the journal's database, not a file instead."""
    url = copy_journal(pristine, scratch_urls("copy"))
    with opened(url) as journal:
        snap = full_fold(journal)
        for _ in range(2):
            store.keep(journal, snap)
            with tampering(url) as conn:
                assert conn.execute(text("SELECT seq FROM projection_checkpoints WHERE "
                                         "process_id = :p"), {"p": ACTOR}).scalar() == snap.seq
                conn.execute(text("DROP TABLE projection_checkpoints"))
