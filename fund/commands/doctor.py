"""``fund doctor CONFIG``: is everything a daemon needs there, before it is started?

Each check prints ``✓ what: detail``, ``✗ what: the problem`` (one line) or ``– what: why
it was not checked``; the exit code is 0 when nothing is wrong and 1 when anything is. It
writes no journal entry (the journal's writability is tried on the lease table, with a
lease of its own that it gives back at once) and places no order (the keys are tried with
a balance query). Secrets are never printed: a key is named by its environment variable,
and anything the exchange says is blanked of them.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fund import secrets
from fund.canonical import format_ts
from fund.clock import WallClock
from fund.config import FundConfig, check_exchange, check_live, load_config
from fund.journal import journal_url, open_journal
from fund.leases import lease
from fund.logs import say
from fund.messages import is_commands_stream

OK, PROBLEM, SKIPPED = "✓", "✗", "–"
MIN_FREE_BYTES = 1 << 30  # less free space than this where the journal lives is a problem
MAX_SKEW_MS = 1000  # a clock further off the exchange's than this is a problem
PROBE_TIMEOUT_MS = 5000  # a short timeout for each request to the exchange
PROBE_LEASE = "~doctor"  # not an actor name (a lease the doctor takes and gives back)


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome: its mark (✓ ✗ –), what was checked, and the one-line detail."""

    mark: str
    what: str
    detail: str

    def line(self) -> str:
        """The printed line, blanked of every known secret."""
        return secrets.redact(f"{self.mark} {self.what}: {self.detail}")


def doctor(config: Path, *, journal: str | None, overrides: Sequence[str], live: bool,
           send_test: bool) -> int:
    """Run every check and print one line each; return 0 if all are good, else 1."""
    problems = 0
    for check in checks(config, journal=journal, overrides=overrides, live=live,
                        send_test=send_test):
        print(check.line(), flush=True)
        problems += check.mark == PROBLEM
    print(f"{problems} problem{'s' if problems != 1 else ''} found" if problems
          else "all good")
    return 1 if problems else 0


def checks(config: Path, *, journal: str | None, overrides: Sequence[str], live: bool,
           send_test: bool) -> Iterator[Check]:
    """The checks, in order; the rest are skipped when the config cannot be loaded."""
    try:
        cfg = _load(config, overrides)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the problem shown
        yield Check(PROBLEM, "config", _why(exc))
        return
    yield Check(OK, "config", f"{config} (fund {cfg.name}, {len(cfg.actors)} "
                              f"actor{'s' if len(cfg.actors) != 1 else ''})")
    from fund.commands.run import journal_target

    target = journal_target(cfg, journal)[0]
    yield _guarded("journal", lambda: _journal(target))
    yield _guarded("disk", lambda: _disk(target))
    client = None
    try:
        client, check = _exchange(cfg)
    except Exception as exc:  # noqa: BLE001 - the exchange's failure is the problem shown
        check = Check(PROBLEM, "exchange", _why(exc))
    yield check
    yield _guarded("clock", lambda: _clock(client)) if client is not None else \
        Check(SKIPPED, "clock", "the exchange cannot be reached")
    yield from _keys(cfg, client, live=live)
    yield from _notify(cfg, send_test=send_test)


def _load(config: Path, overrides: Sequence[str]) -> FundConfig:
    """The config, checked as ``fund run`` checks it (its exchange, its actors' oracles)."""
    from agentfund.oracles.kinds import Live
    from fund.commands.run import _oracles

    cfg = load_config(config, overrides)
    check_exchange(cfg)
    for spec in cfg.actors:
        _oracles(spec, Live(settings=cfg.daemon))
    return cfg


def _why(exc: BaseException) -> str:
    """An error as one line, without the exception's type when it is a known kind."""
    text = say(exc)
    name = type(exc).__name__
    if name in ("UsageError", "ConfigError", "DaemonError", "JournalError") and \
            text.startswith(f"{name}: "):
        return text[len(name) + 2:]
    return text


