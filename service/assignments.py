"""The assignment a claim answers with, built from a lease and the rows it points at."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.context import Context
from service.schemas.work import Assignment, RetrainOrder
from service.tables import JobRow, LeaseRow, StudyRow, TrialRow

__all__ = ["assignment_for", "build_assignment"]


def _objectives(spec: dict[str, Any]) -> list[dict[str, Any]]:
    objective = spec["objective"]
    return objective if isinstance(objective, list) else [objective]


def build_assignment(
    ctx: Context,
    lease: LeaseRow,
    study: StudyRow,
    trial: TrialRow,
    job: JobRow | None = None,
) -> Assignment:
    spec = study.spec
    seconds = ctx.settings.lease_seconds
    return Assignment(
        work_id=lease.lease_id,
        kind="retrain" if job is not None else "trial",
        study_id=study.study_id,
        study_name=study.name,
        trial_id=trial.trial_id,
        trial_number=trial.trial_number,
        attempt=job.attempt if job is not None else trial.attempt,
        params=dict(trial.params),
        model=spec["model"],
        dataset=spec["dataset"],
        split=spec["split"],
        training=spec["training"],
        objectives=_objectives(spec),
        seed=spec.get("seed"),
        lease_seconds=seconds,
        heartbeat_seconds=max(1.0, seconds / 4),
        retrain=RetrainOrder(job_id=job.job_id, epochs=job.epochs, seeds=job.seeds)
        if job is not None
        else None,
    )


def assignment_for(ctx: Context, session: Session, lease: LeaseRow) -> Assignment:
    """Rebuild the assignment of a lease the worker already holds (an idempotent claim)."""
    study = session.get_one(StudyRow, lease.study_id)
    job = session.get_one(JobRow, lease.job_id) if lease.job_id is not None else None
    trial_id = job.trial_id if job is not None else lease.trial_id
    trial = session.get_one(TrialRow, trial_id)
    return build_assignment(ctx, lease, study, trial, job)
