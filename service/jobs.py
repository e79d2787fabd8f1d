"""Retrain jobs: queued when a study ends (or on request), claimed like trials, leased."""

from __future__ import annotations

import logging
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.assignments import build_assignment
from service.context import Context
from service.db import locking
from service.leases import open_lease
from service.schemas.work import Assignment
from service.tables import JobRow, LeaseRow, StudyRow, TrialRow

__all__ = ["claim_job", "latest_job", "queue_retrain", "retrain_epochs", "settle_job"]

log = logging.getLogger(__name__)


def retrain_epochs(spec: dict[str, Any], trial: TrialRow, requested: int | None = None) -> int:
    """Epochs for retraining on train+val: as asked, else the trial's best epoch scaled up
    by (train+val)/train, rounded up."""
    configured = requested or (spec.get("retrain") or {}).get("epochs")
    if configured:
        return int(str(configured))
    best = int(trial.best_epoch or trial.epochs or spec["training"]["epochs"])
    val, test = float(spec["split"]["val"]), float(spec["split"]["test"])
    return max(1, math.ceil(best * (1 - test) / (1 - test - val)))


def queue_retrain(
    session: Session,
    study: StudyRow,
    trial: TrialRow,
    now: float,
    *,
    epochs: int | None = None,
    seeds: int | None = None,
) -> JobRow:
    spec_retrain = study.spec.get("retrain") or {}
    job = JobRow(
        study_id=study.study_id,
        kind="retrain",
        trial_id=trial.trial_id,
        epochs=retrain_epochs(study.spec, trial, epochs),
        seeds=seeds or int(spec_retrain.get("seeds", 1)),
        state="queued",
        attempt=0,
        created_at=now,
    )
    session.add(job)
    session.flush()
    log.info(
        "retrain job %s queued for trial %s of study %s", job.job_id, trial.trial_id, study.study_id
    )
    return job


def latest_job(session: Session, study_id: int) -> JobRow | None:
    statement = (
        select(JobRow).where(JobRow.study_id == study_id).order_by(JobRow.job_id.desc()).limit(1)
    )
    return session.scalars(statement).first()


# The first queued job, skipping those other claims hold (PostgreSQL).
_QUEUED_JOB = locking(
    select(JobRow).where(JobRow.state == "queued").order_by(JobRow.job_id).limit(1),
    skip_locked=True,
)


def claim_job(
    ctx: Context, session: Session, worker_id: str, now: float, token_id: int | None = None
) -> Assignment | None:
    job = session.scalars(_QUEUED_JOB[ctx.is_postgres]).first()
    if job is None:
        return None
    job.state = "running"
    job.attempt += 1
    job.worker_id = worker_id
    job.started_at = now
    lease = open_lease(
        session,
        kind="retrain",
        study_id=job.study_id,
        worker_id=worker_id,
        now=now,
        seconds=ctx.settings.lease_seconds,
        job_id=job.job_id,
        token_id=token_id,
    )
    study = session.get_one(StudyRow, job.study_id)
    trial = session.get_one(TrialRow, job.trial_id)
    log.info("retrain job %s to %s (attempt %s)", job.job_id, worker_id, job.attempt)
    return build_assignment(ctx, lease, study, trial, job)


def settle_job(
    ctx: Context,
    session: Session,
    lease: LeaseRow,
    *,
    succeeded: bool,
    result: dict[str, Any] | None,
    reason: str | None,
    retryable: bool,
    now: float,
) -> str:
    """Finish or re-queue a retrain job; returns the job's new state."""
    job = session.get_one(JobRow, lease.job_id)
    if succeeded:
        job.state, job.result, job.reason = "completed", result, None
    elif retryable and job.attempt <= ctx.settings.retry_budget:
        job.state, job.reason = "queued", reason
    else:
        job.state, job.reason = "failed", reason
    job.finished_at = now if job.state != "queued" else None
    return job.state
