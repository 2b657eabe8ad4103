"""An actor's accounting configuration, as journaled in its Start entry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fund.accounting.register import Terms


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountingSpec:
    """Investor accounts for an actor: terms, the valuation schedule, who seeded it."""

    terms: Terms
    valuation_cron: str = "0 0 * * *"
    seed_investor: str = "founder"

    def to_payload(self) -> dict[str, Any]:
        """The journaled form."""
        return {"terms": self.terms.to_payload(), "valuation_cron": self.valuation_cron,
                "seed_investor": self.seed_investor}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> AccountingSpec:
        """Read the journaled form back."""
        return cls(terms=Terms.from_payload(payload["terms"]),
                   valuation_cron=str(payload["valuation_cron"]),
                   seed_investor=str(payload["seed_investor"]))
