"""``fund ui``: start the read-only monitoring UI (Streamlit) on a journal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fund.errors import UsageError
from fund.journal import Journal, journal_url, open_journal

APP = Path(__file__).resolve().parent.parent / "monitor" / "app.py"


def streamlit_command(journal: str | None, runs: Path, *, address: str, port: int,
                      key: Path | None = None) -> list[str]:
    """The command line that serves the UI (headless: no browser is opened); ``key``: the
    manager's public key the Journal page checks checkpoints with."""
    command = [sys.executable, "-m", "streamlit", "run", str(APP),
               "--server.headless=true", f"--server.address={address}",
               f"--server.port={port}", "--browser.gatherUsageStats=false",
               "--server.fileWatcherType=none", "--client.toolbarMode=minimal",
               "--", "--runs", str(runs)]
    if journal:
        command += ["--journal", journal]
    if key is not None:
        command += ["--key", str(key)]
    return command


def prepare(store: Journal) -> None:
    """Read every actor's stream once, checking its chain, and cache the snapshots, so the
    first page view is fast however long the journal (later views read only new entries).
    A stream whose projection checkpoint is at its head (left by the backtest or daemon
    that wrote it, or by an earlier start) has nothing to read: the server's first page
    view loads the checkpoint, checked against the chain as always."""
    from fund.messages import is_side_stream
    from fund.monitor.store import at_head, snapshot

    for actor in store.processes():
        if is_side_stream(actor) or at_head(store, actor):
            continue
        head = store.head(actor)  # its seq is the stream's length (one seek, not a count)
        total = head.seq if head is not None else 0

        def progress(done: int, actor: str = actor, total: int = total) -> None:
            print(f"fund ui: {actor}: read {done:,} of {total:,} entries", file=sys.stderr,
                  flush=True)

        snap = snapshot(store, actor, progress if total > 100_000 else None)
        if not snap.trusted:
            print(f"fund ui: warning: {snap.chain_error}", file=sys.stderr, flush=True)


def ui(journal: str | None, runs: Path, *, address: str, port: int,
       key: Path | None = None) -> int:
    """Check the journal opens, then serve the UI until interrupted."""
    target = journal_url(journal) if journal else None
    if target:
        with open_journal(target, must_exist=True) as store:
            prepare(store)  # fails now, clearly, rather than in the browser
    if key is not None:
        from fund.attest import AttestError, load_public

        try:
            load_public(key)
        except AttestError as exc:
            raise UsageError(str(exc)) from None
    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: not a TCP port")
    shown = "" if target is None else open_journal(target).url
    print(f"fund ui: http://{address}:{port}  (journal {shown or 'chosen in the page'}; "
          "Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        return subprocess.call(streamlit_command(target, runs, address=address, port=port,
                                                 key=key))
    except KeyboardInterrupt:
        return 0
