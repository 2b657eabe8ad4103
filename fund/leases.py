"""Leases: which daemon writes an actor's stream (operational state beside the journal,
not hash-chained). A daemon claims each of its actors, renews the claim at every
heartbeat, and gives it back on a clean stop; a claim not renewed for :data:`LEASE_TTL`, or
held by a process on this host that no longer runs, may be taken over."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from fund.canonical import dumps, format_ts, parse_ts
from fund.journal import Journal, Lease

LEASE_TTL = timedelta(seconds=15)  # a lease not renewed for this long may be taken over
HEARTBEAT_EVERY_S = 5


class LeaseHeld(Exception):
    """Another daemon runs the actor; the message says which and what to do."""


def owner_id() -> str:
    """This daemon's identity in leases: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dead_here(owner: str) -> bool:
    """Whether a lease owner is a process on this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def lease(actor_id: str, owner: str, now: datetime, **info: Any) -> Lease:
    """A lease on ``actor_id`` for ``owner``, renewed ``now``, with what it says of it."""
    return Lease(process_id=actor_id, owner=owner, heartbeat=format_ts(now),
                 info=dumps({"pid": os.getpid(), "host": socket.gethostname(), **info}))


def claim(journal: Journal, actor_id: str, owner: str, now: datetime) -> None:
    """Become the one writer of the actor's stream, or raise LeaseHeld saying who is."""
    current = journal.lease(actor_id)
    if current is not None and current.owner != owner:
        age = now - parse_ts(current.heartbeat)
        if age < LEASE_TTL and not dead_here(current.owner):
            raise LeaseHeld(
                f"actor {actor_id} is being run by daemon {current.owner} (heartbeat "
                f"{age.total_seconds():.0f} s ago); stop it first, or wait "
                f"{LEASE_TTL.total_seconds():.0f} s after it died")
    if not journal.claim(lease(actor_id, owner, now), current.owner if current else None):
        raise LeaseHeld(f"actor {actor_id}: another daemon claimed it at the same moment")
