"""The ``projection_checkpoints`` table (SQLModel) of an SQL journal reached through
SQLAlchemy (PostgreSQL, or SQLite by a URL with options): see fund/projection_store.py.

A plain SQLite file is served by fund/projection_store.py with :mod:`sqlite3` directly,
with the DDL below (:data:`SQLITE_DDL`, the table SQLAlchemy creates on SQLite), so either
path reads what the other wrote.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, LargeBinary, String, delete, select
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel


class CheckpointRow(SQLModel, table=True):
    """One actor's folded state for one fold, as of entry ``seq`` (hash ``head_hash``)."""

    __tablename__ = "projection_checkpoints"
    process_id: str = Field(sa_column=Column(String(128), primary_key=True))
    name: str = Field(sa_column=Column(String(40), primary_key=True))
    identity: str = Field(sa_column=Column(String(64), nullable=False))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    head_hash: str = Field(sa_column=Column(String(64), nullable=False))
    state: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


TABLE = CheckpointRow.__table__  # type: ignore[attr-defined]
Row = tuple[str, int, str, bytes]  # identity, seq, head hash, state


def read(engine: Engine, actor: str, name: str) -> Row | None:
    """The stored checkpoint, or None (none, or no table yet)."""
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, TABLE.name):
            return None
        row = conn.execute(select(TABLE.c.identity, TABLE.c.seq, TABLE.c.head_hash,
                                  TABLE.c.state).where(TABLE.c.process_id == actor,
                                                       TABLE.c.name == name)).first()
    return None if row is None else (str(row[0]), int(row[1]), str(row[2]), bytes(row[3]))


def write(engine: Engine, actor: str, name: str, row: Row) -> None:
    """Replace the checkpoint (creating the table if it is missing: asked every time, one
    catalogue query, since the table may have been dropped to discard every checkpoint and
    an engine's id() may be another, dead engine's)."""
    with engine.connect().execution_options(journal_write=True) as conn, conn.begin():
        TABLE.create(conn, checkfirst=True)
        conn.execute(delete(TABLE).where(TABLE.c.process_id == actor, TABLE.c.name == name))
        conn.execute(TABLE.insert().values(process_id=actor, name=name, identity=row[0],
                                           seq=row[1], head_hash=row[2], state=row[3]))


def remove(engine: Engine, actor: str | None, name: str | None) -> None:
    """Delete the checkpoints of one actor's fold, of an actor, or (None) of every actor."""
    with engine.connect().execution_options(journal_write=True) as conn, conn.begin():
        if engine.dialect.has_table(conn, TABLE.name):
            where = delete(TABLE)
            if actor is not None:
                where = where.where(TABLE.c.process_id == actor)
            if name is not None:
                where = where.where(TABLE.c.name == name)
            conn.execute(where)
