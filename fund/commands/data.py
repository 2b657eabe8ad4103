"""``fund data download`` and ``fund data list``: fetch OHLCV history, show what is on disk."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from fund.errors import RunFailed, UsageError

_FILE = re.compile(r"^(?P<pair>[A-Za-z0-9]+_[A-Za-z0-9_]+)-(?P<tf>\d+[smhdwM])"
                   r"\.(?P<ext>feather|csv|csv\.gz)$")
SHOWN_GAPS = 5  # gaps listed per market (all are counted)


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadOptions:
    """What ``fund data download`` was asked."""

    exchange: str
    pairs: list[str]
    timeframe: str
    since: datetime
    until: datetime | None
    out: Path
    urls: dict[str, str]
    retries: int = 5
    rate_limit_ms: float | None = None


def download(options: DownloadOptions) -> int:
    """Download every pair's closed candles into ``out``; print coverage and gaps."""
    from agentfund.backtests.download import (
        DownloadFailed,
        Retrying,
        check,
        download_pair,
        ms,
        open_exchange,
        server_ms,
        timeframe_seconds,
    )

    span_ms = timeframe_seconds(options.timeframe) * 1000
    if options.until is not None and options.until <= options.since:
        raise UsageError("--until must be after --since")
    if options.retries < 0:
        raise UsageError("--retries must be 0 or more")
    retrying = Retrying(retries=options.retries)
    try:
        client = open_exchange(options.exchange, urls=options.urls or None,
                               rate_limit_ms=options.rate_limit_ms, retrying=retrying)
        check(client, options.pairs, options.timeframe)
        options.out.mkdir(parents=True, exist_ok=True)
        now = server_ms(client, retrying)
        since, until = ms(options.since), ms(options.until) if options.until else None
        end = min(until if until is not None else now, now - span_ms + 1)
        total = max(0, -(-(end - since) // span_ms))
        with _progress() as progress:
            for pair in options.pairs:
                task = progress.add_task(pair, total=total)
                outcome = download_pair(
                    client, pair, options.timeframe, since, until, options.out, now_ms=now,
                    retrying=retrying, advance=partial(progress.advance, task))
                progress.update(task, completed=total)
                _report(outcome, options.timeframe, span_ms)
    except DownloadFailed as exc:
        raise RunFailed(f"{exc} (what was fetched is saved: run the same command again to "
                        "resume)") from None
    return 0


def _progress() -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    return Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=console, disable=not console.is_terminal)


def _report(outcome: Any, timeframe: str, span_ms: int) -> None:
    from agentfund.backtests.download import read_series

    times = read_series(outcome.path).times
    first = _ms_text(int(times[0])) if len(times) else "-"
    last = _ms_text(int(times[-1])) if len(times) else "-"
    missing = sum(count for _, count in outcome.gaps)
    print(f"{outcome.pair} {timeframe}: {outcome.rows} candles {first} → {last}, "
          f"{outcome.fetched} fetched, {len(outcome.gaps)} gap(s)"
          + (f" ({missing} candles missing)" if missing else "") + f" → {outcome.path}")
    for start, count in outcome.gaps[:SHOWN_GAPS]:
        print(f"  gap: {count} candle(s) from {_ms_text(start)} to "
              f"{_ms_text(start + (count - 1) * span_ms)}")
    if len(outcome.gaps) > SHOWN_GAPS:
        print(f"  … and {len(outcome.gaps) - SHOWN_GAPS} more gap(s)")


def coverage(directory: Path) -> list[dict[str, Any]]:
    """One row per history file in ``directory``: pair, timeframe, first, last, rows, gaps."""
    from agentfund.backtests.data import DataError, load_candles
    from agentfund.backtests.download import gaps, timeframe_seconds

    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    rows: list[dict[str, Any]] = []
    for path in sorted(directory.iterdir()):
        match = _FILE.match(path.name)
        if match is None:
            continue
        pair = match["pair"].replace("_", "/", 1)
        span = timeframe_seconds(match["tf"])
        row: dict[str, Any] = {"pair": pair, "timeframe": match["tf"], "file": path.name}
        try:
            candles = load_candles(directory, pair, timedelta(seconds=span))
        except DataError as exc:
            rows.append({**row, "error": str(exc)})
            continue
        opens = (candles.close_times - span) * 1000
        holes = gaps(opens, span * 1000)
        rows.append({**row, "first": _ms_text(int(opens[0])), "last": _ms_text(int(opens[-1])),
                     "rows": len(opens), "gaps": len(holes),
                     "missing": sum(count for _, count in holes)})
    return rows


def list_data(directory: Path, *, as_json: bool) -> int:
    """Print the coverage of every history file in a directory."""
    rows = coverage(directory)
    if as_json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print(f"no history files (<BASE>_<QUOTE>-<tf>.feather|.csv|.csv.gz) in {directory}",
              file=sys.stderr)
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=str(directory), title_justify="left")
    for column in ("pair", "timeframe", "first (open, UTC)", "last (open, UTC)", "rows", "gaps",
                   "missing"):
        table.add_column(column, justify="right" if column in ("rows", "gaps", "missing")
                         else "left")
    for row in rows:
        if "error" in row:
            table.add_row(row["pair"], row["timeframe"], row["error"], "", "", "", "")
            continue
        table.add_row(row["pair"], row["timeframe"], row["first"], row["last"],
                      str(row["rows"]), str(row["gaps"]), str(row["missing"]))
    Console(width=160).print(table)
    return 0


def _ms_text(stamp: int) -> str:
    return datetime.fromtimestamp(stamp / 1000, UTC).strftime("%Y-%m-%d %H:%M")
