"""An actor's inbox: the operator's commands, queued in its command stream by the CLI and
applied by the daemon that runs it, each recorded in the actor's own stream.

``pause``/``resume``/``kill`` become Control entries; ``deposit``/``withdraw`` Deposit
entries (a withdrawal beyond the cash is refused on the record); ``subscribe``/``redeem``
the investor's request, dealt at the next valuation point. Anything else is recorded as
refused. The daemon reads only commands after the last one its actor's stream records.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from fund.canonical import format_ts, loads
from fund.journal import EntryFilter, Journal
from fund.messages import (
    CONTROL,
    DEPOSIT,
    Control,
    Deposit,
    Redemption,
    Subscription,
    commands_stream,
)
from fund.runtime import ActorRuntime


def last_applied(journal: Journal, actor_id: str) -> int:
    """The sequence number of the last command the actor's stream records as applied."""
    applied = 0
    for entry in journal.read(actor_id, EntryFilter(kinds=(CONTROL, DEPOSIT))):
        applied = max(applied, loads(entry.payload).get("command_seq", 0))
    return applied


def queued(journal: Journal, actor_id: str, after: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """The commands queued after command ``after``, with their numbers."""
    for entry in journal.read(commands_stream(actor_id), EntryFilter(first_seq=after + 1)):
        yield entry.seq, loads(entry.payload)


def apply(runtime: ActorRuntime, seq: int, command: Mapping[str, Any]) -> None:
    """Record one command in the actor's stream, as applied or as refused."""
    name = command["command"]
    note = {"command_seq": seq, "by": command.get("by", "")}
    reason = command.get("reason", "")
    if name in ("pause", "resume", "kill"):
        runtime.command(Control(command=name, reason=reason, **note))
    elif name in ("deposit", "withdraw"):
        _move_cash(runtime, name, Decimal(command["amount"]), reason, note)
    elif name in ("subscribe", "redeem") and runtime.core.register is not None:
        cls = Subscription if name == "subscribe" else Redemption
        runtime.request(cls(investor=command["investor"], reason=reason,
                            requested=format_ts(runtime.clock.now()),
                            amount=_size(command, "amount"), units=_size(command, "units"),
                            **note))
    elif name in ("subscribe", "redeem"):
        runtime.command(Control(command=name, **note,
                                rejected="this actor keeps no investor accounts"))
    else:
        runtime.command(Control(command=name, rejected="unknown command", **note))


def _size(command: Mapping[str, Any], key: str) -> Decimal | None:
    return Decimal(command[key]) if key in command else None


def _move_cash(runtime: ActorRuntime, name: str, amount: Decimal, reason: str,
               note: dict[str, Any]) -> None:
    cash, quote = runtime.core.ledger.cash, runtime.spec.terms.quote
    if name == "withdraw" and amount > cash:
        runtime.command(Control(command=name, amount=amount, **note,
                                rejected=f"only {cash} {quote} in cash"))
        return
    runtime.command(Deposit(amount=amount if name == "deposit" else -amount,
                            currency=quote, reason=reason or name, **note))
