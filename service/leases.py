"""Leases: a worker's hold on one piece of work, timed by the database clock.

A lease is `active` until its holder completes the work (`done`), the reaper finds it past
`expires_at` (`expired`), or the worker hands it back (`released`). Only the holder of an
active, unexpired lease may write to its work; anything else is a 409 that changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Connection, Float, Update, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from service.context import Context
from service.db import db_now, locking
from service.errors import Conflict, NotFound
from service.tables import LeaseRow, StudyRow, TrialRow

__all__ = [
    "Ending",
    "RenewedLease",
    "check_held",
    "check_token",
    "db_time",
    "held_lease",
    "live_trial_leases",
    "lock_lease",
    "lock_to_end",
    "open_lease",
    "renew",
    "renew_held",
    "worker_lease",
]


# Statements of every claim and complete, built once and executed with parameters.
_NOW = select(db_now())
_WORKER_LEASE = (
    select(LeaseRow)
    .where(LeaseRow.worker_id == bindparam("worker"), LeaseRow.state == "active")
    .where(LeaseRow.expires_at > bindparam("now"))
    .order_by(LeaseRow.lease_id.desc())
    .limit(1)
)
_LIVE_TRIAL_LEASES = (
    select(LeaseRow.study_id, func.count())
    .where(LeaseRow.study_id.in_(bindparam("studies", expanding=True)))
    .where(LeaseRow.state == "active", LeaseRow.kind == "trial")
    .where(LeaseRow.expires_at > bindparam("now"))
    .group_by(LeaseRow.study_id)
)


def db_time(session: Session) -> float:
    """The database's clock, in epoch seconds."""
    return float(session.connection().execute(_NOW).scalar() or 0.0)


def worker_lease(session: Session, worker_id: str, now: float) -> LeaseRow | None:
    """The worker's live lease, if it holds one (a claim then answers with the same work)."""
    return session.scalars(_WORKER_LEASE, {"worker": worker_id, "now": now}).first()


def live_trial_leases(session: Session, study_ids: list[int], now: float) -> dict[int, int]:
    """Live trial leases per study (expired ones no longer hold a parallel slot)."""
    if not study_ids:
        return {}
    rows = session.connection().execute(_LIVE_TRIAL_LEASES, {"studies": study_ids, "now": now})
    return {study_id: count for study_id, count in rows}


def open_lease(
    session: Session,
    *,
    kind: str,
    study_id: int,
    worker_id: str,
    now: float,
    seconds: float,
    trial_id: int | None = None,
    job_id: int | None = None,
    token_id: int | None = None,
) -> LeaseRow:
    lease = LeaseRow(
        kind=kind,
        token_id=token_id,
        study_id=study_id,
        trial_id=trial_id,
        job_id=job_id,
        worker_id=worker_id,
        state="active",
        expires_at=now + seconds,
        created_at=now,
        renewed_at=now,
    )
    session.add(lease)
    session.flush()
    return lease


_LEASE_LOCKS = locking(select(LeaseRow).where(LeaseRow.lease_id == bindparam("work_id")))


def lock_lease(ctx: Context, session: Session, work_id: int) -> LeaseRow:
    row = session.scalars(_LEASE_LOCKS[ctx.is_postgres], {"work_id": work_id}).first()
    if row is None:
        raise NotFound(f"there is no work {work_id}")
    return row


# A complete's first statement: the lease, locked (on PostgreSQL only its row), the
# database's clock, and the lease's study and trial, read into the session with it.
_TO_END = locking(
    select(LeaseRow, db_now(), StudyRow, TrialRow)
    .join(StudyRow, StudyRow.study_id == LeaseRow.study_id)
    .outerjoin(TrialRow, TrialRow.trial_id == LeaseRow.trial_id)
    .where(LeaseRow.lease_id == bindparam("work_id")),
    of=LeaseRow,
)


class Ending(NamedTuple):
    """A lease to end, locked, with the database's clock and the lease's study and trial
    (unlocked; None for a retrain job). Holding them keeps them in the session's identity
    map, where `session.get` then finds them without a statement."""

    lease: LeaseRow
    now: float
    study: StudyRow
    trial: TrialRow | None


