"""The peer benchmark's pure parts, without its virtual environment (issue 7).

benchmarks/compare.py runs W1 on vectorbt and backtrader in ``.bench-venv/``; nothing here
creates that venv or imports either engine. Checked: the table's differences and
formatting, and the W1 rule helpers both engines' scripts use (benchmarks/peers/
w1_common.py) against the independent Decimal reference on small synthetic candles.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.compare import (
    Row,
    agrees_to_the_cent,
    difference,
    format_table,
    to_decimal,
)
from benchmarks.peers import bench_venv, w1_common
from benchmarks.run import Sample
from tests.acceptance import reference_w1 as reference


def write_candles(directory: Path, days: int = 3, seed: int = 7) -> None:
    """Random-walk 5-minute closes for W1's five assets, volatile enough to trade often."""
    rng = np.random.default_rng(seed)
    opens = pd.date_range("2024-03-01", periods=days * 288, freq="5min", tz="UTC")
    starts = {"BTC": 60_000.0, "ETH": 3_000.0, "SOL": 120.0, "XRP": 0.6, "DOGE": 0.15}
    for asset, start in starts.items():
        steps = rng.normal(0.0, 0.02, len(opens))
        closes = np.round(start * np.exp(np.cumsum(steps)), 6)
        pd.DataFrame({"date": opens, "close": closes}).to_feather(
            directory / f"{asset}_USDT-5m.feather")


@pytest.mark.parametrize("every", [60, 5])
@pytest.mark.parametrize("weight", ["0.18", "0.2"])  # 5 x 0.2 + fees > cash: buys scale
def test_rule_helpers_match_the_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          every: int, weight: str) -> None:
    write_candles(tmp_path)
    monkeypatch.setattr(reference, "TARGET_WEIGHT", Decimal(weight))
    expected = reference.reference_w1(tmp_path, every)

    opens, closes = w1_common.load_closes(tmp_path)
    wakes = w1_common.wake_mask(w1_common.minutes_since_epoch(opens), every)
    got = w1_common.simulate(closes, wakes, weight=float(weight))

    assert wakes.sum() == expected["wakes"]
    assert expected["fills"] > 20  # the series does exercise the band both ways
    assert got["fills"] == expected["fills"]
    assert got["final_nav"] == pytest.approx(float(expected["final_nav"]), abs=1e-6)
    assert got["fees"] == pytest.approx(float(expected["fees"]), abs=1e-9)


def test_first_wake_is_the_first_cron_time_after_the_first_close() -> None:
    opens = pd.date_range("2024-01-01", periods=24, freq="5min", tz="UTC")
    minutes = w1_common.minutes_since_epoch(opens)
    hourly = w1_common.wake_mask(minutes, 60)
    assert [str(t + pd.Timedelta(minutes=5)) for t in opens[hourly]] == [
        "2024-01-01 01:00:00+00:00", "2024-01-01 02:00:00+00:00"]
    assert w1_common.wake_mask(minutes, 5).all()
    with pytest.raises(ValueError):
        w1_common.wake_mask(minutes, 7)


def test_plan_applies_the_band_on_pre_trade_nav() -> None:
    orders = np.zeros(3)
    position = np.array([1.0, 0.0, 10.0])
    price = np.array([100.0, 50.0, 10.0])  # NAV = 400 + 100 + 0 + 100 = 600
    threshold = w1_common.plan_w1(400.0, position, price, 0.2, 0.1, orders)
    assert threshold == pytest.approx(60.0)
    # targets 120 each: +20 (below 60: none), +120 (buy 2.4), +20 (none)
    assert orders.tolist() == pytest.approx([0.0, 2.4, 0.0])


def test_sells_come_first_then_buys_in_listed_order() -> None:
    sequence = np.zeros(5, dtype=np.int64)
    trading = w1_common.sells_then_buys(np.array([2.0, -1.0, 0.0, 3.0, -4.0]), sequence)
    assert trading == 4
    assert sequence.tolist() == [1, 4, 0, 3, 2]


def test_buy_scaling() -> None:
    assert w1_common.scale_buy(1.0, 100.0, 1_000.0, 0.001, 10.0) == 1.0
    scaled = w1_common.scale_buy(1.0, 100.0, 50.05, 0.001, 10.0)
    assert scaled * 100.0 * 1.001 == pytest.approx(50.05)
    assert w1_common.scale_buy(1.0, 100.0, 5.0, 0.001, 10.0) == 0.0  # below the band


def row(label: str, nav: str, seconds: float, mib: float, exact: bool = True) -> Row:
    return Row(label=label, exact=exact, final_nav=Decimal(nav), fills=143,
               fees=Decimal("29.377"), samples=[Sample(seconds, mib)], sim_s=None)


def test_differences_to_the_cent() -> None:
    base = Decimal("13232.33995212966703303142459")
    assert to_decimal(13232.339952129667) == Decimal("13232.339952129667")
    assert to_decimal("13232.34") == Decimal("13232.34")
    assert difference(to_decimal(13232.339952129667), base) == Decimal(
        "13232.339952129667") - base
    assert agrees_to_the_cent(to_decimal(13232.339952129667), base)
    assert agrees_to_the_cent(Decimal("13232.3449"), base)
    assert not agrees_to_the_cent(Decimal("13232.345"), base)
    assert not agrees_to_the_cent(Decimal("13232.33"), base)


def test_table() -> None:
    base = row("agentfund", "13232.33995212966703303142459", 1.25, 145.0)
    rows = [base, row("vectorbt", "13232.339952129667", 0.5, 290.0),
            row("other", "13043.572259082624", 5.0, 400.0, exact=False)]
    lines = format_table(rows, base).splitlines()
    assert len(lines) == 5
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    header = cells[0]
    agentfund, vectorbt, other = (dict(zip(header, c, strict=True)) for c in cells[2:])
    assert agentfund["final NAV"] == "13,232.34"
    assert agentfund["Δ vs agentfund"] == "—"
    assert vectorbt["to the cent"] == "yes"
    assert vectorbt["Δ vs agentfund"] == "-3.3e-14"  # 13232.339952129667 - 13232.3399...670330
    assert vectorbt["agentfund ÷ engine: time"] == "2.50"  # 1.25 s / 0.5 s
    assert vectorbt["memory"] == "0.50"  # 145 / 290 MiB
    assert other["Δ vs agentfund"] == "-188.77"
    assert other["to the cent"] == "no (not W1)"
    assert other["fees"] == "29.38"
    assert agentfund["agentfund ÷ engine: time"] == "—"


def test_bench_venv_is_not_ready_without_its_marker(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("vectorbt==1.2.0\n")
    venv = tmp_path / "venv"
    assert not bench_venv.is_ready(venv, requirements)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".installed").write_text(bench_venv.fingerprint(requirements))
    assert bench_venv.is_ready(venv, requirements)
    requirements.write_text("vectorbt==1.2.1\n")  # changed requirements: rebuild
    assert not bench_venv.is_ready(venv, requirements)
