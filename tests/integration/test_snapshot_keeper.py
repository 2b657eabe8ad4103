"""The monitor's snapshot kept by the process that writes the stream (fund/monitor/keeper.py).

A backtest folds every batch its writer stores and leaves the fold as the journal's
projection checkpoint, so the UI opens the journal without folding it; the report reads the
same fold instead of reading the journal back. Each is checked against an independent full
fold of the stored journal (fund.monitor.snapshot.advance from the first entry).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import fund.monitor.store as store
from agentfund.backtests.engine import run_backtest
from agentfund.backtests.trades import trades_data, trades_section
from fund import projection_store
from fund.config import load_config
from fund.journal import Batch, Journal, JournalWriter, open_journal
from fund.monitor.keeper import SnapshotKeeper
from fund.monitor.snapshot import ActorSnapshot, advance
from fund.trades import Trades
from tests.conftest import EXAMPLES
from tests.fixtures.journals import JournalUrls
from tests.fixtures.tamper import backtest_journal
from tests.integration.test_projection_checkpoints import reopened

ACTOR = "rebalancer"


def same(a: object, b: object) -> bool:
    """Equal folded states: every field of every object, as the checkpoint keeps it."""
    return projection_store.encode(a, store.CLASSES) == projection_store.encode(b, store.CLASSES)


def full_fold(journal: Journal, actor: str = ACTOR) -> ActorSnapshot:
    snap = ActorSnapshot(actor=actor)
    advance(journal, snap)
    return snap


def test_a_backtest_leaves_its_snapshot_checkpointed_at_the_head(
        store_urls: JournalUrls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = backtest_journal(store_urls(), tmp_path / "out")
    with open_journal(url) as journal:
        head = journal.head(ACTOR)
        assert head is not None
        found = projection_store.load(journal, ACTOR, store.NAME, store.KEY, store.CLASSES)
        assert found is not None and (found.seq, found.head_hash) == (head.seq, head.hash)
        reference = full_fold(journal)
        assert same(found.state, reference) and reference.trusted
        opened, folded = reopened(journal, monkeypatch)  # what `fund ui` does on a start
        store.forget(journal)
        assert folded == 0  # nothing folded: the checkpoint is at the head
        assert opened.nav() == reference.nav() and opened.seq == head.seq


def test_the_report_reads_the_same_fold_as_one_read_back_from_the_journal(
        tmp_path: Path) -> None:
    cfg = load_config(EXAMPLES / "rebalance.toml", ["backtest.start=\"2024-03-01\"",
                                                    "backtest.end=\"2024-03-04\""])
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    book = Trades()
    with open_journal(url) as journal:
        (run,) = run_backtest(cfg, journal, books={ACTOR: book})
    assert run.snapshot is not None and run.snapshot.ledger is not None
    snap, read_back = trades_data(url, ACTOR)  # the journal read back, every hash checked
    assert same(run.snapshot, snap)
    assert run.snapshot.nav() == Decimal(run.final_nav)
    kept = (run.snapshot, book.book(run.snapshot.ledger.prices))
    assert trades_section(url, ACTOR, data=kept) == trades_section(url, ACTOR,
                                                                   data=(snap, read_back))


class FailingOnce:
    """A journal whose next append fails (as a full disk would), then works again."""

    def __init__(self, journal: Journal) -> None:
        self.journal, self.fail = journal, False

    def __getattr__(self, name: str) -> object:
        return getattr(self.journal, name)

    def append(self, batch: Batch) -> None:
        if self.fail:
            self.fail = False
            raise OSError("disk full")
        self.journal.append(batch)


def test_the_keeper_folds_only_what_was_stored_and_saves_as_it_goes(
        store_urls: JournalUrls, tmp_path: Path) -> None:
    source = backtest_journal(store_urls("source"), tmp_path / "out")
    with open_journal(source) as journal:
        stored = list(journal.read(ACTOR))
    with open_journal(store_urls("copy")) as target:
        failing = FailingOnce(target)
        keeper = SnapshotKeeper(target, ActorSnapshot(actor=ACTOR), save_every=50)
        writer = JournalWriter(failing, ACTOR, batch_size=40,  # type: ignore[arg-type]
                               on_stored=keeper.stored)
        saved: list[int] = []
        for number, entry in enumerate(stored):
            if number == 79:
                failing.fail = True  # the batch of entries 41..80 is lost, never folded
            try:
                writer.append_text(entry.kind, entry.ts, entry.payload)
            except OSError:
                assert keeper.snapshot.seq == writer.last_seq  # resynchronised, folded alike
                for again in stored[40:number + 1]:
                    writer.append_text(again.kind, again.ts, again.payload)
            found = projection_store.load(target, ACTOR, store.NAME, store.KEY, store.CLASSES)
            if found is not None and (not saved or saved[-1] != found.seq):
                saved.append(found.seq)
        writer.flush()
        keeper.save()
        found = projection_store.load(target, ACTOR, store.NAME, store.KEY, store.CLASSES)
        assert found is not None
        saved.append(found.seq)
        assert [e.hash for e in target.read(ACTOR)] == [e.hash for e in stored]
        reference = full_fold(target)
        assert same(keeper.snapshot, reference) and keeper.snapshot.seq == len(stored)
        # saved after each batch that brings 50 or more unsaved entries, then at the end
        expected, last = [], 0
        for end in range(40, len(stored) + 1, 40):  # where the writer's batches end
            if end - last >= 50:
                expected.append(last := end)
        if last != len(stored):
            expected.append(len(stored))  # keeper.save() at the close
        assert len(stored) > 160 and saved == expected
        assert same(found.state, reference)


def test_a_keeper_resumed_on_a_stream_folds_from_its_checkpoint(
        store_urls: JournalUrls, tmp_path: Path) -> None:
    url = backtest_journal(store_urls(), tmp_path / "out")
    with open_journal(url) as journal:
        keeper = SnapshotKeeper.resume(journal, ACTOR)
        assert same(keeper.snapshot, full_fold(journal))
        store.forget(journal)


def test_a_daemon_leaves_its_snapshot_checkpointed_when_it_stops(tmp_path: Path) -> None:
    from tests.conftest import run_fund
    from tests.integration.fake_exchange import FakeExchange
    from tests.integration.test_daemon import config

    db = f"sqlite:///{tmp_path / 'journal.db'}"
    with FakeExchange() as venue:
        venue.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        cfg = config(tmp_path, venue)
        for price in ("40000", "44000"):  # the second run resumes from the first's checkpoint
            venue.reset(prices={"BTCUSDT": Decimal(price), "ETHUSDT": Decimal("1900")})
            done = run_fund("run", str(cfg), "--journal", db, "--once")
            assert done.returncode == 0, done.stderr
            with open_journal(db) as journal:
                head = journal.head(ACTOR)
                found = projection_store.load(journal, ACTOR, store.NAME, store.KEY,
                                              store.CLASSES)
                assert head is not None and found is not None
                assert (found.seq, found.head_hash) == (head.seq, head.hash)
                assert same(found.state, full_fold(journal))


def test_fund_ui_reads_nothing_before_serving_a_stream_checkpointed_at_its_head(
        store_urls: JournalUrls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fund.commands.ui import prepare
    from fund.journal import JournalWriter

    url = backtest_journal(store_urls(), tmp_path / "out")
    folded: list[str] = []
    real = store.snapshot

    def counting(journal: Journal, actor: str, progress: object = None) -> ActorSnapshot:
        folded.append(actor)
        return real(journal, actor, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "snapshot", counting)
    with open_journal(url) as journal:
        assert store.at_head(journal, ACTOR)
        prepare(journal)
        assert folded == []  # the server's first page loads the checkpoint itself
        head = journal.head(ACTOR)
        assert head is not None
        writer = JournalWriter(journal, ACTOR)  # one more entry: the checkpoint is behind
        writer.append("Note", head.ts, {"text": "after the checkpoint"})
        writer.flush()
        assert not store.at_head(journal, ACTOR)
        prepare(journal)
        assert folded == [ACTOR]
        assert store.at_head(journal, ACTOR) is False  # 1 new entry: not worth a save
        store.forget(journal)
