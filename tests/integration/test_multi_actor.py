"""A fund with two actors: separate streams, each verifying, fund figures their sums."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

from tests.conftest import SAMPLE_PRICES, run_fund

CONFIG = f"""
[fund]
name = "two-actors"
initial_cash = 5000
quote = "USDT"
fee_rate = 0.001

[backtest]
prices = "{SAMPLE_PRICES}"
timeframe = "5m"
start = 2024-02-01
end = 2024-02-10

[actors.rebalancer]
cron = "0 */4 * * *"
strategy = "rebalance"
[actors.rebalancer.params.weights]
"BTC/USDT" = 0.5
"ETH/USDT" = 0.3

[actors.holder]
cron = "0 0 * * mon-fri"
strategy = "buy_and_hold"
initial_cash = 2000
[actors.holder.params.weights]
"SOL/USDT" = 0.5
"DOGE/USDT" = 0.5
"""


def test_two_actors_run_as_two_verifiable_streams(tmp_path: Path, store_url: str) -> None:
    config = tmp_path / "two.toml"
    config.write_text(CONFIG, encoding="utf-8")

    run = run_fund("backtest", str(config), "--out", str(tmp_path / "out"), "--journal",
                   store_url, "--json")
    verify = run_fund("verify", store_url)

    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    actors = summary["actors"]
    assert set(actors) == {"rebalancer", "holder"}
    assert actors["holder"]["wakes"] == 7  # weekdays 1, 2, 5, 6, 7, 8, 9 February 2024
    assert actors["rebalancer"]["wakes"] == 61  # every 4 h from 00:00 on the 1st to the 11th
    assert Decimal(summary["initial_cash"]) == Decimal(7000)
    assert Decimal(summary["final_nav"]) == sum(Decimal(a["final_nav"]) for a in actors.values())
    assert summary["fills"] == sum(a["fills"] for a in actors.values())
    heads = "\n".join(f"{name}:{actors[name]['head_hash']}" for name in sorted(actors))
    assert summary["head_hash"] == hashlib.sha256(heads.encode()).hexdigest()
    assert verify.returncode == 0, verify.stderr
    assert sorted(verify.stdout.splitlines()) == sorted(
        f"{name}: verified {a['entries']} entries, head {a['head_hash']}"
        for name, a in actors.items())
