"""Secrets known to this process, and the one function that blanks them out of text.

Credentials are read from the environment (``fund run --live``) and handed to the
exchange client; they must never reach a log line, a journal entry, an export or the UI.
Exchanges echo them back (binance's 401 names the API key it refused), so every text that
came from outside and is about to be logged or journaled goes through :func:`redact`.
"""

from __future__ import annotations

import threading

MASK = "***"
_MIN_LENGTH = 4  # shorter strings are too common to blank out anywhere they appear
_known: set[str] = set()
_lock = threading.Lock()


def register(*secrets: str) -> None:
    """Remember secrets so that :func:`redact` blanks them out from now on."""
    with _lock:
        _known.update(s for s in secrets if s and len(s) >= _MIN_LENGTH)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``***``."""
    with _lock:
        secrets = sorted(_known, key=len, reverse=True)  # a secret inside another goes last
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
