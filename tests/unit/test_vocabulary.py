"""The vocabulary (fund/messages.py): the one place entry kinds are spelled, one payload
type per kind with one encoding and decoding, cheap to import."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tokenize
from decimal import Decimal
from pathlib import Path

import pytest

from fund.canonical import dumps, loads
from fund.messages import (
    Alert,
    Checkpoint,
    Command,
    Control,
    Deposit,
    End,
    Fill,
    Halt,
    IntentEntry,
    Kind,
    MissedWake,
    Observed,
    OrderAck,
    OrderIntent,
    OrderRejected,
    Payload,
    Reconciled,
    Redemption,
    Start,
    Subscription,
    Valuation,
    Wake,
    alerts_stream,
    commands_stream,
    is_commands_stream,
    is_side_stream,
)
from tests.conftest import ROOT

SOURCES = [ROOT / "fund", ROOT / "strategies", ROOT / "oracles", ROOT / "backtests",
           ROOT / "app.py"]
VOCABULARY = ROOT / "fund" / "messages.py"
D = Decimal


def string_literals(path: Path) -> list[tuple[int, str]]:
    """Every plain string literal in a Python file, with its line."""
    found = []
    with path.open("rb") as handle:
        for token in tokenize.tokenize(handle.readline):
            if token.type == tokenize.STRING and token.string[:1] in "'\"":
                found.append((token.start[0], token.string.strip("'\"")))
    return found


def test_no_entry_kind_is_spelled_outside_the_vocabulary() -> None:
    kinds = {kind.value for kind in Kind}
    files = [p for s in SOURCES for p in ([s] if s.is_file() else s.rglob("*.py"))]
    spelled = [f"{path.relative_to(ROOT)}:{line}: {text!r}"
               for path in files if path != VOCABULARY
               for line, text in string_literals(path) if text in kinds]

    assert files and not spelled, "entry kinds spelled outside fund/messages.py:\n" + \
        "\n".join(spelled)


def test_the_grep_finds_a_kind_spelled_in_a_module(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text('if entry.kind == "Fill":\n    pass\n', encoding="utf-8")

    assert (1, "Fill") in string_literals(planted)


EXAMPLES: list[Payload] = [
    Wake(scheduled="2024-01-01T00:00:00.000000Z"),
    MissedWake(first="2024-01-01T00:00:00.000000Z", last="2024-01-01T02:00:00.000000Z",
               count=3, reason="paused", policy="run the latest"),
    Observed(oracle="prices", as_of="2024-01-01T00:00:00.000000Z",
             data={"prices": {"BTC/USDT": {"price": "1"}}}, received="2024-01-01T00:00:01Z"),
    Observed(oracle="news", as_of="2024-01-01T00:00:00.000000Z", error="OracleError: down"),
    Halt(limit="max_drawdown", nav=D("80"), peak=D("100"), drawdown=D("0.2"),
         threshold=D("0.2")),
    IntentEntry(intent=OrderIntent(symbol="BTC/USDT", side="buy", amount=D("0.1"),
                                   reference_price=D("40000")),
                client_order_id="af-1", decision=7),
    IntentEntry(intent=OrderIntent(symbol="BTC/USDT", side="sell", amount=D("0.1"),
                                   order_type="limit", limit_price=D("41000"),
                                   time_in_force="GTC"), client_order_id="af-3", decision=7),
    IntentEntry(intent=OrderIntent(symbol="BTC/USDT", side="sell", amount=D("0.1"),
                                   order_type="stop_limit", stop_price=D("39000"),
                                   limit_price=D("38900")), client_order_id="af-4", decision=7),
    IntentEntry(intent=OrderIntent(symbol="BTC/USDT", side="sell", amount=D("0.1"),
                                   order_type="cancel", cancels="af-3"),
                client_order_id="af-5", decision=7),
    OrderAck(client_order_id="af-4", exchange_order_id="paper-4", status="open",
             triggered="2024-01-01T00:05:00.000000Z"),
    OrderAck(client_order_id="af-1", exchange_order_id="9", status="expired",
             filled=D("0.05"), remaining=D("0.05"), reason="book too thin"),
    Fill(client_order_id="af-1", fill_id="t1", symbol="BTC/USDT", side="buy",
         amount=D("0.1"), price=D("40000"), fee=D("4"), fee_currency="USDT"),
    OrderRejected(client_order_id="af-1", reason="fate unknown", source="exchange",
                  ambiguous=True, valid_until="2024-01-01T00:00:06.000000Z"),
    OrderRejected(client_order_id="af-2", reason="too big", source="risk",
                  limit="max_order_notional"),
    Deposit(amount=D("500"), currency="USDT", reason="top-up", command_seq=3, by="ops@host"),
    Control(command="withdraw", amount=D("9"), command_seq=4, by="ops", rejected="no cash"),
    Command(command="redeem", reason="", by="ops", units=D("2"), investor="ann"),
    Subscription(investor="ann", requested="2024-01-01T00:00:00.000000Z", amount=D("1000")),
    Redemption(investor="ann", requested="2024-01-01T00:00:00.000000Z", units=D("3")),
    Reconciled(checked=2, found=1, late=0, dropped=1, open=0, at="2024-01-01T00:00:00Z"),
    End(nav=D("10"), cash=D("5"), fees=D("0.1"), fills=3, positions={"BTC/USDT": D("1")}),
    End(nav=D("10"), cash=D("5"), fees=D("0.1"), fills=3, positions={},
        open_orders=[{"client_order_id": "af-3", "symbol": "BTC/USDT", "side": "sell",
                      "type": "limit", "amount": D("0.1"), "filled": D(0),
                      "remaining": D("0.1"), "limit_price": D("41000")}]),
    Checkpoint(fund="w1", actor="rebalancer", seq=9, head="ab" * 32, at="2024-01-01T00:00:00Z",
               previous="cd" * 32, key="af:0000:1111:2222:3333", signature="c2lnbmVk"),
    Alert(event="rejected", target="ops", actor="rebalancer", title="w1/rebalancer: order "
          "rejected", body="too big", count=3, outcome="failed", attempts=4, error="HTTP 500"),
]


@pytest.mark.parametrize("payload", EXAMPLES, ids=lambda p: type(p).__name__)
def test_each_payload_encodes_and_decodes_to_itself(payload: Payload) -> None:
    text = dumps(payload.to_payload())

    decoded = type(payload).from_payload(loads(text))

    assert dumps(decoded.to_payload()) == text
    if not isinstance(payload, End | Observed):  # mappings decode as their JSON form
        assert decoded == payload
    assert None not in loads(text).values()  # unset optional fields are left out


def test_every_kind_has_its_payload_type() -> None:
    typed = {cls.KIND for cls in (*map(type, EXAMPLES), Start, Valuation)}

    assert typed | {Kind.DECISION} == set(Kind)


def test_payload_types_are_frozen_dataclasses() -> None:
    for payload in EXAMPLES:
        assert dataclasses.is_dataclass(payload)
        first = dataclasses.fields(payload)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(payload, first, "changed")


def test_command_streams_are_named_in_one_place() -> None:
    assert commands_stream("rebalancer") == "rebalancer.commands"
    assert is_commands_stream(commands_stream("a")) and not is_commands_stream("a")
    assert alerts_stream("w1") == "w1.alerts"
    assert is_side_stream(alerts_stream("a")) and is_side_stream(commands_stream("a"))
    assert not is_side_stream("a") and not is_commands_stream(alerts_stream("a"))


def test_the_vocabulary_is_cheap_to_import() -> None:
    code = ("import sys, fund.messages; heavy = [m for m in ('pandas', 'ccxt', 'apscheduler', "
            "'numpy', 'sqlalchemy', 'pydantic') if m in sys.modules]; print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)

    assert done.stdout.strip() == "[]"
