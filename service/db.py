"""Engine and session factories, and the database's own clock.

Leases are timed by the database (`db_now()`), not by the controllers' clocks, so several
controllers on one PostgreSQL agree on when a lease ends. Times are seconds since the epoch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVarTuple

from sqlalchemy import Engine, Insert, Select, bindparam, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Float

from service.settings import Settings

__all__ = ["db_now", "engine_options", "locking", "make_engine", "make_session_factory", "upserts"]
Ts = TypeVarTuple("Ts")

log = logging.getLogger(__name__)
SQLITE_BUSY_MS = 30_000


class db_now(FunctionElement[float]):
    """The database's current time in epoch seconds, as a SQL expression."""

    type = Float()
    inherit_cache = True


@compiles(db_now, "postgresql")
def _now_postgresql(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXTRACT(EPOCH FROM clock_timestamp())::float8"


@compiles(db_now, "sqlite")
def _now_sqlite(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


@compiles(db_now)
def _now_default(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "UNIX_TIMESTAMP(NOW(6))"


def engine_options(settings: Settings) -> dict[str, Any]:
    """Options shared by our engine and Optuna's: pre-ping, pool sizes, SQLite's busy timeout."""
    if settings.is_sqlite:
        return {"connect_args": {"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False}}
    return {
        "pool_pre_ping": True,
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_recycle": 1800,
    }


def upserts(
    table: Any,
    key: Sequence[str],
    refreshed: Sequence[str],
    parameters: Mapping[str, str] | None = None,
) -> dict[str, Insert]:
    """An insert into `table` that, on a conflict over `key`, sets the `refreshed` columns to
    the inserted values: by dialect name, built once and executed with parameters.

    `parameters`, {column: name}: the inserted values bound to parameters of those names
    instead of the columns' own (needed where the insert shares a statement with an UPDATE,
    which takes a parameter named as one of its columns as a value to set)."""
    built: dict[str, Insert] = {}
    for dialect, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert)):
        statement = insert(table)
        if parameters is not None:
            statement = statement.values({c: bindparam(n) for c, n in parameters.items()})
        changes = {column: statement.excluded[column] for column in refreshed}
        built[dialect] = statement.on_conflict_do_update(index_elements=key, set_=changes)
    return built


def locking(statement: Select[*Ts], **options: Any) -> dict[bool, Select[*Ts]]:
    """A select as run on SQLite (False: `Context.serialized()` keeps writers apart) and on
    PostgreSQL (True: `FOR UPDATE` with `options`), built once."""
    return {False: statement, True: statement.with_for_update(**options)}


def make_engine(settings: Settings) -> Engine:
    if settings.is_sqlite:
        _ensure_sqlite_folder(settings.database_url)
    engine = create_engine(settings.database_url, **engine_options(settings))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _ensure_sqlite_folder(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
