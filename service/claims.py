"""Claiming work: a worker's running lease again, else a retrain job, else a new trial.

A claim picks the runnable study of highest priority, then age, with a free parallel slot
and budget left; locks it (PostgreSQL: `FOR UPDATE`); asks Optuna for the next trial (a
re-queued one first); and records the trial and a lease. On SQLite nothing is written
before Optuna's ask, so our writes and Optuna's never interleave.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.assignments import assignment_for, build_assignment
from service.context import Context
from service.fleet import record_contact
from service.jobs import claim_job
from service.leases import check_token, db_time, live_trial_leases, open_lease, worker_lease
from service.locking import lock_study
from service.prefetch import pop_ready
from service.schemas.work import Assignment, ClaimRequest
from service.tables import StudyRow, TrialRow

__all__ = ["claim_work"]

log = logging.getLogger(__name__)
MAX_CANDIDATES = 50


def claim_work(ctx: Context, request: ClaimRequest, token_id: int | None) -> Assignment | None:
    with ctx.serialized(), ctx.transaction() as session:
        now = db_time(session)
        held = worker_lease(session, request.worker_id, now)
        assignment: Assignment | None
        if held is not None:
            check_token(held, token_id)
            assignment = assignment_for(ctx, session, held)
        else:
            assignment = _claim_new(ctx, session, request, now, token_id)
        record_contact(session, request, token_id, now)
    ctx.telemetry.claims.labels("work" if assignment else "none").inc()
    return assignment


def _claim_new(
    ctx: Context, session: Session, request: ClaimRequest, now: float, token_id: int | None
) -> Assignment | None:
    if "retrain" in request.kinds and request.study_id is None:
        job = claim_job(ctx, session, request.worker_id, now, token_id)
        if job is not None:
            return job
    if "trial" in request.kinds:
        return _claim_trial(ctx, session, request, now, token_id)
    return None


def _runnable(session: Session, study_id: int | None) -> list[StudyRow]:
    statement = (
        select(StudyRow)
        .where(StudyRow.state == "running")
        .order_by(StudyRow.priority.desc(), StudyRow.created_at, StudyRow.study_id)
        .limit(MAX_CANDIDATES)
    )
    if study_id is not None:
        statement = statement.where(StudyRow.study_id == study_id)
    else:
        statement = statement.where(StudyRow.fleet.is_(True))
    return list(session.scalars(statement))


def _has_room(study: StudyRow, running: int) -> bool:
    budget_left = study.trials_used < study.max_trials or study.trials_queued > 0
    return (budget_left or study.trials_ready > 0) and running < study.max_parallel


def _claim_trial(
    ctx: Context, session: Session, request: ClaimRequest, now: float, token_id: int | None
) -> Assignment | None:
    candidates = _runnable(session, request.study_id)
    running = live_trial_leases(session, [s.study_id for s in candidates], now)
    for candidate in candidates:
        if not _has_room(candidate, running.get(candidate.study_id, 0)):
            continue
        study = lock_study(ctx, session, candidate.study_id)
        live = live_trial_leases(session, [study.study_id], now).get(study.study_id, 0)
        if study.state != "running" or not _has_room(study, live):
            continue
        ready = pop_ready(session, study)
        if ready is not None:
            ctx.prefetch_wanted.set()
            return _lease_trial(ctx, session, study, ready, request.worker_id, now, token_id)
        return _start_trial(ctx, session, study, request.worker_id, now, token_id)
    return None


def _start_trial(
    ctx: Context,
    session: Session,
    study: StudyRow,
    worker_id: str,
    now: float,
    token_id: int | None,
) -> Assignment:
    asked = ctx.optuna.ask(study.optuna_name, study.spec)
    trial = session.get(TrialRow, asked.trial_id)
    if trial is not None and trial.state == "queued":
        study.trials_queued = max(0, study.trials_queued - 1)
        trial.params, trial.state = asked.params, "running"
        trial.worker_id, trial.started_at = worker_id, now
    else:
        trial = TrialRow(
            trial_id=asked.trial_id,
            study_id=study.study_id,
            trial_number=asked.number,
            state="running",
            attempt=1,
            params=asked.params,
            worker_id=worker_id,
            created_at=now,
            started_at=now,
        )
        session.add(trial)
    session.flush()
    study.trials_used += 1
    return _lease_trial(ctx, session, study, trial, worker_id, now, token_id)


def _lease_trial(
    ctx: Context,
    session: Session,
    study: StudyRow,
    trial: TrialRow,
    worker_id: str,
    now: float,
    token_id: int | None,
) -> Assignment:
    trial.state, trial.worker_id, trial.started_at = "running", worker_id, now
    study.updated_at = now
    lease = open_lease(
        session,
        kind="trial",
        study_id=study.study_id,
        worker_id=worker_id,
        now=now,
        seconds=ctx.settings.lease_seconds,
        trial_id=trial.trial_id,
        token_id=token_id,
    )
    log.info("trial %s of study %s to %s", trial.trial_number, study.study_id, worker_id)
    return build_assignment(ctx, lease, study, trial)