def lock_to_end(ctx: Context, session: Session, work_id: int) -> Ending:
    """The lease, locked, the database's clock, and the lease's study and trial, in one
    statement (a complete's first)."""
    row = session.execute(_TO_END[ctx.is_postgres], {"work_id": work_id}).first()
    if row is None:
        raise NotFound(f"there is no work {work_id}")
    lease, now, study, trial = row
    return Ending(lease, float(now), study, trial)


def held_lease(
    ctx: Context,
    session: Session,
    work_id: int,
    worker_id: str,
    now: float,
    token_id: int | None = None,
) -> LeaseRow:
    """The lease, locked, if `worker_id` holds it and it is live (else 409); work claimed
    with another token is a 404, as if it did not exist."""
    lease = lock_lease(ctx, session, work_id)
    check_held(lease, worker_id, now, token_id)
    return lease


def check_held(lease: LeaseRow, worker_id: str, now: float, token_id: int | None = None) -> None:
    """409 unless `worker_id` holds the (locked) lease and it is live; 404 for another token."""
    work_id = lease.lease_id
    check_token(lease, token_id)
    if lease.worker_id != worker_id:
        raise Conflict(f"work {work_id} is held by another worker, not {worker_id!r}")
    if lease.state != "active":
        raise Conflict(f"work {work_id} is {lease.state}; {worker_id!r} no longer holds it")
    if lease.expires_at <= now:
        raise Conflict(f"the lease on work {work_id} expired; its work is being re-queued")


def check_token(lease: LeaseRow, token_id: int | None) -> None:
    """Only the token that claimed a lease may use it (the bootstrap admin has no id)."""
    if lease.token_id is not None and token_id is not None and lease.token_id != token_id:
        raise NotFound(f"there is no work {lease.lease_id}")


def renew(lease: LeaseRow, now: float, seconds: float) -> None:
    lease.expires_at = now + seconds
    lease.renewed_at = now


@dataclass(frozen=True)
class RenewedLease:
    """A renewed lease, with what a report needs of its study and trial (one statement)."""

    lease_id: int
    kind: str
    study_id: int
    trial_id: int | None
    renewed_at: float
    study_state: str
    optuna_name: str
    trial_number: int | None


def _renewal(with_token: bool) -> Update:
    """The renewal of a live lease held by `:worker`, returning the lease, its study's state
    and Optuna name, and its trial's number; built once (executed with parameters)."""
    now = db_now()
    of_study = StudyRow.study_id == LeaseRow.study_id
    statement = (
        update(LeaseRow)
        .where(LeaseRow.lease_id == bindparam("work_id"))
        .where(LeaseRow.worker_id == bindparam("worker"))
        .where(LeaseRow.state == "active", LeaseRow.expires_at > now)
        .values(expires_at=now + bindparam("seconds", type_=Float), renewed_at=now)
        .returning(
            LeaseRow.kind,
            LeaseRow.study_id,
            LeaseRow.trial_id,
            LeaseRow.renewed_at,
            select(StudyRow.state).where(of_study).scalar_subquery(),
            select(StudyRow.optuna_name).where(of_study).scalar_subquery(),
            select(TrialRow.trial_number)
            .where(TrialRow.trial_id == LeaseRow.trial_id)
            .scalar_subquery(),
        )
    )
    if with_token:
        token = LeaseRow.token_id
        statement = statement.where(or_(token.is_(None), token == bindparam("token")))
    return statement


_RENEWALS = {False: _renewal(False), True: _renewal(True)}


def renew_held(
    ctx: Context,
    connection: Connection,
    work_id: int,
    worker_id: str,
    seconds: float,
    token_id: int | None = None,
) -> RenewedLease:
    """Renew a live lease that `worker_id` holds, in one statement (a report's and a
    heartbeat's hot path); when it does not hold one, the error `held_lease` gives."""
    parameters = {"work_id": work_id, "worker": worker_id, "seconds": seconds, "token": token_id}
    row = connection.execute(_RENEWALS[token_id is not None], parameters).first()
    if row is None:
        with Session(bind=connection) as session:
            held_lease(ctx, session, work_id, worker_id, db_time(session), token_id)
        raise Conflict(f"{worker_id!r} no longer holds work {work_id}")
    kind, study_id, trial_id, renewed_at, state, optuna_name, number = row
    return RenewedLease(
        work_id, kind, study_id, trial_id, float(renewed_at), state, optuna_name, number
    )
