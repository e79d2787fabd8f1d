"""Claiming work: a worker's running lease again, else a retrain job, else a new trial.

A claim picks the runnable study of highest priority, then age, with a free parallel slot
and budget left; asks Optuna for the next trial (a re-queued one first); records the trial
and a lease; and, with the study locked, checks its room again and counts the trial. On
PostgreSQL the ask comes before the lock, and the trial's row and lease are written before
it too, so that concurrent claims of one study hold its lock only for the check and the
count (a claim that finds no room after all is rolled back, and its trial kept ready or
given back). On SQLite (one process, writes serialized) the ask comes after the lock, and
nothing of ours is written before it.
"""

from __future__ import annotations

import logging

from optuna.trial import TrialState
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from service.asked_trials import asked_row, count_asked
from service.assignments import assignment_for, build_assignment
from service.context import Context
from service.fleet import record_contact
from service.jobs import claim_job
from service.leases import check_token, db_time, live_trial_leases, open_lease, worker_lease
from service.locking import lock_study
from service.optuna_bridge import AskedTrial
from service.prefetch import pop_ready, record_ready
from service.schemas.work import Assignment, ClaimRequest
from service.tables import LeaseRow, StudyRow, TrialRow

__all__ = ["claim_work"]

log = logging.getLogger(__name__)
MAX_CANDIDATES = 50


class _NoRoom(Exception):
    """A trial asked ahead and written, for a study found without room once locked."""

    def __init__(self, study_id: int, asked: AskedTrial) -> None:
        super().__init__(study_id)
        self.study_id, self.asked = study_id, asked


def claim_work(ctx: Context, request: ClaimRequest, token_id: int | None) -> Assignment | None:
    assignment: Assignment | None
    try:
        with ctx.serialized(), ctx.transaction() as session:
            # The worker's contact: before the study's lock on PostgreSQL (where it reads
            # the clock too); on SQLite after Optuna's writes.
            now = (
                record_contact(session, request, token_id) if ctx.is_postgres else db_time(session)
            )
            held = worker_lease(session, request.worker_id, now)
            if held is not None:
                check_token(held, token_id)
                assignment = assignment_for(ctx, session, held)
            else:
                assignment = _claim_new(ctx, session, request, now, token_id)
            if not ctx.is_postgres:
                record_contact(session, request, token_id, now)
    except _NoRoom as late:
        _give_back(ctx, late)
        assignment = None
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


def _runnable_studies(one_study: bool) -> Select[StudyRow, int]:
    """Running studies by priority, then age, each with its count of live trial leases: the
    one asked for, or every fleet study. (The count is a first look, without a lock: the
    study's room is counted again once it is locked.)"""
    live = (
        select(func.count())
        .where(LeaseRow.study_id == StudyRow.study_id, LeaseRow.kind == "trial")
        .where(LeaseRow.state == "active", LeaseRow.expires_at > bindparam("now"))
        .scalar_subquery()
    )
    statement = (
        select(StudyRow, live)
        .where(StudyRow.state == "running")
        .order_by(StudyRow.priority.desc(), StudyRow.created_at, StudyRow.study_id)
        .limit(MAX_CANDIDATES)
    )
    if one_study:
        return statement.where(StudyRow.study_id == bindparam("study_id"))
    return statement.where(StudyRow.fleet.is_(True))


_RUNNABLE = {one_study: _runnable_studies(one_study) for one_study in (False, True)}


def _runnable(session: Session, study_id: int | None, now: float) -> list[tuple[StudyRow, int]]:
    statement = _RUNNABLE[study_id is not None]
    rows = session.execute(statement, {"study_id": study_id, "now": now})
    return [(study, int(live)) for study, live in rows]


def _has_room(study: StudyRow, running: int) -> bool:
    budget_left = study.trials_used < study.max_trials or study.trials_queued > 0
    return (budget_left or study.trials_ready > 0) and running < study.max_parallel


