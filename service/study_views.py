"""Public views of studies and trials, assembled with a few grouped queries."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.jobs import latest_job
from service.leaderboard import best_trial, epochs_of
from service.schemas.studies import (
    EpochPublic,
    ModelFilePublic,
    RetrainPublic,
    StudyPublic,
    StudySummary,
    TrialPublic,
)
from service.tables import ArtifactRow, EpochRow, LeaseRow, StudyRow, TrialRow

__all__ = ["study_public", "study_summaries", "trial_page", "trial_public", "trials_public"]

STATES = ("queued", "ready", "running", "completed", "pruned", "failed")


def _counts(session: Session, study_ids: list[int]) -> dict[int, dict[str, int]]:
    counts = {sid: dict.fromkeys(STATES, 0) for sid in study_ids}
    statement = (
        select(TrialRow.study_id, TrialRow.state, func.count())
        .where(TrialRow.study_id.in_(study_ids))
        .group_by(TrialRow.study_id, TrialRow.state)
    )
    for study_id, state, count in session.execute(statement):
        counts[study_id][state] = count
    return counts


def _active_workers(session: Session, study_ids: list[int], now: float) -> dict[int, int]:
    statement = (
        select(LeaseRow.study_id, func.count(func.distinct(LeaseRow.worker_id)))
        .where(LeaseRow.study_id.in_(study_ids), LeaseRow.state == "active")
        .where(LeaseRow.expires_at > now)
        .group_by(LeaseRow.study_id)
    )
    return dict(session.execute(statement).all())


def _direction(study: StudyRow) -> str:
    objective = study.spec["objective"]
    first = objective[0] if isinstance(objective, list) else objective
    return str(first.get("direction") or "maximize")


def _summary_fields(
    session: Session, study: StudyRow, counts: dict[str, int], workers: int
) -> dict[str, object]:
    best = best_trial(session, study)
    return {
        "study_id": study.study_id,
        "name": study.name,
        "owner": study.owner,
        "state": study.state,
        "state_reason": study.state_reason,
        "priority": study.priority,
        "max_trials": study.max_trials,
        "max_parallel": study.max_parallel,
        "counts": counts,
        "best_value": best.value if best else None,
        "direction": _direction(study),
        "active_workers": workers,
        "created_at": study.created_at,
        "updated_at": study.updated_at,
    }


def study_summaries(session: Session, studies: list[StudyRow], now: float) -> list[StudySummary]:
    ids = [s.study_id for s in studies]
    counts, workers = _counts(session, ids), _active_workers(session, ids, now)
    return [
        StudySummary.model_validate(
            _summary_fields(session, s, counts[s.study_id], workers.get(s.study_id, 0))
        )
        for s in studies
    ]


def study_public(session: Session, study: StudyRow, now: float) -> StudyPublic:
    ids = [study.study_id]
    fields = _summary_fields(
        session,
        study,
        _counts(session, ids)[study.study_id],
        _active_workers(session, ids, now).get(study.study_id, 0),
    )
    retrain = retrain_public(session, study)
    best = best_trial(session, study)
    retrained = retrain.trial_id if retrain else None
    return StudyPublic.model_validate(
        {
            **fields,
            "spec": study.spec,
            "optuna_study_name": study.optuna_name,
            "ended_at": study.ended_at,
            "best": trial_public(best, epochs_of(session, [best.trial_id])[best.trial_id],
                                 retrained == best.trial_id) if best else None,
            "retrain": retrain,
        }
    )  # fmt: skip


def trial_public(
    trial: TrialRow, epochs: list[EpochRow] | None = None, retrained: bool = False
) -> TrialPublic:
    return TrialPublic(
        trial_id=trial.trial_id,
        number=trial.trial_number,
        state=trial.state,
        params=trial.params,
        value=trial.value,
        values=trial.values,
        metrics=trial.metrics,
        epochs=trial.epochs,
        best_epoch=trial.best_epoch,
        intermediate=[
            EpochPublic(epoch=e.epoch, value=e.value, metrics=e.metrics) for e in epochs or []
        ],
        worker_id=trial.worker_id,
        duration_s=trial.duration_s,
        reason=trial.reason,
        attempt=trial.attempt,
        retry_of=trial.retry_of,
        requeued=trial.requeued,
        n_params=trial.n_params,
        device=trial.device,
        started_at=trial.started_at,
        finished_at=trial.finished_at,
        retrained=retrained,
    )


def trials_public(session: Session, study: StudyRow, trials: list[TrialRow]) -> list[TrialPublic]:
    epochs = epochs_of(session, [t.trial_id for t in trials])
    job = latest_job(session, study.study_id)
    retrained = job.trial_id if job is not None and job.state == "completed" else None
    return [trial_public(t, epochs[t.trial_id], t.trial_id == retrained) for t in trials]


def retrain_public(session: Session, study: StudyRow) -> RetrainPublic | None:
    job = latest_job(session, study.study_id)
    if job is None:
        return None
    result = job.result or {}
    artifact = session.scalars(
        select(ArtifactRow).where(ArtifactRow.job_id == job.job_id).order_by(
            ArtifactRow.artifact_id.desc())
    ).first()  # fmt: skip
    model = (
        ModelFilePublic(
            filename=artifact.filename,
            size=artifact.size,
            sha256=artifact.sha256,
            url=f"/api/v1/studies/{study.study_id}/model",
        )
        if artifact is not None and job.state == "completed"
        else None
    )
    return RetrainPublic(
        job_id=job.job_id,
        state=job.state,
        trial_id=job.trial_id,
        trial_number=session.get_one(TrialRow, job.trial_id).trial_number,
        epochs=job.epochs,
        seeds=job.seeds,
        attempt=job.attempt,
        test_metrics=result.get("test_metrics"),
        seed_scores=result.get("seed_scores"),
        reason=job.reason,
        model=model,
    )


def trial_page(
    session: Session, study: StudyRow, state: str | None, limit: int, offset: int
) -> tuple[list[TrialRow], int]:
    """One page of a study's trials by number, and how many there are in all."""
    query = select(TrialRow).where(TrialRow.study_id == study.study_id)
    if state is not None:
        query = query.where(TrialRow.state == state)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(TrialRow.trial_number).offset(offset).limit(limit)
    return list(session.scalars(page)), total
