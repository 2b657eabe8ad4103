"""A helper process: a new interpreter on this same source tree, calling one function.

The backtest's write-behind store (fund/journal/behind.py) starts its helper here, and
the segmented verifier (fund/verify_split.py) its helpers where it may not fork them. A
new interpreter imports only what its function needs, and nothing of the caller's state
(an open SQLite connection above all) crosses over. It runs in a session of its own, so a Ctrl-C
at the terminal is the caller's to handle, and the caller stops it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import IO

ROOT = str(Path(__file__).resolve().parents[1])  # where this ``fund`` is imported from

_CODE = ("import importlib, sys; sys.path.insert(0, sys.argv[1]); "
         "module, _, name = sys.argv[2].partition(':'); "
         "getattr(importlib.import_module(module), name)(*sys.argv[3:])")


def start_helper(target: str, *args: str, stdin: int | IO[bytes] | None = subprocess.DEVNULL,
                 stderr: int | IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """Start ``target`` (``module:function``) with string ``args`` in a new interpreter;
    its stdout is a pipe to the caller (raises OSError where no process can be had)."""
    return subprocess.Popen([sys.executable, "-c", _CODE, ROOT, target, *args],
                            stdin=stdin, stdout=subprocess.PIPE, stderr=stderr,
                            close_fds=True, start_new_session=True)
