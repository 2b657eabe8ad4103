"""Historical news: timestamped headline or article datasets, served without look-ahead.

A dataset is a JSON array, JSON lines or CSV file (optionally gzipped). Field names are
configurable; the defaults fit the shipped Reddit headline set (``timestamp`` in Unix
seconds, ``title``, ``link``). At a wake at T the oracle serves the items published after
the previous wake's observation of it (read from the journal) and at or before T — never
an item published after T. The first observation serves everything from the period start
on, that moment included; the engine records one more observation at the period end
(after the last wake), so a run's observations together hold every item of its period
[start, end] exactly once.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from bisect import bisect_right
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentfund.backtests.data import DataError
from agentfund.oracles.base import NOTHING_RECORDED, BlobSink, Oracle, Recorded
from fund.canonical import format_ts
from fund.config import NewsFields

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _open_text(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def _records(path: Path) -> list[Mapping[str, Any]]:
    text = _open_text(path)
    name = path.name.removesuffix(".gz")
    if name.endswith(".csv"):
        return list(csv.DictReader(io.StringIO(text)))
    if name.endswith((".jsonl", ".ndjson")):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of records")
    return data


def _moment(value: Any) -> datetime:
    """Unix seconds (number or digits) or ISO 8601 text (UTC if naive)."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return datetime.fromtimestamp(float(value), UTC)
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _item(record: Mapping[str, Any], fields: NewsFields, published: datetime) -> dict[str, Any]:
    title = str(record.get(fields.title) or "")
    link = str(record.get(fields.link) or "")
    ident = str(record.get(fields.id) or "") if fields.id else ""
    if not ident:
        ident = hashlib.sha256(f"{link}\x1f{title}".encode()).hexdigest()[:16]
    return {"id": ident, "title": title,
            "text": str(record.get(fields.text) or "") if fields.text else "",
            "link": link, "published": format_ts(published),
            "source": str(record.get(fields.source) or "") if fields.source else ""}


_DEFAULT_FIELDS = NewsFields()


def load_news(path: Path,
              fields: NewsFields = _DEFAULT_FIELDS) -> list[tuple[int, dict[str, Any]]]:
    """Load a dataset as (epoch microseconds, item) pairs sorted by publication time."""
    try:
        records = _records(path)
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read news: {exc}") from None
    items: list[tuple[int, dict[str, Any]]] = []
    for number, record in enumerate(records, 1):
        if fields.time not in record:
            raise DataError(f"{path}: record {number} has no {fields.time!r} field")
        try:
            published = _moment(record[fields.time])
        except (ValueError, OverflowError, OSError):
            raise DataError(f"{path}: record {number}: {record[fields.time]!r} is not a time "
                            "(Unix seconds or ISO 8601)") from None
        items.append((_micros(published), _item(record, fields, published)))
    items.sort(key=lambda pair: (pair[0], pair[1]["id"]))
    return items


class HistoricalNews(Oracle):
    """Items published in the window (start, at]: after ``start``, at or before ``at``.

    ``start`` is the ``as_of`` of the oracle's previous observation (from the journal);
    the first observation, having none, starts one microsecond before ``since`` (the
    period start), so an item published exactly at ``since`` is in it. Each observation
    records its ``window`` as ``[start, at]`` with that meaning: start excluded, ``at``
    included; consecutive windows chain (one's ``at`` is the next one's start).
    """

    def __init__(self, name: str, items: list[tuple[int, dict[str, Any]]],
                 since: datetime) -> None:
        self.name = name
        self._times = [moment for moment, _ in items]
        self._items = [item for _, item in items]
        self._since = since

    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        previous = recorded.last.get(self.name)
        start = previous.as_of if previous is not None else self._since - _MICROSECOND
        low = bisect_right(self._times, _micros(start))
        high = bisect_right(self._times, _micros(at))
        return {"items": self._items[low:high], "window": [format_ts(start), format_ts(at)]}


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND
