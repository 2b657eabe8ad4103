"""The daemon's log: one JSON line per event on stderr, with every known secret blanked."""

from __future__ import annotations

import json
import sys
from typing import Any

from fund import secrets


def json_log(event: str, **fields: Any) -> None:
    """Write one structured log line (JSON) to stderr, with every known secret blanked."""
    line = json.dumps({"event": event, **fields}, default=str)
    print(secrets.redact(line), file=sys.stderr, flush=True)


def say(exc: BaseException) -> str:
    """One line about an error, for a log line or a hold reason."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return secrets.redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300]
