"""Moving a lease's end into the past, as if its worker had gone silent for too long."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import update

from service.db import db_now
from service.tables import LeaseRow


def expire_lease(app: FastAPI, work_id: int) -> None:
    ctx = app.state.ctx
    with ctx.transaction() as session:
        session.execute(
            update(LeaseRow).where(LeaseRow.lease_id == work_id).values(expires_at=db_now() - 1)
        )
