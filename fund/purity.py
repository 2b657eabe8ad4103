"""Catch a handler doing I/O while it runs, with a Python audit hook.

Inside :func:`pure` any attempt to open a data file, connect a socket, resolve a host or
start a process raises :class:`PurityError` (importing code stays allowed). The hook is
installed once per process and costs one flag check per audit event outside handlers.

The guard is per thread: it stops the thread running the handler, not the other threads
of the process (a daemon's other actors, a Dask worker's event loop), which do their own
I/O meanwhile. So a handler that starts a thread of its own can do I/O from it unseen
(Python 3.11 raises no audit event for a new thread); like I/O inside C extensions, that
is what ``fund verify`` with only the journal at hand catches.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import AbstractContextManager
from typing import Any

_CODE_SUFFIXES = (".py", ".pyc", ".so", ".pyd", ".pth", ".pyi")
_FORBIDDEN_PREFIXES = ("socket.", "subprocess.", "os.system", "os.exec", "os.spawn",
                       "os.posix_spawn", "os.remove", "os.rename", "os.unlink", "shutil.",
                       "urllib.", "http.", "sqlite3.connect")


_FILE_MOVES = ("os.rename", "os.replace", "os.remove", "os.unlink")


class PurityError(Exception):
    """A handler tried to do I/O; handlers must be pure functions of their inputs."""


_state = {"installed": False}
_local = threading.local()  # .depth: how many pure() blocks this thread is inside


def _is_code(path: str) -> bool:
    """Imports read sources and write bytecode (through ``*.pyc.<id>`` temporary files)."""
    return path.endswith(_CODE_SUFFIXES) or f"{os.sep}__pycache__{os.sep}" in path


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not getattr(_local, "depth", 0):
        return
    if event == "open":
        if args and isinstance(args[0], int):
            return  # wrapping a descriptor whose own open was already checked
        path = str(args[0]) if args else ""
        if not _is_code(path):
            raise PurityError(f"handler opened {path!r}: handlers may not read files")
    elif event.startswith(_FORBIDDEN_PREFIXES):
        if event.startswith(_FILE_MOVES) and all(_is_code(str(a)) for a in args[:2] if a):
            return  # the import system placing a freshly written .pyc
        raise PurityError(f"handler attempted {event}: handlers may not do I/O")


class _Pure:
    """The guard as a plain context manager: entering and leaving are a counter's step."""

    __slots__ = ()

    def __enter__(self) -> None:
        _local.depth = getattr(_local, "depth", 0) + 1

    def __exit__(self, *exc: object) -> None:
        _local.depth -= 1


_PURE = _Pure()


def pure() -> AbstractContextManager[None]:
    """Run the enclosed block with I/O forbidden (blocks may nest). The audit hook is
    installed at the first call, once per process."""
    if not _state["installed"]:
        sys.addaudithook(_hook)
        _state["installed"] = True
    return _PURE
