"""Projection checkpoints: an actor's folded state kept beside its journal, never trusted.

Folding a million entries on every start of the monitor or ``fund status`` is wasted work:
the state a fold reached is saved as a *projection checkpoint* — the canonical JSON of the
fold's objects, keyed by the actor, the fold's name, the fold's identity (its version, its
classes' fields and its code), and the sequence number and hash of the last entry folded.
Opening is then a read of the checkpoint plus the entries after it.

Where it lives: an SQL journal (SQLite or PostgreSQL) keeps checkpoints in its own table,
``projection_checkpoints`` (fund/projection_table.py), in the same database (created the
first time one is written);
a journal that cannot hold one (a bundle, a JSON-lines export, a database that refuses
the write) keeps them as files under ``$AGENTFUND_CACHE/projections``. They are not
journal entries: the hash chain, ``fund verify``, exports and bundles never see them.

A checkpoint is only trusted by the machine that made it: it carries an HMAC of the fold's
identity, the actor, the entry it reaches and the state, under a secret key kept in this
user's cache (``$AGENTFUND_CACHE/projection.key``, made on first use, mode 0600), and is
filed under that key's id. A journal's database can hold checkpoints written elsewhere (by
the manager's daemon, say): without the key they are never read, so figures in a journal
that someone else hands over are always folded from its entries here. A checkpoint is
only used when the journal's entry at its sequence number still has its hash, and the
caller checks the chain link by link from there. Anything else — a
rewritten history, another journal at the same place, another version of the fold, an
unreadable state — discards it with a one-line message, and the caller folds from the
first entry. The state is decoded by :func:`decode`, which only builds plain JSON values,
``Decimal``, ``tuple``, ``set``, float arrays and the dataclasses registered with
:func:`identity`: no code named by the data is ever run (no pickle).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import logging
import math
import os
import secrets
import sqlite3
import sys
import threading
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import orjson

from fund import sqlite_wal
from fund.cache import cache_root
from fund.journal import EntryFilter, Journal, MemoryJournal

CODEC_VERSION = 1
_MAX_ARRAY = 2**31  # bytes: a float array inflating to more is refused, not allocated
LOG = logging.getLogger("fund.projections")
SAVE_AFTER = 5_000  # entries folded since a checkpoint before a new one is worth saving
SAVE_EVERY = 250_000  # while a long stream is first folded: keep what was folded so far


class Checkpoint(NamedTuple):
    """A checkpoint that matched the journal: the state after folding entry ``seq``."""

    seq: int
    head_hash: str
    state: Any


# --- the identity of a fold ------------------------------------------------------------------


def identity(name: str, version: int, classes: Iterable[type], modules: Iterable[ModuleType]
             ) -> str:
    """The fold's identity: its name and version, the fields of the dataclasses its state is
    made of, and the source of the modules that fold it — any change discards checkpoints."""
    digest = hashlib.sha256(f"{CODEC_VERSION}\x1f{name}\x1f{version}".encode())
    for cls in classes:
        fields = ",".join(f.name for f in dataclasses.fields(cls))
        digest.update(f"\x1e{cls.__name__}:{fields}".encode())
    for module in (sys.modules[__name__], *modules):  # this codec's own code too
        source = getattr(module, "__file__", None)
        try:
            digest.update(Path(source).read_bytes() if source else module.__name__.encode())
        except OSError:
            digest.update(module.__name__.encode())
    return digest.hexdigest()


# --- the codec: canonical JSON of the state --------------------------------------------------


def encode(value: Any, classes: dict[str, type]) -> bytes:
    """The state as canonical JSON (sorted keys, no spaces; dict order kept as pairs)."""
    return orjson.dumps(_enc(value, classes), option=orjson.OPT_SORT_KEYS)


def decode(data: bytes, classes: dict[str, type]) -> Any:
    """The state back from :func:`encode`; a ValueError for anything it did not write."""
    try:
        return _dec(orjson.loads(data), classes)
    except (KeyError, TypeError, AttributeError, ArithmeticError, RecursionError, zlib.error,
            orjson.JSONDecodeError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None


def _enc(value: Any, classes: dict[str, type]) -> Any:
    kind = type(value)
    if value is None or kind in (str, int, bool):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$f": repr(value)}
    if kind is Decimal:
        return {"$d": str(value)}
    if kind is list:
        return [_enc(v, classes) for v in value]
    if kind is tuple:
        return {"$t": [_enc(v, classes) for v in value]}
    if kind in (set, frozenset):
        items = [_enc(v, classes) for v in value]
        return {"$s": sorted(items, key=lambda v: orjson.dumps(v, option=orjson.OPT_SORT_KEYS))}
    if kind is dict:
        return {"$m": [[_enc(k, classes), _enc(v, classes)] for k, v in value.items()]}
    if kind is FloatColumns:  # an array never read is kept as it was read
        return {"$m": [[_enc(k, classes), {"$a": v} if isinstance(v, str) else _enc(v, classes)]
                       for k, v in value.items_as_kept()]}
    if kind is array and value.typecode == "d":
        raw = value if sys.byteorder == "little" else _swapped(value)
        return {"$a": base64.b64encode(zlib.compress(raw.tobytes(), 1)).decode()}
    if classes.get(kind.__name__) is kind:
        return {"$c": kind.__name__, "f": {
            f.name: _enc(getattr(value, f.name), classes)
            for f in dataclasses.fields(value) if not f.name.startswith("_")}}
    raise TypeError(f"{kind.__name__} cannot be kept in a projection checkpoint")


def _swapped(values: array[float]) -> array[float]:
    copy = array("d", values)
    copy.byteswap()
    return copy


def _dec(value: Any, classes: dict[str, type]) -> Any:
    if isinstance(value, list):
        return [_dec(v, classes) for v in value]
    if not isinstance(value, dict):
        return value
    if "$m" in value:
        pairs = value["$m"]
        if pairs and all(isinstance(v, dict) and v.keys() == {"$a"} for _, v in pairs):
            return FloatColumns({_dec(k, classes): _packed(v["$a"]) for k, v in pairs})
        return {_dec(k, classes): _dec(v, classes) for k, v in pairs}
    if "$c" in value:
        cls = classes[value["$c"]]  # only the fold's own dataclasses: a KeyError otherwise
        return cls(**{k: _dec(v, classes) for k, v in value["f"].items()})
    if "$a" in value:
        return _floats(value["$a"])
    if "$d" in value:
        return Decimal(value["$d"])
    if "$t" in value:
        return tuple(_dec(v, classes) for v in value["$t"])
    if "$s" in value:
        return {_dec(v, classes) for v in value["$s"]}
    if "$f" in value:
        return float(value["$f"])
    raise ValueError(f"unknown value {str(value)[:60]}")


def _packed(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError("a float array is not text")
    return text


def _floats(text: str) -> array[float]:
    """A float array back from its kept form (zlib-compressed little-endian float64s,
    base64)."""
    floats = array("d")
    inflate = zlib.decompressobj()
    floats.frombytes(inflate.decompress(base64.b64decode(text), _MAX_ARRAY))
    if inflate.unconsumed_tail or not inflate.eof:
        raise ValueError("a float array is truncated or too long")
    return floats if sys.byteorder == "little" else _swapped(floats)


class FloatColumns(MutableMapping[Any, "array[float]"]):
    """A map of float arrays read from a checkpoint (a series' columns per symbol or per
    keyword), each inflated only when first read: opening a long stream's checkpoint to
    show its figures does not inflate the columns it does not show. Unread columns are
    kept again as they were read. Safe to read from several threads."""

    __slots__ = ("_items", "_lock")

    def __init__(self, items: dict[Any, array[float] | str]) -> None:
        self._items = items
        self._lock = threading.Lock()

    def __getitem__(self, key: Any) -> array[float]:
        value = self._items[key]
        if isinstance(value, str):
            with self._lock:
                value = self._items[key]
                if isinstance(value, str):
                    try:
                        value = _floats(value)
                    except (zlib.error, ValueError) as exc:  # HMAC-checked: a bug, not data
                        raise ValueError(f"checkpoint column {key!r}: {exc}") from None
                    self._items[key] = value
        return value

    def __setitem__(self, key: Any, value: array[float]) -> None:
        self._items[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._items[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"FloatColumns({dict(self.items())!r})"

    def items_as_kept(self) -> list[tuple[Any, array[float] | str]]:
        """The columns, each as its array or, if never read, as its kept text."""
        with self._lock:
            return list(self._items.items())


# --- where checkpoints are kept --------------------------------------------------------------

SQLITE_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_checkpoints (\n\tprocess_id VARCHAR(128) NOT NULL, "
    "\n\tname VARCHAR(40) NOT NULL, \n\tidentity VARCHAR(64) NOT NULL, \n\tseq BIGINT NOT "
    "NULL, \n\thead_hash VARCHAR(64) NOT NULL, \n\tstate BLOB NOT NULL, \n\tPRIMARY KEY "
    "(process_id, name)\n)")
"""fund/projection_table.py's table as SQLAlchemy creates it on SQLite, made idempotent."""
_LOCK = threading.Lock()
Row = tuple[str, int, str, bytes]  # identity, seq, head hash, state


