"""Catch a handler doing I/O while it runs, with a Python audit hook.

Inside :func:`pure` any attempt to open a data file, connect a socket, resolve a host or
start a process raises :class:`PurityError` (importing code stays allowed). The hook is
installed once per process and costs one flag check per audit event outside handlers.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_CODE_SUFFIXES = (".py", ".pyc", ".so", ".pyd", ".pth", ".pyi")
_FORBIDDEN_PREFIXES = ("socket.", "subprocess.", "os.system", "os.exec", "os.spawn",
                       "os.posix_spawn", "os.remove", "os.rename", "os.unlink", "shutil.",
                       "urllib.", "http.", "sqlite3.connect")


class PurityError(Exception):
    """A handler tried to do I/O; handlers must be pure functions of their inputs."""


_state = {"active": False, "installed": False}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _state["active"]:
        return
    if event == "open":
        path = str(args[0]) if args else ""
        if path.endswith(_CODE_SUFFIXES):
            return
        _state["active"] = False  # let the error machinery work
        raise PurityError(f"handler opened {path!r}: handlers may not read files")
    if event.startswith(_FORBIDDEN_PREFIXES):
        _state["active"] = False
        raise PurityError(f"handler attempted {event}: handlers may not do I/O")


@contextmanager
def pure() -> Iterator[None]:
    """Run the enclosed block with I/O forbidden."""
    if not _state["installed"]:
        sys.addaudithook(_hook)
        _state["installed"] = True
    _state["active"] = True
    try:
        yield
    finally:
        _state["active"] = False
