"""Row locks: `SELECT ... FOR UPDATE` on PostgreSQL; on SQLite `Context.serialized()` already
keeps writers apart, so the statements run without a lock clause."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from service.context import Context
from service.tables import StudyRow

__all__ = ["for_update", "lock_study"]

T = TypeVar("T")


def for_update(ctx: Context, statement: Select[T], skip_locked: bool = False) -> Select[T]:
    if ctx.is_postgres:
        return statement.with_for_update(skip_locked=skip_locked)
    return statement


def _study_lock(postgres: bool) -> Select[StudyRow]:
    statement = select(StudyRow).where(StudyRow.study_id == bindparam("study_id"))
    if postgres:
        statement = statement.with_for_update(key_share=True)
    return statement.execution_options(populate_existing=True)


_STUDY_LOCKS = {postgres: _study_lock(postgres) for postgres in (False, True)}


def lock_study(ctx: Context, session: Session, study_id: int) -> StudyRow:
    """The study row, locked and freshly read (another transaction may have changed it).

    On PostgreSQL the lock is `FOR NO KEY UPDATE`: it keeps other writers of the row out but
    not the inserts of rows that refer to the study (a claim's trial and lease), which
    `FOR UPDATE` would make wait."""
    statement = _STUDY_LOCKS[ctx.is_postgres]
    return session.scalars(statement, {"study_id": study_id}).one()