def _sqlite_file(journal: Journal) -> str | None:
    """The SQLite file of a journal kept in one through :mod:`sqlite3`, else None. Told by
    the journal's type, never by reading the file (which would drop the process's locks on
    it: fund/journal/sqlite.py)."""
    if "fund.journal.sqlite" not in sys.modules:  # no SQLite journal was ever opened
        return None
    from fund.journal.sqlite import SqliteJournal

    return journal.path if isinstance(journal, SqliteJournal) else None


def _engine(journal: Journal) -> Any:
    """The SQLAlchemy engine of an SQL journal (PostgreSQL), else None."""
    if "fund.journal.sql" not in sys.modules:  # no SQL journal was ever opened
        return None
    from fund.journal.sql import SqlJournal

    return journal.engine if isinstance(journal, SqlJournal) else None


@contextmanager
def _sqlite(path: str, begin: str = "BEGIN") -> Iterator[sqlite3.Connection]:
    """A connection of our own to the journal's file, in one transaction."""
    db = sqlite3.connect(path, timeout=sqlite_wal.WAIT, isolation_level=None)
    try:
        db.execute(begin)
        try:
            yield db
        except BaseException:
            db.rollback()
            raise
        db.commit()
    finally:
        db.close()


def _file(journal: Journal, actor: str, name: str) -> Path:
    key = hashlib.sha256(f"{journal.url}\x1f{actor}".encode()).hexdigest()[:32]
    return cache_root() / "projections" / f"{key}.{name}.json"


