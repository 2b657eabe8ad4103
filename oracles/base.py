"""The interface every oracle implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from fund.messages import Observation
from fund.quick_init import quick_init


class OracleError(Exception):
    """An oracle could not produce data; the message becomes the Observation's error."""


class BlobSink(Protocol):
    """Where an oracle stores large bodies (content-addressed)."""

    def put_blob(self, data: bytes) -> str:
        """Store bytes; return their sha256."""
        ...


@quick_init
@dataclass(frozen=True, slots=True)
class Recorded:
    """What the journal already holds when an oracle runs, decoded from it.

    ``this_wake``: observations recorded earlier in the current wake (an oracle derived
    from another, such as a scorer, reads its source here). ``last``: each oracle's most
    recent observation from earlier wakes (a feed tells what is new since then). Both are
    rebuilt from the journal after a restart, never kept elsewhere.
    """

    this_wake: Mapping[str, Observation] = field(default_factory=dict)
    last: Mapping[str, Observation] = field(default_factory=dict)


NOTHING_RECORDED = Recorded()


class Oracle(ABC):
    """Reads one source of data for a wake. The only place, with adapters, that does I/O."""

    name: str

    @abstractmethod
    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        """Return the data as of ``at`` (JSON-able; Decimals allowed); raise OracleError.

        Bodies too large for an entry go to ``blobs``; list their hashes under the data's
        ``"blobs"`` key so that ``fund verify`` checks them.
        """
