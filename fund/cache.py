"""Where agentfund keeps derived, rebuildable data (score cache, monitor snapshots)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Return ``$AGENTFUND_CACHE``, else ``~/.cache/agentfund``."""
    root = os.environ.get("AGENTFUND_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "agentfund"