def _read_database(journal: Journal, actor: str, name: str) -> Row | None:
    path = _sqlite_file(journal)
    if path is not None:
        with _sqlite(path) as db:
            if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name="
                          "'projection_checkpoints'").fetchone() is None:
                return None
            row = db.execute("SELECT identity, seq, head_hash, state FROM "
                             "projection_checkpoints WHERE process_id=? AND name=?",
                             (actor, name)).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), str(row[2]), bytes(row[3]))
    engine = _engine(journal)
    if engine is None:
        return None
    from fund import projection_table

    return projection_table.read(engine, actor, name)


def _write_database(journal: Journal, actor: str, name: str, row: Row) -> bool:
    path = _sqlite_file(journal)
    if path is not None:
        with _sqlite(path, "BEGIN IMMEDIATE") as db:
            db.execute(SQLITE_DDL)
            db.execute("DELETE FROM projection_checkpoints WHERE process_id=? AND name=?",
                       (actor, name))
            db.execute("INSERT INTO projection_checkpoints (process_id, name, identity, seq, "
                       "head_hash, state) VALUES (?, ?, ?, ?, ?, ?)", (actor, name, *row))
        return True
    engine = _engine(journal)
    if engine is None:
        return False
    from fund import projection_table

    projection_table.write(engine, actor, name, row)
    return True


def _remove_database(journal: Journal, actor: str | None, name: str | None) -> None:
    path = _sqlite_file(journal)
    if path is not None:
        with _sqlite(path, "BEGIN IMMEDIATE") as db:
            if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name="
                          "'projection_checkpoints'").fetchone() is not None:
                db.execute("DELETE FROM projection_checkpoints WHERE (? IS NULL OR "
                           "process_id=?) AND (? IS NULL OR name=?)", (actor, actor, name, name))
        return
    engine = _engine(journal)
    if engine is not None:
        from fund import projection_table

        projection_table.remove(engine, actor, name)


def _read(journal: Journal, actor: str, name: str) -> Row | None:
    try:
        found = _read_database(journal, actor, name)
        if found is not None:
            return found
    except Exception as exc:  # noqa: BLE001 - any database error only costs a refold
        LOG.debug("%s: projection checkpoints unreadable: %s", journal.url, exc)
    try:
        head, _, data = _file(journal, actor, name).read_bytes().partition(b"\n")
        key, seq, head_hash = head.decode().split(" ")
        return key, int(seq), head_hash, data
    except (OSError, ValueError):
        return None


