"""The grid strategy outside backtests: the paper daemon reading its candles from the
(fake) exchange writes, wake for wake, what ``fund backtest`` writes on the same market —
the same decisions, the same resting orders placed, filled and cancelled, the same fills —
because both match working orders with the one fill model (fund/exchange/resting.py).

The fake Binance serves the shipped sample's 5-minute candles from ``GET /api/v3/klines``
on a simulated clock (the candle still forming at a wake is served as it stands then, as
binance does, and the oracle leaves it out); the daemon's clock is stepped through the
backtest's fire times.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from agentfund.backtests.engine import plan_backtest, run_backtest
from fund.canonical import float_price, loads
from fund.clock import SimulatedClock
from fund.config import load_config
from fund.daemon import Daemon
from fund.journal import open_journal
from fund.messages import DECISION, FILL, ORDER_ACK, ORDER_INTENT, ORDER_REJECTED
from fund.schedule import cron_trigger, fire_times
from fund.verify import verify_stream
from tests.conftest import EXAMPLES, ROOT
from tests.integration.fake_exchange import FakeExchange, Symbol, wall_ms

D = Decimal
PERIOD = ["backtest.start=2024-01-08", "backtest.end=2024-01-11"]
ORDERS = (DECISION, ORDER_INTENT, ORDER_ACK, FILL, ORDER_REJECTED)


def recorded(url: str) -> list[tuple[str, str]]:
    """The decisions, intents and order events of the one actor's verified stream."""
    with open_journal(url) as store:
        [actor] = [p for p in store.processes() if "." not in p]
        report = verify_stream(store, actor)
        assert report.ok, f"{url}: {report.error}"
        return [(e.kind, e.payload) for e in store.read(actor) if e.kind in ORDERS]


def sample_rows() -> list[list[Any]]:
    """The shipped BTC/USDT 5-minute candles as binance serves klines (exact strings of
    the same floats the backtest reads)."""
    frame = pd.read_feather(ROOT / "data" / "sample" / "binance_spot_2024" /
                            "BTC_USDT-5m.feather")
    opens = frame["date"].astype("int64") // 1_000_000
    return [[int(ms), *(float_price(float(frame[c].iloc[i]))
                        for c in ("open", "high", "low", "close", "volume"))]
            for i, ms in enumerate(opens.tolist())]


def test_the_grid_in_the_paper_daemon_on_exchange_candles_writes_what_the_backtest_does(
        tmp_path: Path) -> None:
    config = load_config(EXAMPLES / "grid.toml", PERIOD)
    spec = config.actors[0]
    plan = plan_backtest(config)
    period = plan.periods[spec.actor_id]
    times = list(fire_times(cron_trigger(spec.cron), period.start, period.end))
    clock = SimulatedClock(times[0] - timedelta(microseconds=1))
    urls = {mode: f"sqlite:///{tmp_path / mode}.db" for mode in ("backtest", "paper")}

    with open_journal(urls["backtest"]) as store:
        run_backtest(config, store)
    with FakeExchange({"BTCUSDT": Symbol("BTC", "USDT")},
                      clock=lambda: int(clock.now().timestamp() * 1000),
                      signing_clock=wall_ms) as venue:
        venue.serve_history("BTCUSDT", "5m", sample_rows())
        settings = replace(config.daemon, exchange_urls={"api": venue.url})
        with open_journal(urls["paper"]) as store:
            daemon = Daemon(config, store, settings, clock=clock)
            for moment in times:
                clock.set_time(moment)
                daemon.tick(spec.actor_id)
            daemon.release()
            assert not daemon.held
        asked = [r for r in venue.requests if r.path == "/api/v3/klines"]

    backtest, paper = recorded(urls["backtest"]), recorded(urls["paper"])
    assert len(asked) == len(times)  # every wake read its candles from the exchange
    assert paper == backtest
    acks = [loads(p)["status"] for k, p in backtest if k == ORDER_ACK]
    fills = [p for k, p in backtest if k == FILL]
    assert acks.count("open") > 10 and acks.count("canceled") > 5 and len(fills) > 3, \
        "the grid placed, cancelled and filled resting orders: the test can fail"
