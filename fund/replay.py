"""The replayer: a stream fed to a fresh actor core, in order — the one reader of a wake.

``fund verify`` replays strictly: everything the core says a wake must write (the Halt,
the Decision, its OrderIntents, and each order's events where they follow from the journal)
must equal the recorded entry byte for byte, and recorded inputs pass the checks it is
given. Resuming an actor (the daemon's restart, a held actor's recovery) replays trustingly:
the same fold and the same decisions (so the handler's own state and the NAV peak are
rebuilt), no comparisons. Neither restates the wake: its steps are the core's
(fund/actor.py), and this module only says where in the stream each is due.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from fund.actor import ActorCore, ActorSpec, Plan
from fund.canonical import dumps, parse_ts
from fund.exchange.base import Event, PlacedOrder
from fund.journal.base import Entry
from fund.messages import (
    DECISION,
    END,
    EXCHANGE_EVENTS,
    HALT,
    OBSERVATION,
    ORDER_INTENT,
    START,
    VALUATION,
    WAKE,
)

InputCheck = Callable[[Entry, Mapping[str, Any], ActorCore], None]
"""A check of a recorded input, run before the entry is folded in (verify's)."""


class Divergence(Exception):
    """The journal does not verify at a sequence number."""

    def __init__(self, seq: int, message: str) -> None:
        super().__init__(f"entry {seq}: {message}")
        self.seq = seq


class Replayer:
    """Feeds one stream's entries, in order, to a core rebuilt from its Start entry."""

    def __init__(self, *, strict: bool, check_input: InputCheck | None = None,
                 decides: bool = True) -> None:
        """``decides=False`` (trusting only): fold the books and the NAV peak without
        running the handler, whose state stays as it is (fund/verify_split.py)."""
        self.strict = strict
        self.decides = decides
        self.due = True  # trusting: the wake's plan is still to come
        self.check_input = check_input
        self.core: ActorCore | None = None
        self.plan: Plan | None = None  # the current wake's, once its observations are in
        self.intents: deque[str] = deque()  # the intents the decision calls for, as text
        self.orders: deque[PlacedOrder] = deque()  # its orders still to be answered
        self.events: deque[Event] = deque()  # the current order's derived events
        self.index = 0  # the current order's position in its wake
        self.matching = False  # a wake's observations are in: its resting orders' events due

    def feed(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        """Consume the next entry of the stream; raise Divergence where it cannot be so."""
        if entry.kind == START:
            self._start(entry, payload)
            return
        core = self.core
        if core is None:
            raise Divergence(entry.seq, "the stream does not begin with a Start entry")
        if self.strict:
            self._expect(core, entry, payload)
        else:
            self._trust(core, entry)
        if self.check_input is not None:
            self.check_input(entry, payload, core)
        core.apply(entry.seq, entry.kind, payload)

    def at_rest(self) -> bool:
        """Whether nothing is due before a next Wake (no intent, event or resting orders'
        matching still to come): where a replay may hand over to another."""
        return not (self.matching or self.intents or self.orders or self.events)

    def finish(self, last_seq: int) -> None:
        """The stream ended: nothing the core called for may be missing."""
        if self.intents or self.events:
            raise Divergence(last_seq + 1, f"journal ends where the replay expects "
                                           f"{self._expected()}")

    # --- trusting: the same decisions, no comparisons -----------------------------------------

    def _trust(self, core: ActorCore, entry: Entry) -> None:
        if entry.kind == WAKE:
            self.plan, self.due = None, True
        elif entry.kind in (HALT, DECISION) and self.due:
            self.due = False
            if self.decides:
                self.plan = core.plan()  # the handler's state and the NAV peak move on
            else:
                core.assess()  # the NAV peak only

    # --- strict: what the core calls for, byte for byte ---------------------------------------

    def _start(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        if entry.seq != 1 or self.core is not None:
            raise Divergence(entry.seq, "a second Start entry")
        spec = ActorSpec.from_start(payload)
        if spec.actor_id != entry.process_id:
            raise Divergence(entry.seq, f"Start names actor {spec.actor_id!r}, stream is "
                                        f"{entry.process_id!r}")
        self.core = ActorCore(spec)

    def _expect(self, core: ActorCore, entry: Entry, payload: Mapping[str, Any]) -> None:
        kind = entry.kind
        if self.matching and kind != OBSERVATION:  # after the observations, before the plan
            self.matching = False
            self.events.extend(core.resting())
        if kind in (WAKE, HALT, DECISION, END) and (self.intents or self.orders or self.events):
            raise Divergence(entry.seq, f"{kind} where the replay expects {self._expected()}")
        if kind == WAKE:
            self.plan = None
            self.matching = True
        elif kind in (HALT, DECISION) and self.plan is None:
            self.plan = self._planned(core, entry)
        if kind == DECISION:
            self._decision(core, entry)
        elif kind == ORDER_INTENT:
            self._intent(entry)
        elif kind in EXCHANGE_EVENTS:
            self._event(core, entry)
        elif kind == VALUATION:
            if core.register is None:
                raise Divergence(entry.seq, "a Valuation in a fund that keeps no investor "
                                            "accounts")
            self._same(entry, core.valuation(parse_ts(payload["at"])).to_payload(),
                       "valuation differs from replay")
        elif kind == END:
            self._same(entry, core.end().to_payload(), "End differs from the books")

    def _planned(self, core: ActorCore, entry: Entry) -> Plan:
        """At the first entry after a wake's observations: was a Halt due here?"""
        plan = core.plan()
        if entry.kind == HALT and plan.halt is None:
            raise Divergence(entry.seq, "a Halt no risk limit calls for")
        if entry.kind == HALT and plan.halt is not None:
            self._same(entry, plan.halt.to_payload(), "Halt differs from replay")
        if entry.kind == DECISION and plan.halt is not None:
            raise Divergence(entry.seq, f"the drawdown limit called for a Halt before this "
                                        f"decision ({dumps(plan.halt.to_payload())})")
        return plan

    def _decision(self, core: ActorCore, entry: Entry) -> None:
        assert self.plan is not None
        if self.plan.text != entry.payload:
            raise Divergence(entry.seq, f"decision differs from replay: recorded "
                                        f"{entry.payload}, replay {self.plan.text}")
        self.index = 0
        for offset, intent in enumerate(self.plan.decision.intents, 1):
            placed = core.intent(intent, entry.seq, entry.seq + offset)
            self.intents.append(dumps(placed.to_payload()))
            if core.fills is not None:  # a live venue's events are inputs, not re-derived
                self.orders.append(core.placed(placed))

    def _intent(self, entry: Entry) -> None:
        if not self.intents:
            raise Divergence(entry.seq, "an OrderIntent the decision did not produce")
        expected = self.intents.popleft()
        if entry.payload != expected:
            raise Divergence(entry.seq, f"intent differs from replay: recorded "
                                        f"{entry.payload}, replay {expected}")

    def _event(self, core: ActorCore, entry: Entry) -> None:
        if core.fills is None:
            return  # a live venue's events are inputs: folded, not re-derived
        if self.intents:
            raise Divergence(entry.seq, f"{entry.kind} before all intents were recorded")
        if not self.events and self.orders:
            derived = core.outcome(self.index, self.orders.popleft())
            self.index += 1
            self.events.extend(derived or ())
        if not self.events:
            raise Divergence(entry.seq, f"an {entry.kind} no order explains")
        kind, event = self.events.popleft()
        text = dumps(event)
        if kind != entry.kind or text != entry.payload:
            raise Divergence(entry.seq, f"exchange event differs from replay: recorded "
                                        f"{entry.kind} {entry.payload}, replay {kind} {text}")

    @staticmethod
    def _same(entry: Entry, payload: Mapping[str, Any], what: str) -> None:
        replayed = dumps(payload)
        if replayed != entry.payload:
            raise Divergence(entry.seq, f"{what}: recorded {entry.payload}, replay {replayed}")

    def _expected(self) -> str:
        if self.intents:
            return f"{len(self.intents)} more OrderIntent(s)"
        if self.events and not self.orders:
            kind, event = self.events[0]
            return f"{len(self.events)} more event(s) of resting orders, next {kind} {dumps(event)}"
        return "the exchange's events for the orders just placed"