def _write(journal: Journal, actor: str, name: str, row: Row) -> bool:
    try:
        if _write_database(journal, actor, name, row):
            return True
    except Exception as exc:  # noqa: BLE001 - read-only, locked too long: a file then
        LOG.debug("%s: projection checkpoint not stored in the journal's database: %s",
                  journal.url, exc)
    path = _file(journal, actor, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_bytes(f"{row[0]} {row[1]} {row[2]}\n".encode() + row[3])
        temporary.replace(path)
        return True
    except OSError:
        return False


# --- the public calls ------------------------------------------------------------------------


def load(journal: Journal, actor: str, name: str, key: str, classes: dict[str, type],
         report: Callable[[str], None] | None = None) -> Checkpoint | None:
    """The actor's checkpoint of fold ``name`` if it matches the journal and the fold
    (``key``, from :func:`identity`), else None — after discarding it and saying why in
    one line (to ``report``, else the log)."""
    secret = local_key()
    found = _read(journal, actor, _filed(name, secret)) if secret else None
    if found is None or secret is None:
        return None
    mac, seq, head_hash, data = found
    reason = None
    if not hmac.compare_digest(mac, _mac(secret, key, actor, seq, head_hash, data)):
        reason = "made by another version of the fold, or altered"
    else:
        entry = next(iter(journal.read(actor, EntryFilter(first_seq=seq, last_seq=seq))), None)
        if entry is None:
            reason = f"the journal has no entry {seq}"
        elif entry.hash != head_hash:
            reason = (f"entry {seq} no longer has hash {head_hash[:16]}… (a rewritten "
                      "history or another journal)")
    state = None
    if reason is None:
        try:
            state = decode(data, classes)
        except ValueError as exc:
            reason = f"its state cannot be read ({exc})"
    if reason is not None:
        message = (f"{journal.url}: {actor}: projection checkpoint at entry {seq} discarded, "
                   f"{reason}; folding every entry again")
        (report or LOG.warning)(message)
        discard(journal, actor, name)
        return None
    return Checkpoint(seq, head_hash, state)


def at_head(journal: Journal, actor: str, name: str, key: str) -> bool:
    """Whether the actor's checkpoint of fold ``name`` is this fold's (``key``), made here,
    and reaches the stream's head with its hash, so that nothing is left to fold after it;
    told without decoding its state."""
    secret = local_key()
    found = _read(journal, actor, _filed(name, secret)) if secret else None
    if found is None or secret is None:
        return False
    mac, seq, head_hash, data = found
    head = journal.head(actor)
    return head is not None and (head.seq, head.hash) == (seq, head_hash) and \
        hmac.compare_digest(mac, _mac(secret, key, actor, seq, head_hash, data))


# --- this machine's key ------------------------------------------------------------------------

_KEY_FILE = "projection.key"
_KEYS: dict[str, bytes] = {}


def local_key() -> bytes | None:
    """This user's secret for checkpoints (``$AGENTFUND_CACHE/projection.key``, 32 random
    bytes made on first use, readable by this user only); None when it can be neither read
    nor made (then no checkpoint is kept or trusted)."""
    path = cache_root() / _KEY_FILE
    known = _KEYS.get(str(path))
    if known is not None:
        return known
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            secret = path.read_bytes()
        else:
            secret = secrets.token_bytes(32)
            with os.fdopen(handle, "wb") as out:
                out.write(secret)
    except OSError as exc:
        LOG.debug("no projection checkpoint key at %s: %s", path, exc)
        return None
    if len(secret) != 32:  # being written by another process, or damaged: not trusted now
        return None
    _KEYS[str(path)] = secret
    return secret


def _filed(name: str, secret: bytes) -> str:
    """The name a fold's checkpoints are filed under for this key: each machine its own."""
    return f"{name}@{hashlib.sha256(secret).hexdigest()[:12]}"


def _mac(secret: bytes, key: str, actor: str, seq: int, head_hash: str, data: bytes) -> str:
    """What a checkpoint carries instead of the bare fold identity: an HMAC binding the
    fold, the actor, the entry reached and the state to this machine's key."""
    digest = hmac.new(secret, f"{key}\x1f{actor}\x1f{seq}\x1f{head_hash}\x1f".encode(),
                      hashlib.sha256)
    digest.update(data)
    return digest.hexdigest()


def keepable(journal: Journal) -> bool:
    """Whether checkpoints of ``journal`` can be kept here: this user has a key, and the
    journal outlives this process (one in memory serves nothing a checkpoint could)."""
    return type(journal) is not MemoryJournal and local_key() is not None


def save(journal: Journal, actor: str, name: str, key: str, classes: dict[str, type],
         seq: int, head_hash: str, state: Any) -> bool:
    """Keep ``state`` (folded up to entry ``seq`` with hash ``head_hash``); False if it
    could not be kept anywhere (then the next fold only costs more)."""
    secret = local_key()
    if seq <= 0 or secret is None or not keepable(journal):
        return False
    data = encode(state, classes)
    with _LOCK:
        return _write(journal, actor, _filed(name, secret),
                      (_mac(secret, key, actor, seq, head_hash, data), seq, head_hash, data))


def discard(journal: Journal, actor: str | None = None, name: str | None = None) -> None:
    """Remove this machine's checkpoints of one actor's fold, or every checkpoint of an
    actor or (None) of the journal."""
    if name is not None:
        secret = local_key()
        if secret is None:
            return
        name = _filed(name, secret)
    try:
        _remove_database(journal, actor, name)
    except Exception as exc:  # noqa: BLE001 - what cannot be removed is still checked on use
        LOG.debug("%s: projection checkpoints not removed: %s", journal.url, exc)
    for one in [actor] if actor is not None else journal.processes():
        path = _file(journal, one, name or "*")
        for found in path.parent.glob(path.name) if path.parent.is_dir() else ():
            found.unlink(missing_ok=True)