def _guarded(what: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - the failure is the problem shown
        return Check(PROBLEM, what, _why(exc))


def _sqlite_path(target: str) -> Path | None:
    url = journal_url(target)
    return Path(url.split(":///", 1)[-1]) if url.startswith("sqlite") else None


def _existing(path: Path) -> Path:
    """The path itself or its nearest parent that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _journal(target: str) -> Check:
    """Reachable and writable: a lease taken on the lease table and given back at once."""
    path = _sqlite_path(target)
    if path is not None and not path.exists():
        folder = _existing(path.parent)
        if not os.access(folder, os.W_OK | os.X_OK):
            return Check(PROBLEM, "journal", f"{path} does not exist and {folder} is not "
                                             "writable")
        return Check(OK, "journal", f"{path} is new: fund run creates it ({folder} is "
                                    "writable)")
    with open_journal(target, must_exist=True) as store:
        shown = store.url
        owner = f"doctor:{socket.gethostname()}:{os.getpid()}"
        probe = lease(PROBE_LEASE, owner, WallClock().now())
        left = store.lease(PROBE_LEASE)  # by a doctor that was killed
        if not store.claim(probe, left.owner if left else None):
            return Check(PROBLEM, "journal", f"{shown}: the lease table refused a write")
        store.release(PROBE_LEASE, owner)
        actors = len([p for p in store.processes() if not is_commands_stream(p)])
    return Check(OK, "journal", f"{shown} is reachable and writable ({actors} actor "
                                f"stream{'s' if actors != 1 else ''})")


def _disk(target: str) -> Check:
    path = _sqlite_path(target)
    if path is None:
        return Check(SKIPPED, "disk", "the journal is on a database server: watch its disk "
                                      "there")
    free = shutil.disk_usage(_existing(path.parent)).free
    gib = free / (1 << 30)
    if free < MIN_FREE_BYTES:
        return Check(PROBLEM, "disk", f"only {gib:.2f} GiB free where the journal lives "
                                      f"({_existing(path.parent)})")
    return Check(OK, "disk", f"{gib:.1f} GiB free where the journal lives")


def _exchange(cfg: FundConfig) -> tuple[Any, Check]:
    """The exchange's public API, asked for its time (or its markets), with a short timeout."""
    from agentfund.oracles.exchange_prices import public_client

    settings = cfg.daemon
    client = public_client(settings.exchange_id, urls=settings.exchange_urls,
                           timeout_ms=min(PROBE_TIMEOUT_MS, settings.exchange_timeout_ms),
                           rate_limit=False)
    started = time.monotonic()
    if client.has.get("fetchTime"):
        client.fetch_time()
        asked = "its time"
    else:
        client.load_markets()
        asked = "its markets"
    took = (time.monotonic() - started) * 1000
    return client, Check(OK, "exchange", f"{settings.exchange_id} answered ({asked}) in "
                                         f"{took:.0f} ms")


def _clock(client: Any) -> Check:
    """This machine's clock against the exchange's (to within half the round trip)."""
    if not client.has.get("fetchTime"):
        return Check(SKIPPED, "clock", f"{client.id} does not tell its time")
    before = time.time() * 1000
    server = float(client.fetch_time())
    after = time.time() * 1000
    skew = server - (before + after) / 2
    detail = (f"{abs(skew):.0f} ms {'behind' if skew > 0 else 'ahead of'} the exchange's "
              f"(± {(after - before) / 2:.0f} ms)")
    if abs(skew) > MAX_SKEW_MS:
        return Check(PROBLEM, "clock", f"{detail}: synchronise it (chrony, "
                                       "systemd-timesyncd): signed orders would be refused")
    return Check(OK, "clock", f"{detail}, at {format_ts(WallClock().now())}")


def _keys(cfg: FundConfig, client: Any, *, live: bool) -> Iterator[Check]:
    """The credentials present (named by their variables, never shown) and accepted."""
    if not live:
        yield Check(SKIPPED, "keys", "paper trading needs none (--live checks them)")
        return
    try:
        credentials = check_live(cfg, os.environ)
    except Exception as exc:  # noqa: BLE001 - the missing key is the problem shown
        yield Check(PROBLEM, "keys", _why(exc))
        return
    secrets.register(*credentials.values())
    yield Check(OK, "keys", f"{len(credentials)} credential"
                            f"{'s' if len(credentials) != 1 else ''} set in the environment")
    if client is None:
        yield Check(SKIPPED, "keys accepted", "the exchange cannot be reached")
        return
    for name, value in credentials.items():
        setattr(client, name, value)
    try:
        client.fetch_balance()
    except Exception as exc:  # noqa: BLE001 - the refusal is the problem shown
        yield Check(PROBLEM, "keys accepted", f"the exchange refused a balance query: "
                                              f"{_why(exc)}")
        return
    yield Check(OK, "keys accepted", "the exchange answered a balance query")


def _notify(cfg: FundConfig, *, send_test: bool) -> Iterator[Check]:
    """Each alert target: its URL complete and understood by apprise (and, with
    ``send_test``, a test message sent to it)."""
    notify = getattr(cfg, "notify", None)
    if notify is None or not notify.targets:
        yield Check(SKIPPED, "notify", "no [notify] targets")
        return
    import apprise

    from fund.alerts.sender import ApprisePost

    post = ApprisePost(notify.timeout_s)
    for target in notify.targets:
        what = f"notify {target.name}"
        try:
            url = target.resolve()
        except Exception as exc:  # noqa: BLE001 - the unset variable is the problem shown
            yield Check(PROBLEM, what, _why(exc))
            continue
        if not apprise.Apprise().add(url):
            yield Check(PROBLEM, what, "apprise does not understand this URL")
            continue
        if not send_test:
            yield Check(OK, what, "the URL is understood (--send-test sends a message)")
            continue
        failed = post(url, f"agentfund: test from fund doctor ({cfg.name})",
                      f"A test message from fund doctor on {socket.gethostname()}.")
        yield Check(PROBLEM, what, f"the test message failed: {failed}") if failed else \
            Check(OK, what, "a test message was sent")
