"""A checkpoint's per-symbol columns are inflated only when read (projection_store's
FloatColumns), are kept again exactly as read, and an actor's figures count the wake that
is still open without copying every series."""

from __future__ import annotations

import json
import threading
from array import array
from pathlib import Path

import numpy as np
import pytest

from fund import projection_store
from fund.journal import open_journal
from fund.monitor.snapshot import ActorSnapshot, Series, fold_entries
from fund.monitor.store import CLASSES
from fund.performance import compute_metrics
from tests.conftest import EXAMPLES, run_fund


def a_series(points: int) -> Series:
    series = Series()
    for i in range(points):
        series.times.append(1_700_000_000.0 + 300 * i)
        series.unit.append(1.0 + i / 1000)
        series.nav.append(1000.0 + i)
        series.cash.append(500.0)
        for n, symbol in enumerate(("BTC/USDT", "ETH/USDT", "SOL/USDT")):
            series.values.setdefault(symbol, array("d")).append(float(i * (n + 1)))
            series.prices.setdefault(symbol, array("d")).append(100.0 + i + n)
    return series


def test_columns_are_inflated_when_read_and_kept_again_as_read() -> None:
    original = a_series(500)
    kept = projection_store.encode(original, CLASSES)
    back = projection_store.decode(kept, CLASSES)

    assert isinstance(back.values, projection_store.FloatColumns)
    assert all(isinstance(v, str) for _, v in back.values.items_as_kept())
    assert projection_store.encode(back, CLASSES) == kept  # nothing inflated, nothing changed
    assert back.values["ETH/USDT"] == original.values["ETH/USDT"]
    states = dict(back.values.items_as_kept())
    assert isinstance(states["ETH/USDT"], array) and isinstance(states["BTC/USDT"], str)
    assert projection_store.encode(back, CLASSES) == kept  # read, not changed
    assert list(back.prices) == list(original.prices)  # the symbols, in their order
    assert dict(back.prices.items()) == dict(original.prices.items())

    for series in (original, back):  # the fold's own ways of adding to them
        series.values["BTC/USDT"].append(7.5)
        series.values.setdefault("XRP/USDT", array("d")).append(0.25)
        del series.prices["SOL/USDT"]
    assert projection_store.encode(back, CLASSES) == projection_store.encode(original, CLASSES)


def test_a_column_read_by_several_threads_at_once_is_inflated_once() -> None:
    back = projection_store.decode(projection_store.encode(a_series(20_000), CLASSES), CLASSES)
    seen: list[int] = []
    start = threading.Barrier(8)

    def read() -> None:
        start.wait()
        seen.append(id(back.values["SOL/USDT"]))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 8 and len(set(seen)) == 1


def test_a_damaged_column_is_a_clear_error_when_read() -> None:
    """(Past the HMAC, only a bug could write one: the state is checked before it is read.)"""
    state = json.loads(projection_store.encode(a_series(10), CLASSES))
    column = next(pair for pair in state["f"]["values"]["$m"] if pair[0] == "BTC/USDT")
    column[1]["$a"] = "AAAA"
    back = projection_store.decode(json.dumps(state).encode(), CLASSES)
    assert back.values["ETH/USDT"][3] == 6.0  # the others read as ever
    with pytest.raises(ValueError, match="checkpoint column 'BTC/USDT'"):
        back.values["BTC/USDT"]


def test_figures_count_the_open_wake_as_the_series_with_it_does(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), "--out", str(out),
                    "--start", "2024-03-01", "--end", "2024-03-02", "--no-report")
    assert done.returncode == 0, done.stderr
    with open_journal(str(out / "journal.db"), must_exist=True) as journal:
        entries = list(journal.read("rebalancer"))
    last_decision = max(i for i, e in enumerate(entries) if e.kind == "Decision")
    snap = ActorSnapshot(actor="rebalancer")
    fold_entries(snap, entries[:last_decision + 1])  # a daemon between two wakes

    assert snap.pending_wake is not None
    points = snap.points()
    assert len(points.unit) == len(snap.series.unit) + 1
    assert snap.units.start is not None
    expected = compute_metrics(np.array(points.times), np.array(points.unit), snap.units.start)
    assert snap.figures() == expected
    finished = ActorSnapshot(actor="rebalancer")
    fold_entries(finished, entries)
    assert finished.pending_wake is None
    assert finished.figures() == compute_metrics(np.array(finished.series.times),
                                                 np.array(finished.series.unit),
                                                 finished.units.start or 0.0)
