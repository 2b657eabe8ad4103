"""A sweep's results as a table: one record per run, sorted by a metric, as CSV and Parquet.

Parameter columns hold the grid values (numbers when every value of an axis is a number,
else the TOML text). Money columns (``final_nav``, ``fees``) are floats here, for
analysis; the exact decimal strings are in ``sweep.json``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from agentfund.backtests.sweep import METRICS, Axis
from agentfund.backtests.sweep_runner import Run

COLUMNS = ("total_return", "annualized_return", "sharpe", "sortino", "max_drawdown",
           "turnover", "final_nav", "fees", "fills", "wakes", "entries", "first_wake", "end",
           "head_hash")


def _toml(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def typed_values(axis: Axis) -> dict[str, Any]:
    """Map each value text of an axis to its column value (all numbers, or all text)."""
    parsed = [_toml(text) for text in axis.values]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in parsed)
    if numeric and not all(isinstance(v, int) for v in parsed):
        return {text: float(v) for text, v in zip(axis.values, parsed, strict=True)}
    if numeric:
        return dict(zip(axis.values, parsed, strict=True))
    return {text: text for text in axis.values}


def metric_value(summary: Mapping[str, Any], metric: str) -> float:
    """Return a summary's value of a metric as a float (money via Decimal)."""
    value = summary[metric]
    return float(Decimal(value)) if isinstance(value, str) else float(value)


def sort_runs(runs: Sequence[Run], metric: str) -> list[Run]:
    """Best first by the metric (its better direction), ties in grid order; failures last."""
    higher = METRICS[metric]

    def rank(run: Run) -> tuple[int, float, int]:
        if run.summary is None:
            return (1, 0.0, run.combo.index)
        value = metric_value(run.summary, metric)
        if math.isnan(value):
            return (1, 0.0, run.combo.index)
        return (0, -value if higher else value, run.combo.index)

    return sorted(runs, key=rank)


def _column_value(summary: Mapping[str, Any], name: str, exact: bool) -> Any:
    value = summary.get(name)
    if name in ("final_nav", "fees") and value is not None and not exact:
        return float(Decimal(value))
    return value


def record(run: Run, axes: Sequence[Axis], extra: Mapping[str, Any] | None = None, *,
           exact: bool = False) -> dict[str, Any]:
    """Flatten a run into one record (``exact``: money as decimal strings, for JSON)."""
    values = dict(run.combo.params)
    row: dict[str, Any] = dict(extra or {})
    for axis in axes:
        row[axis.key] = typed_values(axis)[values[axis.key]]
    row["status"] = "ok" if run.summary is not None else "failed"
    summary = run.summary or {}
    for name in COLUMNS:
        row[name] = _column_value(summary, name, exact)
    row["error"] = run.error
    row["cached"] = run.cached
    row["journal"] = summary.get("journal")
    row["key"] = run.key
    if exact:
        row["params"] = dict(run.combo.params)  # the values as written in --grid
    return row


def write_tables(out: Path, stem: str, records: Sequence[Mapping[str, Any]]) -> list[Path]:
    """Write the records as ``STEM.csv`` and ``STEM.parquet``; return the paths."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if records:
        table = pa.Table.from_pylist([dict(r) for r in records])
    else:
        table = pa.table({"status": pa.array([], pa.string())})
    for index, column in enumerate(table.columns):
        if pa.types.is_null(column.type):  # a column with no values at all: text
            table = table.set_column(index, table.field(index).name, column.cast(pa.string()))
    csv_path, parquet_path = out / f"{stem}.csv", out / f"{stem}.parquet"
    pa_csv.write_csv(table, csv_path)
    pq.write_table(table, parquet_path)
    return [csv_path, parquet_path]
