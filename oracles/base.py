"""The interface every oracle implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, Protocol


class OracleError(Exception):
    """An oracle could not produce data; the message becomes the Observation's error."""


class BlobSink(Protocol):
    """Where an oracle stores large bodies (content-addressed)."""

    def put_blob(self, data: bytes) -> str:
        """Store bytes; return their sha256."""
        ...


class Oracle(ABC):
    """Reads one source of data for a wake. The only place, with adapters, that does I/O."""

    name: str

    @abstractmethod
    def observe(self, at: datetime, blobs: BlobSink) -> dict[str, Any]:
        """Return the data as of ``at`` (JSON-able; Decimals allowed); raise OracleError."""
