"""Investors in a real backtest and in the daemon: dealing, fees, statements, verify."""

from __future__ import annotations

import json
import math
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fund.canonical import loads, parse_ts
from fund.journal import EntryFilter, open_journal
from tests.conftest import EXAMPLES, run_fund
from tests.fixtures.journals import JournalUrls
from tests.fixtures.tamper import copy_journal, forge
from tests.integration.fake_exchange import FakeExchange
from tests.integration.test_daemon import CONFIG

INVESTORS = ("founder", "alice", "bob", "carol")


@pytest.fixture(scope="module")
def journal(module_store_urls: JournalUrls, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("investors")
    url = module_store_urls("investors")
    done = run_fund("backtest", str(EXAMPLES / "investors.toml"), "--out", str(out),
                    "--journal", url, "--no-report", "--json")
    assert done.returncode == 0, done.stderr
    return url


def valuations(path: str) -> list[dict[str, Any]]:
    with open_journal(path) as store:
        return [loads(e.payload) for e in store.read("rebalancer",
                                                     EntryFilter(kinds=("Valuation",)))]


def irr(flows: list[tuple[datetime, float]]) -> float:
    """Annual IRR by Newton's method on continuous time (independent of fund.accounting)."""
    t0 = flows[0][0]
    years = [(t - t0).total_seconds() / (365 * 86400) for t, _ in flows]
    rate = 0.1
    for _ in range(100):
        f = sum(a * math.exp(-math.log1p(rate) * y) for (_, a), y in zip(flows, years, strict=True))
        df = sum(-y * a * math.exp(-math.log1p(rate) * y) / (1 + rate)
                 for (_, a), y in zip(flows, years, strict=True))
        step = f / df
        rate -= step
        if abs(step) < 1e-14:
            break
    return rate


def independent(path: str, investor: str) -> dict[str, Any]:
    """The investor's figures straight from the Valuation entries: value by units and price,
    time-weighted by value before and after each day's flows, money-weighted by IRR."""
    value_before, growth, flows = 0.0, [], []
    units, price, at = Decimal(0), Decimal(0), None
    contributed = withdrawn = Decimal(0)
    for payload in valuations(path):
        at, price = parse_ts(payload["at"]), Decimal(payload["price"])
        change = payload["investors"].get(investor, {})
        cash_in = Decimal(change.get("contributed", "0"))
        cash_out = Decimal(change.get("withdrawn", "0"))
        contributed, withdrawn = contributed + cash_in, withdrawn + cash_out
        if "units" in change:
            units = Decimal(change["units"])
        value = float(units * price)
        # the day's flow at the dealing price (the deal's rounding stays in the fund)
        flow = sum(float(Decimal(d.get("units", "0")) * price) * (1 if d["kind"] == "subscribe"
                                                                   else -1)
                   for d in payload["deals"] if d["investor"] == investor and "units" in d)
        if value_before > 0:
            growth.append((value - flow) / value_before)
        value_before = value
        if cash_in:
            flows.append((at, -float(cash_in)))
        if cash_out:
            flows.append((at, float(cash_out)))
    assert at is not None
    flows.append((at, float(units * price)))
    return {"units": units, "value": units * price, "contributed": contributed,
            "withdrawn": withdrawn, "twr": math.prod(growth) - 1, "mwr": irr(flows)}


def test_the_backtest_with_investors_verifies(journal: str) -> None:
    done = run_fund("verify", journal)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("investor", INVESTORS)
def test_statements_agree_with_an_independent_computation(journal: str, investor: str) -> None:
    done = run_fund("statement", journal, "--investor", investor, "--json")
    assert done.returncode == 0, done.stderr
    shown, expected = json.loads(done.stdout), independent(journal, investor)

    assert Decimal(shown["units"]) == expected["units"]
    assert Decimal(shown["value"]) == expected["value"].quantize(Decimal("0.01"))
    assert Decimal(shown["contributed"]) == expected["contributed"]
    assert Decimal(shown["withdrawn"]) == expected["withdrawn"]
    assert shown["time_weighted_return"] == pytest.approx(expected["twr"], abs=1e-6)
    assert shown["money_weighted_return"] == pytest.approx(expected["mwr"], rel=1e-9)


def test_units_times_price_is_the_fund_at_every_valuation_point(journal: str) -> None:
    units: dict[str, Decimal] = {}
    with open_journal(journal) as store:
        end = loads(next(iter(store.read("rebalancer", EntryFilter(kinds=("End",))))).payload)
    for payload in valuations(journal):
        for investor, change in payload["investors"].items():
            units[investor] = Decimal(change["units"])
        assert sum(units.values()) == Decimal(payload["units"])
    last = valuations(journal)[-1]
    assert parse_ts(last["at"]) == datetime.fromisoformat("2024-07-01T00:00:00+00:00")
    net = Decimal(end["nav"]) - Decimal(last["fees_owed"])
    assert abs(sum(units.values()) * Decimal(last["price"]) - net) <= Decimal("0.01")


def test_a_redemption_is_dealt_at_the_next_valuation_point_never_before(journal: str) -> None:
    with open_journal(journal) as store:
        asked = {e.seq: loads(e.payload)["requested"] for e in store.read(
            "rebalancer", EntryFilter(kinds=("Subscription", "Redemption")))}
    daily = [p for p in valuations(journal)]
    for seq, requested in asked.items():
        dealt = [p for p in daily if any(d["seq"] == seq for d in p["deals"])]
        assert dealt, seq
        first = dealt[0]
        assert first["at"] >= requested  # at the valuation point at or after the request
        earlier = [p["at"] for p in daily if requested <= p["at"] < first["at"]]
        assert not earlier  # and not a later one than the next


def test_an_altered_valuation_fails_verify(journal: str, scratch_urls: JournalUrls) -> None:
    url = copy_journal(journal, scratch_urls("copy"))
    with open_journal(url) as store:
        entry = [e for e in store.read("rebalancer", EntryFilter(kinds=("Valuation",)))][40]
    payload = loads(entry.payload)
    payload["price"] = str(Decimal(payload["price"]) + Decimal("0.01"))  # a richer price
    forge(url, "rebalancer", entry.seq, payload)  # re-chained: only the replay can tell

    done = run_fund("verify", url)
    assert done.returncode == 1
    assert f"entry {entry.seq}: valuation differs from replay" in done.stderr


def test_the_daemon_deals_a_subscription_queued_by_the_cli(tmp_path: Path,
                                                           store_url: str) -> None:
    db = store_url
    with FakeExchange() as venue:
        venue.reset(prices={"BTCUSDT": Decimal("40000"), "ETHUSDT": Decimal("2000")})
        cfg = tmp_path / "daemon.toml"
        cfg.write_text(CONFIG.format(url=venue.url, cron="* * * * * *")
                       + '\n[accounting]\nmanagement_fee = 0.02\n', encoding="utf-8")
        first = run_fund("run", str(cfg), "--journal", db, "--once")
        asked = run_fund("subscribe", "rebalancer", "alice", "2500", "--journal", db)
        second = run_fund("run", str(cfg), "--journal", db, "--once")

    assert first.returncode == asked.returncode == second.returncode == 0, second.stderr
    statement = json.loads(run_fund("statement", db, "--investor", "alice", "--json").stdout)
    price = Decimal(statement["nav_per_share"])
    assert Decimal(statement["contributed"]) == 2500
    assert Decimal(statement["units"]) == (Decimal(2500) / price).quantize(
        Decimal("1e-8"), "ROUND_DOWN")
    assert run_fund("verify", db).returncode == 0
    refused = run_fund("redeem", "rebalancer", "alice", "--units", "-1", "--journal", db)
    assert refused.returncode == 2 and "must be positive" in refused.stderr


def test_flows_need_accounting_and_a_malformed_flows_file_is_named(tmp_path: Path) -> None:
    config = (EXAMPLES / "investors.toml").read_text(encoding="utf-8")
    without = tmp_path / "no-accounting.toml"
    start = config.index("[accounting]")
    without.write_text(config[:start] + config[config.index("[backtest]"):], encoding="utf-8")
    done = run_fund("backtest", str(without), "--out", str(tmp_path / "a"))
    assert done.returncode == 2 and "need an [accounting] section" in done.stderr

    flows = tmp_path / "flows.csv"
    flows.write_text("at,investor,action,amount,units\n2024-02-01,dan,subscribe,abc,\n",
                     encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(config.replace('seed_investor = "founder"',
                                  f'seed_investor = "founder"\nflows_csv = "{flows}"'),
                   encoding="utf-8")
    done = run_fund("backtest", str(bad), "--out", str(tmp_path / "b"))
    assert done.returncode == 2
    assert f"{flows}:2: amount: 'abc' is not a number" in done.stderr
