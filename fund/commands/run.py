"""``fund run``: the daemon (paper trading on live prices)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from fund.config import load_config
from fund.daemon import Daemon, live_oracles
from fund.errors import UsageError
from fund.journal import journal_url, open_journal


def run(*, config: Path, journal: str | None, overrides: Sequence[str], once: bool,
        live: bool) -> int:
    """Start the daemon (or one round of wakes with ``once``); return the exit code."""
    if live:
        raise UsageError("--live is not available yet: live orders need crash reconciliation, "
                         "which comes next; run without --live to paper-trade on live prices")
    cfg = load_config(config, overrides)
    target = journal or cfg.daemon.journal
    if target is None:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", cfg.name).strip("-") or "fund"
        folder = Path("runs") / slug
        folder.mkdir(parents=True, exist_ok=True)
        target = str(folder / "journal.db")
    store = open_journal(journal_url(target))
    try:
        daemon = Daemon(cfg, store, cfg.daemon, live_oracles)
        if once:
            daemon.run_once()
        else:
            daemon.serve()
    finally:
        store.close()
    return 0
