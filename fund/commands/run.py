"""``fund run``: the daemon (paper trading on live prices)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from fund.config import DaemonSettings, load_config
from fund.daemon import Daemon, live_oracles
from fund.errors import UsageError
from fund.exchange.base import Adapter
from fund.journal import journal_url, open_journal


def run(*, config: Path, journal: str | None, overrides: Sequence[str], once: bool,
        live: bool) -> int:
    """Start the daemon (or one round of wakes with ``once``); return the exit code."""
    cfg = load_config(config, overrides)
    venue = _venue(cfg.daemon) if live else None
    target = journal or cfg.daemon.journal
    if target is None:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", cfg.name).strip("-") or "fund"
        folder = Path("runs") / slug
        folder.mkdir(parents=True, exist_ok=True)
        target = str(folder / "journal.db")
    store = open_journal(journal_url(target))
    try:
        daemon = Daemon(cfg, store, cfg.daemon, live_oracles, venue=venue)
        if once:
            daemon.run_once()
        else:
            daemon.serve()
    finally:
        store.close()
    return 0


def _venue(settings: DaemonSettings) -> Adapter:
    """The live exchange adapter, with keys read from the environment variables named."""
    from fund.exchange.ccxt_adapter import CcxtAdapter

    missing = [n for n in (settings.api_key_env, settings.secret_env) if not os.environ.get(n)]
    if missing:
        raise UsageError(f"--live needs the API key and secret in the environment: "
                         f"set {' and '.join(missing)} (names from [exchange] in the config)")
    return CcxtAdapter(exchange_id=settings.exchange_id,
                       api_key=os.environ[settings.api_key_env],
                       secret=os.environ[settings.secret_env], urls=settings.exchange_urls)
