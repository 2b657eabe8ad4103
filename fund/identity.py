"""Code identity: the sha256 of the code that decided, as a Start entry records it.

For a module of this project or a user's own file: the sha256 of the module's source. For
a class from an installed distribution (a packaged plugin): the sha256 of the
distribution's RECORD (the list of every file it installed, each with its own hash), with
its name and version. ``fund verify`` compares what a journal recorded with the code
installed where it runs, and refuses a replay with other code unless told to allow it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from importlib import metadata
from typing import Any

UNKNOWN = "unknown"
_THIS = "agentfund"


def code_identity(obj: Any) -> str:
    """The identity of the code that defines ``obj`` (a class or a module)."""
    module = obj if inspect.ismodule(obj) else inspect.getmodule(obj)
    if module is None:
        return UNKNOWN
    packaged = _distribution(module.__name__.partition(".")[0])
    if packaged is not None:
        return packaged
    try:
        text = inspect.getsource(module)
    except (OSError, TypeError):
        return UNKNOWN
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def _distribution(top: str) -> str | None:
    """``dist:NAME==VERSION:SHA256(RECORD)`` for a package installed by a distribution
    other than agentfund (whose own modules are identified by their source)."""
    if top in _own_packages():  # without scanning every installed distribution
        return None
    names = metadata.packages_distributions().get(top, [])
    for name in names:
        if name.lower() == _THIS:
            return None
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        record = dist.read_text("RECORD")
        if record:
            digest = hashlib.sha256(record.encode()).hexdigest()
            return f"dist:{name}=={dist.version}:{digest}"
    return None


@functools.cache
def _own_packages() -> frozenset[str]:
    """The top-level packages agentfund's own distribution installs (none when it is not
    installed: its modules are then found by the scan, as anyone's)."""
    try:
        listed = metadata.distribution(_THIS).read_text("top_level.txt") or ""
    except metadata.PackageNotFoundError:
        return frozenset()
    return frozenset(listed.split())
