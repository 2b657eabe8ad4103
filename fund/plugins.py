"""Loading user code named in config as ``package.module:Name``.

Where a module is looked for, first to last: the directories a caller names (the config
file's directory, for the strategies and scorers a config names), the working directory,
the directories in ``AGENTFUND_PATH`` (separated like ``PATH``), then the installed
packages. The same with ``python -m fund`` and the ``fund`` command, which differ in
whether the working directory is on Python's own path. The built-ins are installed as
``agentfund.*``, so a user's folder named ``strategies`` or ``oracles`` shadows nothing.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SEARCH_PATH_ENV = "AGENTFUND_PATH"
_lock = threading.Lock()


class PluginError(Exception):
    """A ``package.module:Name`` reference could not be loaded."""


def search_path(first: Sequence[Path] = ()) -> list[str]:
    """The directories user code is looked for in, before the installed packages."""
    extra = [p for p in os.environ.get(SEARCH_PATH_ENV, "").split(os.pathsep) if p]
    found: list[str] = []
    places: list[str | Path] = [*first, Path.cwd(), *extra]
    for place in places:
        text = str(Path(place).resolve())
        if text not in found:
            found.append(text)
    return found


@contextmanager
def _looking_in(directories: list[str]) -> Iterator[None]:
    with _lock:
        saved = list(sys.path)
        sys.path[:0] = [d for d in directories if d not in sys.path]
        try:
            yield
        finally:
            sys.path[:] = saved


def import_object(reference: str, search: Sequence[Path] = ()) -> Any:
    """Import and return the object a ``package.module:Name`` reference names, looking in
    ``search`` (then the working directory and ``AGENTFUND_PATH``) before the installed
    packages."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise PluginError(f"{reference!r} is not of the form package.module:Name")
    try:
        with _looking_in(search_path(search)):
            module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"cannot import {reference!r}: {exc}") from None
