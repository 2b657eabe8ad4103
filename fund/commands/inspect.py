"""``fund verify`` and ``fund journal show|export``: read a journal, change nothing."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fund.canonical import format_ts
from fund.errors import RunFailed, UsageError
from fund.journal import Entry, EntryFilter, Journal, JournalError, open_journal
from fund.journal.bundle import referenced_blobs
from fund.journal.jsonl import blob_lines, export_line  # the UI's export uses it too

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def _streams(journal: Journal, actors: Sequence[str]) -> list[str]:
    known = journal.processes()
    if not known:
        raise JournalError(f"{journal.url}: the journal is empty")
    missing = [a for a in actors if a not in known]
    if missing:
        raise JournalError(f"{journal.url}: no actor {', '.join(missing)} "
                           f"(actors: {', '.join(known)})")
    return list(actors) or known


def verify(target: str, *, actors: Sequence[str], head: str | None,
           allow_code_change: bool = False, key: Path | None = None,
           heads: str | None = None, proof: Path = Path("equivocation-proof.json"),
           rescore: bool = False, jobs: int | None = None) -> int:
    """Verify every (or the named) stream; print one line each; 0 if all verify.

    With ``rescore``, the scorers of derived observations (a model) are run again on every
    recorded text and the agreement is printed per stream (fund/rescore.py).

    With the manager's public ``key``, every checkpoint's signature is checked, and with
    ``heads`` (a feed's URL or file) the journal is held to what was published: no
    published head rewritten or cut off, and no second history signed (equivocation,
    whose ``proof`` is written for ``fund verify-proof``).

    ``jobs``: processes replaying a long stream's segments at once (fund/verify_split.py;
    default: the CPUs, up to 4).
    """
    from fund.verify_split import default_jobs

    jobs = default_jobs() if jobs is None else jobs

    if heads is not None and key is None:
        raise UsageError("--heads needs --key (the manager's public key that signed them)")
    public = _public_key(key)
    with open_journal(target, must_exist=True) as journal:
        streams = _streams(journal, actors)
        if head is not None and len(streams) != 1:
            raise JournalError("--head needs exactly one actor (use --actor)")
        from fund.verify import verify_stream

        gc.freeze()  # what is loaded lives on (and a forked helper shares it): the collector
        # need not walk it again while the replay makes and drops its millions of objects
        failures = []
        for stream in streams:
            report = verify_stream(journal, stream, head, allow_code_change=allow_code_change,
                                   key=public, jobs=jobs)
            if report.ok:
                print(report.line())
            else:
                failures.append(report.line())
        if key is not None:
            failures += _against_published(journal, key, heads, proof)
        if rescore:
            failures += _rescore(journal, streams)
        journal.check_intact()  # a bundle damaged in transit: bad input, not a failure
        if failures:
            raise RunFailed("; ".join(failures))
    return 0


def _rescore(journal: Journal, streams: Sequence[str]) -> list[str]:
    """Score the recorded texts again, printing the agreement; the failures to do so."""
    from agentfund.oracles.base import OracleError
    from fund.rescore import rescore_stream

    failures = []
    for stream in streams:
        try:
            for agreement in rescore_stream(journal, stream):
                print(agreement.line())
        except (OracleError, ValueError) as exc:
            failures.append(f"{stream}: cannot rescore: {exc}")
    return failures


def _public_key(key: Path | None) -> Ed25519PublicKey | None:
    if key is None:
        return None
    from fund.attest import AttestError, load_public

    try:
        return load_public(key)
    except AttestError as exc:
        raise UsageError(str(exc)) from None


def _against_published(journal: Journal, key: Path, heads: str | None,
                       proof: Path) -> list[str]:
    """Problems found against the published heads (printing what was checked)."""
    from fund.commands.attest import check_published

    problems = check_published(journal, key, heads, proof)
    if not problems:
        where = f"the heads at {heads}" if heads else "its own checkpoints"
        print(f"checkpoints: signed by the key in {key}; the journal matches {where}")
    return problems


def _select(journal: Journal, actors: Sequence[str], kinds: Sequence[str],
            since: datetime | None, until: datetime | None, limit: int | None = None,
            last: bool = False) -> Iterator[Entry]:
    where = EntryFilter(kinds=tuple(kinds), since=format_ts(since) if since else None,
                        until=format_ts(until) if until else None, limit=limit,
                        descending=last)
    for stream in _streams(journal, actors):
        entries = list(journal.read(stream, where)) if last else journal.read(stream, where)
        yield from (reversed(entries) if last and isinstance(entries, list) else entries)


def show(target: str, *, actors: Sequence[str], kinds: Sequence[str], since: datetime | None,
         until: datetime | None, limit: int, last: bool) -> int:
    """Print entries as a table (payloads shortened to fit)."""
    from rich.console import Console
    from rich.table import Table

    with open_journal(target, must_exist=True) as journal:
        table = Table(title=journal.url, title_justify="left")
        for column in ("actor", "seq", "kind", "time (UTC)", "payload", "hash"):
            table.add_column(column, no_wrap=column != "payload", overflow="ellipsis")
        for entry in _select(journal, actors, kinds, since, until, limit, last):
            payload = entry.payload if len(entry.payload) <= 160 else entry.payload[:157] + "…"
            table.add_row(entry.process_id, str(entry.seq), entry.kind, entry.ts[:19],
                          payload, entry.hash[:12])
        Console(width=max(160, Console().width)).print(table)
    return 0


def export(target: str, *, actors: Sequence[str], kinds: Sequence[str], since: datetime | None,
           until: datetime | None, out: Path | None) -> int:
    """Write entries as JSON lines: every field, the payload embedded as JSON; unfiltered
    (whole streams), then the blobs they reference, so that the export verifies."""
    whole = not (kinds or since or until)
    referenced: set[str] = set()
    with open_journal(target, must_exist=True) as journal:
        try:
            stream = out.open("w", encoding="utf-8") if out else sys.stdout
        except OSError as exc:
            raise UsageError(f"{out}: cannot write it ({exc.strerror or exc})") from None
        try:
            for entry in _select(journal, actors, kinds, since, until):
                stream.write(export_line(entry))
                if whole:
                    referenced.update(referenced_blobs(entry.payload))
            for line in blob_lines(journal, referenced):
                stream.write(line)
        finally:
            if out:
                stream.close()
    return 0