def _claim_trial(
    ctx: Context, session: Session, request: ClaimRequest, now: float, token_id: int | None
) -> Assignment | None:
    for candidate, running in _runnable(session, request.study_id, now):
        if not _has_room(candidate, running):
            continue
        asked = _ask_ahead(ctx, candidate)
        if asked is not None:
            return _start_asked(ctx, session, candidate, asked, request.worker_id, now, token_id)
        study = _lock_with_room(ctx, session, candidate.study_id, now)
        if study is None:
            continue
        ready = pop_ready(session, study)
        if ready is not None:
            ctx.prefetch_wanted.set()
            study.updated_at = now
            return _lease_trial(ctx, session, study, ready, request.worker_id, now, token_id)
        asked = ctx.optuna.ask(study.optuna_name, study.spec)
        return _start_trial(ctx, session, study, asked, request.worker_id, now, token_id)
    return None


def _start_asked(
    ctx: Context,
    session: Session,
    study: StudyRow,
    asked: AskedTrial,
    worker_id: str,
    now: float,
    token_id: int | None,
) -> Assignment:
    """A trial asked before any lock: its row and lease first, then the study locked, its
    room checked again (the live leases counted now include this one) and the trial counted."""
    trial, requeued = asked_row(session, study, asked, "running", now, worker_id)
    assignment = _lease_trial(ctx, session, study, trial, worker_id, now, token_id)
    locked = _lock_with_room(ctx, session, study.study_id, now, own_lease=True)
    if locked is None:
        raise _NoRoom(study.study_id, asked)
    count_asked(locked, requeued)
    locked.updated_at = now
    return assignment


def _lock_with_room(
    ctx: Context, session: Session, study_id: int, now: float, own_lease: bool = False
) -> StudyRow | None:
    """The study, locked, if it still runs and has room (`own_lease`: one of its live leases
    is this claim's, already written); else None."""
    study = lock_study(ctx, session, study_id)
    live = live_trial_leases(session, [study_id], now).get(study_id, 0) - int(own_lease)
    return study if study.state == "running" and _has_room(study, live) else None


def _give_back(ctx: Context, late: _NoRoom) -> None:
    """After a claim rolled back for want of room: keep its trial ready or give it back."""
    with ctx.serialized(), ctx.transaction() as session:
        study = lock_study(ctx, session, late.study_id)
        _keep_or_return(ctx, session, study, late.asked, db_time(session))


def _ask_ahead(ctx: Context, candidate: StudyRow) -> AskedTrial | None:
    """On PostgreSQL, ask Optuna before locking the study, so that concurrent claims run
    their samplers side by side and hold the lock only to record the trial; not when a
    trial is ready anyway, nor within `max_parallel` trials of the budget's end (where a
    trial asked too many would be given back)."""
    if not ctx.is_postgres or candidate.trials_ready > 0:
        return None
    if candidate.max_trials - candidate.trials_used <= candidate.max_parallel:
        return None
    return ctx.optuna.ask(candidate.optuna_name, candidate.spec)


def _keep_or_return(
    ctx: Context, session: Session, study: StudyRow, asked: AskedTrial, now: float
) -> None:
    """A trial asked ahead for a study that has no room after all: ready for the next claim
    while the study has budget (a re-queued trial always has), else failed in Optuna."""
    queued = session.get(TrialRow, asked.trial_id)
    budget_left = study.trials_used < study.max_trials
    if (queued is not None and queued.state == "queued") or (
        budget_left and study.state in ("running", "paused")
    ):
        record_ready(session, study, asked, now)
        return
    log.info("trial %s asked for study %s is given back", asked.number, study.study_id)
    ctx.optuna.tell(study.optuna_name, study.spec, asked.number, TrialState.FAIL)


def _start_trial(
    ctx: Context,
    session: Session,
    study: StudyRow,
    asked: AskedTrial,
    worker_id: str,
    now: float,
    token_id: int | None,
) -> Assignment:
    trial, requeued = asked_row(session, study, asked, "running", now, worker_id)
    count_asked(study, requeued)
    study.updated_at = now
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
