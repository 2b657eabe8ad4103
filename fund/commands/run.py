"""``fund run``: the daemon (paper trading on live prices, or live with ``--live``), for one
fund or several in one process (fund/supervisor.py)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from agentfund.oracles.base import Oracle, OracleError
from agentfund.oracles.kinds import Live, build
from fund.actor import ActorSpec
from fund.commands.outputs import new_journal, slug
from fund.config import FundConfig, check_exchange, check_live, load_config
from fund.daemon import Daemon, DaemonError
from fund.errors import UsageError
from fund.exchange.base import Adapter
from fund.supervisor import Fund, Supervisor


def run(*, config: Path | Sequence[Path], journal: str | None, overrides: Sequence[str],
        once: bool, live: bool) -> int:
    """Start the daemon for one fund or several (or one round of wakes with ``once``);
    return the exit code. ``config``: TOML files, or directories of them."""
    paths = config_files([config] if isinstance(config, Path) else config)
    if journal is not None and len(paths) > 1:
        raise UsageError("--journal names one journal: with several configs, set "
                         "[daemon] journal in each (default runs/NAME/journal.db)")
    funds = [_fund(path, journal, overrides, live) for path in paths]
    names = [fund.name for fund in funds]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise UsageError(f"two configs name the fund {', '.join(twice)}: fund names must "
                         "differ within one daemon")
    with Supervisor(funds) as supervisor:
        if once:
            supervisor.run_once()
        else:
            supervisor.open_all()
            supervisor.serve()
    return 0


def config_files(paths: Sequence[Path]) -> list[Path]:
    """The config files named: each file, and the ``*.toml`` files of each directory."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(path.glob("*.toml"))
            if not inside:
                raise UsageError(f"{path}: a directory with no .toml config in it")
            found.extend(inside)
        else:
            found.append(path)
    return found


def journal_target(cfg: FundConfig, journal: str | None) -> tuple[str, Path | None]:
    """The fund's journal (``--journal``, else ``[daemon] journal``, else
    runs/NAME/journal.db) and the folder to create for the default."""
    target = journal or cfg.daemon.journal
    if target is not None:
        return target, None
    folder = Path("runs") / slug(cfg.name)
    return str(folder / "journal.db"), folder


def _fund(path: Path, journal: str | None, overrides: Sequence[str], live: bool) -> Fund:
    """Load and check one config (every error here stops the command: nothing runs yet)."""
    cfg = load_config(path, overrides)
    check_exchange(cfg)
    venue = _venue(cfg) if live else None
    # every actor's oracles, built (and so checked) before the journal is opened
    oracles = {spec.actor_id: _oracles(spec, Live(settings=cfg.daemon)) for spec in cfg.actors}
    target, folder = journal_target(cfg, journal)

    def opener(stack: ExitStack) -> Daemon:
        store = stack.enter_context(new_journal(target, folder))
        return Daemon(cfg, store, cfg.daemon, oracles=oracles, venue=venue)

    return Fund(name=cfg.name, actors=len(cfg.actors), opener=opener)


def _oracles(spec: ActorSpec, live: Live) -> dict[str, Oracle]:
    try:
        return build(spec.declared(), tuple(spec.markets), live)
    except OracleError as exc:
        raise DaemonError(f"actors.{spec.actor_id}: {exc}") from None


def _venue(config: FundConfig) -> Adapter:
    """The live exchange adapter, with the credentials read from the environment variables
    named in [exchange] (the exchange, its order kinds and credentials checked first)."""
    from fund.exchange.ccxt_adapter import CcxtAdapter

    credentials = check_live(config, os.environ)
    settings = config.daemon
    return CcxtAdapter(exchange_id=settings.exchange_id, api_key=credentials["apiKey"],
                       secret=credentials["secret"], password=credentials.get("password"),
                       uid=credentials.get("uid"), urls=settings.exchange_urls,
                       timeout_ms=settings.exchange_timeout_ms,
                       validity_ms=settings.order_validity_ms)
