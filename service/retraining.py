"""Retraining use cases: queue a retrain on request, record the uploaded model, find it.

The controller stores and serves the model file's bytes; it never loads the model.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.artifacts import StoredFile
from service.auth import Principal
from service.context import Context
from service.errors import Conflict, NotFound
from service.jobs import queue_retrain
from service.leaderboard import best_trial
from service.leases import db_time, held_lease
from service.locking import lock_study
from service.schemas.studies import RetrainRequest
from service.studies import visible_study
from service.tables import ArtifactRow, JobRow, LeaseRow, StudyRow, TrialRow

__all__ = ["model_artifact", "record_artifact", "request_retrain", "upload_target"]

log = logging.getLogger(__name__)


def request_retrain(
    ctx: Context, principal: Principal, study_id: int, request: RetrainRequest
) -> JobRow:
    """Queue a retrain of the best completed trial (or of `trial_id`)."""
    with ctx.serialized(), ctx.transaction() as session:
        visible_study(session, principal, study_id)
        study = lock_study(ctx, session, study_id)
        pending = session.scalar(
            select(JobRow.job_id).where(
                JobRow.study_id == study_id, JobRow.state.in_(("queued", "running"))
            )
        )
        if pending is not None:
            raise Conflict(
                f"retrain job {pending} of study {study_id} is already queued or running"
            )
        trial = _chosen_trial(session, study, request.trial_id)
        return queue_retrain(
            session, study, trial, db_time(session), epochs=request.epochs, seeds=request.seeds
        )


def _chosen_trial(session: Session, study: StudyRow, trial_id: int | None) -> TrialRow:
    if trial_id is None:
        best = best_trial(session, study)
        if best is None:
            raise Conflict(f"study {study.study_id} has no completed trial to retrain yet")
        return best
    trial = session.get(TrialRow, trial_id)
    if trial is None or trial.study_id != study.study_id:
        raise NotFound(f"study {study.study_id} has no trial {trial_id}")
    if trial.state != "completed":
        raise Conflict(f"trial {trial_id} is {trial.state}; only a completed trial is retrained")
    return trial


def artifact_key(lease: LeaseRow, job: JobRow, filename: str) -> str:
    return f"study-{lease.study_id}/job-{job.job_id}/attempt-{job.attempt}/{filename}"


def upload_target(
    ctx: Context, work_id: int, worker_id: str, filename: str, token_id: int | None = None
) -> str:
    """Where the holder of a live retrain lease may upload its model; 409 otherwise."""
    with ctx.sessions() as session:
        lease = held_lease(ctx, session, work_id, worker_id, db_time(session), token_id)
        if lease.kind != "retrain" or lease.job_id is None:
            raise Conflict(f"work {work_id} is a trial; only retrain jobs upload models")
        return artifact_key(lease, session.get_one(JobRow, lease.job_id), filename)


def record_artifact(
    ctx: Context,
    work_id: int,
    worker_id: str,
    filename: str,
    stored: StoredFile,
    token_id: int | None = None,
) -> ArtifactRow:
    """Record an upload, if the uploader still holds the lease (else 409, nothing kept)."""
    with ctx.serialized(), ctx.transaction() as session:
        now = db_time(session)
        lease = held_lease(ctx, session, work_id, worker_id, now, token_id)
        row = ArtifactRow(
            study_id=lease.study_id,
            job_id=lease.job_id,
            key=stored.key,
            filename=filename,
            size=stored.size,
            sha256=stored.sha256,
            created_at=now,
        )
        session.add(row)
        session.flush()
    log.info("model %s (%d bytes) stored for work %s", stored.key, stored.size, work_id)
    return row


def model_artifact(
    ctx: Context, principal: Principal, study_id: int
) -> tuple[StudyRow, ArtifactRow]:
    """The newest completed retrain's model file of a study; 404 when there is none yet."""
    with ctx.sessions() as session:
        study = visible_study(session, principal, study_id)
        statement = (
            select(ArtifactRow)
            .join(JobRow, JobRow.job_id == ArtifactRow.job_id)
            .where(ArtifactRow.study_id == study_id, JobRow.state == "completed")
            .order_by(ArtifactRow.artifact_id.desc())
            .limit(1)
        )
        artifact = session.scalars(statement).first()
        if artifact is None:
            raise NotFound(f"study {study_id} has no retrained model yet")
        return study, artifact
