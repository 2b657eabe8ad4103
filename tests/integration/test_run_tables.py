"""A backtest's tables of fills and flows (the report's and the summary's) are booked from
each batch of its stream as it is stored, not read back from the journal afterwards: they
must be what the stored journal holds, whether the run stored its batches itself or a
helper stored them behind it (fund/journal/behind.py: a run longer than a full buffer,
in batches of 2,000 entries from the first 2,000 on)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import fund.journal.writer as writer_module
from agentfund.backtests.engine import plan_backtest, run_backtest
from fund.canonical import loads
from fund.config import load_config
from fund.journal import Batch, EntryFilter, open_journal
from fund.journal.behind import BehindStore
from fund.messages import DEPOSIT, FILL, REDEMPTION, SUBSCRIPTION, VALUATION
from fund.performance import flows_of
from tests.conftest import EXAMPLES

FIVE_MINUTES = 'actors.rebalancer.cron="*/5 * * * *"'


@pytest.mark.parametrize(("config", "overrides", "end", "behind"), [
    # hourly for six months, shorter than a full buffer: stored by the run itself
    ("investors.toml", (), None, False),  # subscriptions, redemptions and valuations: flows
    ("grid.toml", (), None, False),  # limit orders resting and filling
    # about 24,000 entries, more than a full buffer: stored by the helper, in batches as
    # it is free
    ("rebalance.toml", (FIVE_MINUTES,), datetime(2024, 1, 28, tzinfo=UTC), True),
    # about 6,000: a run this short stores its entries itself
    ("rebalance.toml", (FIVE_MINUTES,), datetime(2024, 1, 7, tzinfo=UTC), False),
], ids=["investors", "grid", "rebalance-behind", "rebalance-here"])
def test_the_run_s_fills_and_flows_are_the_stored_journal_s(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str,
        overrides: tuple[str, ...], end: datetime | None, behind: bool) -> None:
    stored: list[int] = []  # the batches the helper answered for, stored
    keep = BehindStore.wait

    def counted(self: BehindStore) -> Batch | None:
        batch = keep(self)
        if batch is not None:
            stored.append(len(batch.entries))
        return batch

    monkeypatch.setattr(BehindStore, "wait", counted)
    cfg = load_config(EXAMPLES / config, list(overrides))
    with open_journal(str(tmp_path / "journal.db")) as journal:
        runs = run_backtest(cfg, journal, plan=plan_backtest(cfg, end=end))
        for run in runs:
            fills, flows = [], []  # read from the stored stream, here
            for entry in journal.read(run.actor_id):
                payload = loads(entry.payload)
                if entry.kind == FILL:
                    moment = datetime.fromisoformat(entry.ts).timestamp()
                    fills.append((int(moment), payload["symbol"], payload["side"],
                                  payload["amount"], payload["price"]))
                elif entry.kind in (DEPOSIT, VALUATION):
                    flows.extend(flows_of(entry.kind, entry.ts, payload))
            assert run.fill_rows == fills
            assert run.flows == flows
            assert run.entries == journal.count(run.actor_id)
            if config == "investors.toml":  # the tables are not empty where they matter
                assert flows and journal.count(run.actor_id, (SUBSCRIPTION, REDEMPTION))
            if config == "grid.toml":
                assert fills
            if overrides:
                assert run.entries > 2 * writer_module.BEHIND_BATCH and fills
                assert next(journal.read(run.actor_id, EntryFilter(
                    kinds=(FILL,)))).seq < writer_module.BEHIND_BATCH
                assert (run.entries > writer_module.BATCH_SIZE) == behind
            # several batches came back from the helper, or none (it stored nothing)
            assert len(stored) > 1 if behind else not stored
