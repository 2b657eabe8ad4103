"""Results must not depend on the thread's Decimal context, which libraries change.

ccxt's ``decimal_to_precision`` switches the current context to ROUND_HALF_UP (and traps
Underflow): a live daemon's arithmetic would change after its first order, and an
investor's replay in a clean process would then diverge. agentfund computes in a pinned
context instead; this test runs a backtest and its verification under a hostile one.
"""

from __future__ import annotations

import decimal
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from agentfund.backtests.engine import run_backtest
from fund.canonical import loads
from fund.clock import SimulatedClock
from fund.config import load_config
from fund.exchange.paper import PaperAdapter
from fund.journal import JournalWriter, open_journal
from fund.money import STANDARD
from fund.replay import Replayer
from fund.runtime import ActorRuntime
from fund.verify import verify_stream
from tests.conftest import EXAMPLES
from tests.fixtures.journals import JournalUrls

MARCH = ["backtest.start=2024-03-01", "backtest.end=2024-03-03"]


def backtest(url: str) -> str:
    config = load_config(EXAMPLES / "rebalance.toml", MARCH)
    with open_journal(url) as journal:
        [run] = run_backtest(config, journal)
        assert verify_stream(journal, "rebalancer").ok
    return run.head_hash


def test_a_hostile_decimal_context_changes_nothing(journal_urls: JournalUrls) -> None:
    normal = backtest(journal_urls("normal"))
    saved = decimal.getcontext().copy()
    try:
        hostile = decimal.getcontext()
        hostile.prec, hostile.rounding = 12, ROUND_HALF_UP
        under_hostile = backtest(journal_urls("hostile"))
        assert decimal.getcontext().prec == 12  # the caller's context is left as it was
    finally:
        decimal.setcontext(saved)

    assert under_hostile == normal


def test_the_live_adapter_leaves_the_callers_context_alone() -> None:
    from decimal import Decimal

    from fund.exchange.ccxt_adapter import CcxtAdapter

    adapter = CcxtAdapter(exchange_id="binance", api_key="k", secret="s")
    adapter._exchange.set_markets([{  # a market known without a server
        "id": "BTCUSDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "spot": True,
        "type": "spot", "active": True, "precision": {"amount": "0.00001", "price": "0.01"},
        "limits": {"amount": {"min": "0.00001"}, "cost": {"min": "5"}}}])
    before = decimal.getcontext().copy()

    with decimal.localcontext():
        adapter._exchange.amount_to_precision("BTC/USDT", "0.123456")  # what ccxt does
        changed = decimal.getcontext().rounding
    adapter.markets()

    assert changed == ROUND_HALF_UP  # ccxt really does change the context it runs in
    assert decimal.getcontext().rounding == before.rounding
    assert Decimal(1) / Decimal(3) == before.divide(Decimal(1), Decimal(3))


def test_an_actor_rebuilt_after_a_failed_write_is_rebuilt_in_the_pinned_context(
        journal_urls: JournalUrls) -> None:
    # the daemon holds an actor whose write failed, then rebuilds it from its stream
    # (ActorRuntime.reload, a trusting replay that runs the handler at every wake); the
    # thread may by then run in whatever context a library left it in
    config = load_config(EXAMPLES / "rebalance.toml", MARCH)
    with open_journal(journal_urls("reload")) as journal:
        [spec] = config.actors
        run_backtest(config, journal)
        runtime = ActorRuntime(spec=spec, writer=JournalWriter(journal, spec.actor_id),
                               oracles={}, clock=SimulatedClock(datetime(2024, 3, 4, tzinfo=UTC)),
                               adapter=PaperAdapter(fee_rate=spec.terms.fee_rate,
                                                    slippage_bps=spec.terms.slippage_bps))
        runtime.open(Decimal(0))  # resumes the stream (in the pinned context)
        resumed = runtime.core.fingerprint()
        clean = Replayer(strict=True)  # the investor's replay, in a clean context
        with decimal.localcontext(STANDARD):
            for entry in journal.read(spec.actor_id):
                clean.feed(entry, loads(entry.payload))
        assert clean.core is not None and clean.core.fingerprint() == resumed

        with decimal.localcontext() as hostile:
            hostile.prec, hostile.rounding = 12, ROUND_HALF_UP
            runtime.reload()
            assert decimal.getcontext().prec == 12  # the caller's context is left as it was
        assert runtime.core.fingerprint() == resumed
        assert runtime.core.peak == clean.core.peak
