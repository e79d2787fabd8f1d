"""What every use case needs: settings, sessions, Optuna, telemetry, and write serialization.

On SQLite one controller process owns the database, and `serialized()` runs each write use
case under one process lock (SQLite allows one writer at a time anyway, and our transactions
and Optuna's must not interleave). On PostgreSQL it is a no-op: row locks do the work.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from service.optuna_bridge import OptunaStudies
from service.settings import Settings
from service.telemetry import Telemetry

__all__ = ["Context"]


@dataclass
class Context:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    optuna: OptunaStudies
    telemetry: Telemetry
    # Optuna trials seen without a row of ours, by trial id: when first seen (monotonic).
    orphan_suspects: dict[int, float] = field(default_factory=dict)
    # Set by a claim that took a ready trial: the prefetcher asks the next one.
    prefetch_wanted: threading.Event = field(default_factory=threading.Event)
    _write_lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextlib.contextmanager
    def serialized(self) -> Iterator[None]:
        if self.is_postgres:
            yield
            return
        with self._write_lock:
            yield

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """A bare connection in a transaction, for hot paths written as SQL statements (no
        ORM objects): committed on success, rolled back on any error."""
        with self.engine.begin() as connection:
            yield connection
