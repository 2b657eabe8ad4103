"""The daemon's log: one JSON line per event on stderr, with every known secret blanked."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from contextvars import ContextVar
from typing import Any

from fund import secrets

_WRITING = threading.Lock()
FUND: ContextVar[str | None] = ContextVar("FUND", default=None)  # set per job: many funds
Listener = Callable[[str, Mapping[str, Any]], None]
_listeners: list[Listener] = []  # the daemon's alerts hear its log (fund/alerts/watcher.py)


def listen(listener: Listener) -> None:
    """Hand every later log line's event and fields to ``listener`` too (in the caller's
    thread: it must return at once, and what it raises is ignored)."""
    _listeners.append(listener)


def unlisten(listener: Listener) -> None:
    """Stop handing log lines to ``listener``."""
    if listener in _listeners:
        _listeners.remove(listener)


def json_log(event: str, **fields: Any) -> None:
    """Write one structured log line (JSON) to stderr, with every known secret blanked."""
    fund = FUND.get()
    line = json.dumps({"event": event, **({"fund": fund} if fund else {}), **fields},
                      default=str)
    with _WRITING:  # whole lines: the wakes of many actors log from many threads
        sys.stderr.write(secrets.redact(line) + "\n")
        sys.stderr.flush()
    for listener in list(_listeners):
        with suppress(Exception):  # a listener never stops the daemon's log
            listener(event, fields)


def say(exc: BaseException) -> str:
    """One line about an error, for a log line or a hold reason."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return secrets.redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300]
