"""``fund run``: the daemon (paper trading on live prices, or live with ``--live``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from agentfund.oracles.base import Oracle, OracleError
from agentfund.oracles.kinds import Live, build
from fund.actor import ActorSpec
from fund.commands.outputs import new_journal, slug
from fund.config import DaemonSettings, check_exchange, load_config
from fund.daemon import Daemon, DaemonError
from fund.errors import UsageError
from fund.exchange.base import Adapter


def run(*, config: Path, journal: str | None, overrides: Sequence[str], once: bool,
        live: bool) -> int:
    """Start the daemon (or one round of wakes with ``once``); return the exit code."""
    cfg = load_config(config, overrides)
    check_exchange(cfg)
    venue = _venue(cfg.daemon) if live else None
    # every actor's oracles, built (and so checked) before the journal is opened
    oracles = {spec.actor_id: _oracles(spec, Live(settings=cfg.daemon)) for spec in cfg.actors}
    target, folder = journal or cfg.daemon.journal, None
    if target is None:
        folder = Path("runs") / slug(cfg.name)
        target = str(folder / "journal.db")
    with new_journal(target, folder) as store:
        daemon = Daemon(cfg, store, cfg.daemon, oracles=oracles, venue=venue)
        if once:
            daemon.run_once()
        else:
            daemon.serve()
    return 0


def _oracles(spec: ActorSpec, live: Live) -> dict[str, Oracle]:
    try:
        return build(spec.declared(), tuple(spec.markets), live)
    except OracleError as exc:
        raise DaemonError(f"actors.{spec.actor_id}: {exc}") from None


def _venue(settings: DaemonSettings) -> Adapter:
    """The live exchange adapter, with keys read from the environment variables named."""
    from fund.exchange.ccxt_adapter import CcxtAdapter

    missing = [n for n in (settings.api_key_env, settings.secret_env) if not os.environ.get(n)]
    if missing:
        raise UsageError(f"--live needs the API key and secret in the environment: "
                         f"set {' and '.join(missing)} (names from [exchange] in the config)")
    return CcxtAdapter(exchange_id=settings.exchange_id,
                       api_key=os.environ[settings.api_key_env],
                       secret=os.environ[settings.secret_env], urls=settings.exchange_urls,
                       timeout_ms=settings.exchange_timeout_ms,
                       validity_ms=settings.order_validity_ms)
