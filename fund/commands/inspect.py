"""``fund verify`` and ``fund journal show|export``: read a journal, change nothing."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from fund.canonical import format_ts
from fund.errors import RunFailed
from fund.journal import Entry, EntryFilter, Journal, JournalError, open_journal


def _streams(journal: Journal, actors: Sequence[str]) -> list[str]:
    known = journal.processes()
    if not known:
        raise JournalError(f"{journal.url}: the journal is empty")
    missing = [a for a in actors if a not in known]
    if missing:
        raise JournalError(f"{journal.url}: no actor {', '.join(missing)} "
                           f"(actors: {', '.join(known)})")
    return list(actors) or known


def verify(target: str, *, actors: Sequence[str], head: str | None) -> int:
    """Verify every (or the named) stream; print one line each; 0 if all verify."""
    from fund.verify import verify_stream

    with open_journal(target, must_exist=True) as journal:
        streams = _streams(journal, actors)
        if head is not None and len(streams) != 1:
            raise JournalError("--head needs exactly one actor (use --actor)")
        failures = []
        for stream in streams:
            report = verify_stream(journal, stream, head)
            if report.ok:
                print(f"{stream}: verified {report.entries} entries, head {report.head}")
            else:
                failures.append(f"{stream}: FAILED at {report.error}")
        if failures:
            raise RunFailed("; ".join(failures))
    return 0


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


def export_line(entry: Entry) -> str:
    """One entry as a JSON line: every field, the payload embedded as JSON."""
    return (f'{{"actor":"{entry.process_id}","seq":{entry.seq},"kind":"{entry.kind}",'
            f'"ts":"{entry.ts}","payload":{entry.payload},'
            f'"prev_hash":"{entry.prev_hash}","hash":"{entry.hash}"}}\n')


def export(target: str, *, actors: Sequence[str], kinds: Sequence[str], since: datetime | None,
           until: datetime | None, out: Path | None) -> int:
    """Write entries as JSON lines: every field, the payload embedded as JSON."""
    stream = out.open("w", encoding="utf-8") if out else sys.stdout
    try:
        with open_journal(target, must_exist=True) as journal:
            for entry in _select(journal, actors, kinds, since, until):
                stream.write(export_line(entry))
    finally:
        if out:
            stream.close()
    return 0
