"""What a sweep's result depends on, as hashes: config, data and code.

A cached result is reused only when all three match (plus the period it covers):

* **config hash** — sha256 of the config file's TOML after ``--set`` and ``--grid``
  overrides, as JSON *in the order written* (key order matters: ``weights`` are traded
  in table order, so a reordered table must not hit another order's result);
* **data hash** — sha256 over the content hashes of every file the config reads (each
  actor's price files, the news dataset), by file name, and of every file its strings
  name (a scorer's lexicon or weights); content hashes are remembered by (path, size,
  mtime) so that a re-run does not read the files again;
* **code version** — sha256 of the agentfund sources that can change a result (every
  ``*.py`` under ``fund/``, ``strategies/``, ``oracles/``, ``backtests/`` except the
  command line, the monitor UI and the HTML renderers), the package version, Python's
  ``major.minor`` and the versions of the libraries that parse data or config
  (see ``DEPENDENCIES``); plus, per config, the source file of every ``module:Class``
  plugin it names (a strategy or scorer of the user's own).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sqlite3
import sys
from collections.abc import Iterator, Mapping
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from agentfund.backtests.data import find_file
from fund import __version__
from fund.cache import open_cache_db
from fund.config import FundConfig

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("fund", "strategies", "oracles", "backtests")  # agentfund/ links to the last 3
PRESENTATION = ("fund/commands/", "fund/monitor/", "fund/cli.py", "fund/__main__.py",
                "backtests/report.py", "backtests/heatmap.py")
"""Sources that only present results: changing them keeps cached results valid."""
DEPENDENCIES = ("apscheduler", "numpy", "orjson", "pandas", "pyarrow", "pydantic",
                "vaderSentiment")
_PLUGIN = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's content, read in chunks of ``chunk`` bytes into one buffer
    (a thread hashing a large file waits for the GIL after each read: give it large ones)."""
    digest = hashlib.sha256()
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


def _source_files(presentation: bool) -> Iterator[Path]:
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if presentation or not relative.startswith(PRESENTATION):
                yield path


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


@lru_cache(maxsize=2)
def code_version(*, presentation: bool = False) -> str:
    """Return the hash of the agentfund code and library versions that results depend on;
    with ``presentation``, also of the code that presents them (the report, the command
    line) and of plotly: everything a kept report or printed summary depends on."""
    digest = hashlib.sha256()
    digest.update(f"agentfund {__version__}\npython {sys.version_info[0]}.{sys.version_info[1]}"
                  .encode())
    for package in (*DEPENDENCIES, *(("plotly",) if presentation else ())):
        digest.update(f"\n{package} {_version(package)}".encode())
    for path in _source_files(presentation):
        digest.update(f"\n{path.relative_to(ROOT).as_posix()} ".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def config_hash(raw: Mapping[str, Any]) -> str:
    """Hash a raw config, keeping the order its tables were written in."""
    text = json.dumps(raw, default=str, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def plugin_hash(raw: Mapping[str, Any]) -> str:
    """Hash the source files of the ``module:Class`` plugins a config names, outside agentfund."""
    digest = hashlib.sha256()
    for text in sorted({s for s in _strings(raw) if _PLUGIN.fullmatch(s)}):
        module = text.partition(":")[0]
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        origin = Path(spec.origin) if spec and spec.origin else None
        if origin is None or not origin.is_file() or origin.is_relative_to(ROOT):
            continue
        digest.update(f"{text} {sha256_file(origin)}\n".encode())
    return digest.hexdigest()


def data_files(config: FundConfig) -> list[Path]:
    """Return every file a backtest of this config reads (price files, news dataset)."""
    settings = config.backtest
    if settings is None:
        return []
    symbols = dict.fromkeys(s for spec in config.actors for s in spec.markets)
    files = [find_file(settings.prices, symbol, settings.timeframe) for symbol in symbols]
    if settings.news is not None:
        files.append(settings.news)
    return files


class FileHashes:
    """Content hashes of files, remembered by (path, size, mtime) in an SQLite table."""

    def __init__(self, db: Path | None) -> None:
        self._memo: dict[tuple[str, int, int], str] = {}
        self._db: sqlite3.Connection | None = None
        if db is not None:
            self._db = open_cache_db(db, "CREATE TABLE IF NOT EXISTS file_hashes (path TEXT, "
                                         "size INTEGER, mtime_ns INTEGER, sha256 TEXT, "
                                         "PRIMARY KEY (path, size, mtime_ns))")

    def sha256(self, path: Path) -> str:
        """Return the file's content hash, from memory, the table, or by reading it."""
        stat = path.stat()
        ident = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if ident in self._memo:
            return self._memo[ident]
        found = None
        if self._db is not None:
            found = self._db.execute("SELECT sha256 FROM file_hashes WHERE path = ? AND size = ?"
                                     " AND mtime_ns = ?", ident).fetchone()
        digest = found[0] if found else sha256_file(path)
        if self._db is not None and not found:
            self._db.execute("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?)",
                             (*ident, digest))
        self._memo[ident] = digest
        return digest

    def data_hash(self, config: FundConfig) -> str:
        """Hash the contents of every file the config reads, by file name."""
        lines = sorted(f"{path.name} {self.sha256(path)}" for path in data_files(config))
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def named_hash(self, raw: Mapping[str, Any], base: Path, cwd: Path) -> str:
        """Hash the contents of every file a config's strings name — relative to ``base``
        (the config's directory) or to ``cwd`` (the run's working directory), or absolute:
        a scorer's lexicon or model weights, say, which :func:`data_files` does not know
        about."""
        lines = []
        folders = (("config", base), ("cwd", cwd))
        for text in sorted(set(_strings(raw))):
            if not text or "\n" in text or "\0" in text or len(text) > 4096:
                continue
            for where, folder in folders:
                try:
                    path = folder / Path(text).expanduser()
                    found = path.is_file()
                except (OSError, ValueError):
                    continue
                if found:
                    lines.append(f"{where} {text} {self.sha256(path)}")
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def inputs_hash(self, config: FundConfig, raw: Mapping[str, Any], base: Path,
                    cwd: Path) -> str:
        """Hash everything a run reads besides code: the data files of
        :meth:`data_hash` and the files of :meth:`named_hash`."""
        both = f"{self.data_hash(config)} {self.named_hash(raw, base, cwd)}"
        return hashlib.sha256(both.encode()).hexdigest()

    def close(self) -> None:
        """Close the table."""
        if self._db is not None:
            self._db.close()
            self._db = None


def result_key(*, config: str, data: str, code: str, plugins: str, period: str) -> str:
    """Combine the parts into the key a result is cached under."""
    text = f"config {config}\ndata {data}\ncode {code}\nplugins {plugins}\nperiod {period}"
    return hashlib.sha256(text.encode()).hexdigest()
