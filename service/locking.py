"""Row locks: `SELECT ... FOR UPDATE` on PostgreSQL; on SQLite `Context.serialized()` already
keeps writers apart, so the statements run without a lock clause."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from service.context import Context
from service.db import locking
from service.tables import StudyRow

__all__ = ["lock_study"]

_STUDY_LOCKS = locking(
    select(StudyRow)
    .where(StudyRow.study_id == bindparam("study_id"))
    .execution_options(populate_existing=True),
    key_share=True,
)


def lock_study(ctx: Context, session: Session, study_id: int) -> StudyRow:
    """The study row, locked and freshly read (another transaction may have changed it).

    On PostgreSQL the lock is `FOR NO KEY UPDATE`: it keeps other writers of the row out but
    not the inserts of rows that refer to the study (a claim's trial and lease), which
    `FOR UPDATE` would make wait."""
    statement = _STUDY_LOCKS[ctx.is_postgres]
    return session.scalars(statement, {"study_id": study_id}).one()
