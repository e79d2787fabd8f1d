"""The fleet: each worker's last contact, device and current work."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db import db_now, upserts
from service.schemas.work import ClaimRequest
from service.tables import LeaseRow, TrialRow, WorkerRow

__all__ = ["list_workers", "record_contact"]


# A worker's row, created at its first contact and refreshed at every other: at a time
# given, or at the database's clock, which the statement returns.
_CONTACT = upserts(
    WorkerRow, ["worker_id"], ("hostname", "device", "capabilities", "last_seen", "token_id")
)
_CONTACT_NOW = {
    dialect: upsert.values(first_seen=db_now(), last_seen=db_now()).returning(WorkerRow.last_seen)
    for dialect, upsert in _CONTACT.items()
}


def record_contact(
    session: Session, request: ClaimRequest, token_id: int | None, now: float | None = None
) -> float:
    """Record a worker's contact at `now`, or (None) at the database's clock; returns the
    time recorded (a claim on PostgreSQL reads the clock this way, in the same statement)."""
    values: dict[str, Any] = {
        "worker_id": request.worker_id,
        "hostname": request.hostname,
        "device": request.device,
        "capabilities": request.capabilities,
        "token_id": token_id,
    }
    connection = session.connection()
    if now is None:
        return float(connection.execute(_CONTACT_NOW[connection.dialect.name], values).scalar_one())
    connection.execute(
        _CONTACT[connection.dialect.name], values | {"first_seen": now, "last_seen": now}
    )
    return now


def list_workers(session: Session, now: float) -> list[dict[str, Any]]:
    """Workers by last contact (the later of their last claim and their lease's renewal)."""
    leases = (
        select(
            LeaseRow.worker_id,
            func.max(LeaseRow.renewed_at).label("renewed"),
        )
        .group_by(LeaseRow.worker_id)
        .subquery()
    )
    rows = session.execute(
        select(WorkerRow, leases.c.renewed).outerjoin(
            leases, leases.c.worker_id == WorkerRow.worker_id
        )
    ).all()
    current = _current_work(session, now)
    workers = []
    for worker, renewed in rows:
        last = max(worker.last_seen, renewed or 0.0)
        work = current.get(worker.worker_id)
        workers.append(
            {
                "worker_id": worker.worker_id,
                "hostname": worker.hostname,
                "device": worker.device,
                "capabilities": worker.capabilities,
                "first_seen": worker.first_seen,
                "last_contact": last,
                "seconds_since_contact": max(0.0, now - last),
                "current": work,
            }
        )
    workers.sort(key=lambda w: w["last_contact"], reverse=True)
    return workers


def _current_work(session: Session, now: float) -> dict[str, dict[str, Any]]:
    statement = (
        select(LeaseRow, TrialRow.trial_number)
        .outerjoin(TrialRow, TrialRow.trial_id == LeaseRow.trial_id)
        .where(LeaseRow.state == "active", LeaseRow.expires_at > now)
    )
    current: dict[str, dict[str, Any]] = {}
    for lease, number in session.execute(statement):
        current[lease.worker_id] = {
            "work_id": lease.lease_id,
            "kind": lease.kind,
            "study_id": lease.study_id,
            "trial_id": lease.trial_id,
            "trial_number": number,
            "job_id": lease.job_id,
            "expires_in": lease.expires_at - now,
        }
    return current
