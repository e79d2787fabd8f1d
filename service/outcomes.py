"""Settling a trial: tell Optuna, re-queue its params when it may retry, record the outcome,
and end the study when its budget is spent.

Order matters on SQLite: every Optuna write happens before ours in the same use case, so our
write transaction never waits on Optuna's (see `service.context`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from search_spaces import ranges
from service.context import Context
from service.jobs import queue_retrain
from service.leaderboard import best_trial
from service.locking import lock_study
from service.tables import LeaseRow, StudyRow, TrialRow

__all__ = ["TrialOutcome", "finish_study_if_spent", "settle_trial"]

log = logging.getLogger(__name__)
_OPTUNA_STATES = {
    "completed": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "failed": TrialState.FAIL,
}


@dataclass(frozen=True)
class TrialOutcome:
    state: str  # completed | pruned | failed
    values: list[float] | None = None
    metrics: dict[str, Any] | None = None
    reason: str | None = None
    retryable: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def settle_trial(
    ctx: Context,
    session: Session,
    lease: LeaseRow,
    outcome: TrialOutcome,
    now: float,
    lease_state: str = "done",
    study: StudyRow | None = None,
) -> int | None:
    """Record a trial's end; returns the id of the trial its params were re-queued as.

    `study`: the lease's study as the caller read it. The study's row is locked only when
    its counters change (a re-queue) or its budget looks spent, so that completes do not
    queue behind each other and behind claims on one row."""
    trial = session.get_one(TrialRow, lease.trial_id)
    retry = outcome.state == "failed" and outcome.retryable
    retry = retry and trial.attempt <= ctx.settings.retry_budget
    if study is None or retry:
        study = lock_study(ctx, session, lease.study_id)
    # The re-queue writes through Optuna's own connection: before any write of ours (SQLite).
    requeued = _requeue(ctx, session, study, trial, now) if retry else None
    ctx.optuna.finish(
        session, study.optuna_name, study.spec, (trial.trial_id, trial.trial_number),
        _OPTUNA_STATES[outcome.state], outcome.values if outcome.state == "completed" else None,
    )  # fmt: skip
    _record(trial, outcome, now, requeued is not None)
    lease.state, lease.ended_at = lease_state, now
    ctx.telemetry.finished.labels(outcome.state).inc()
    finish_study_if_spent(ctx, session, study, now)
    return requeued


def _requeue(ctx: Context, session: Session, study: StudyRow, trial: TrialRow, now: float) -> int:
    spec = ctx.optuna.spec(study.optuna_name, study.spec)
    sampled = {k: v for k, v in trial.params.items() if k in ranges(spec.space)}
    trial_id, number = ctx.optuna.requeue(study.optuna_study_id, sampled)
    session.add(
        TrialRow(
            trial_id=trial_id,
            study_id=study.study_id,
            trial_number=number,
            state="queued",
            attempt=trial.attempt + 1,
            retry_of=trial.trial_id,
            params=dict(trial.params),
            created_at=now,
        )
    )
    study.trials_used -= 1
    study.trials_queued += 1
    ctx.telemetry.requeues.inc()
    log.info("trial %s re-queued as %s (attempt %s)", trial.trial_id, trial_id, trial.attempt + 1)
    return trial_id


def _record(trial: TrialRow, outcome: TrialOutcome, now: float, requeued: bool) -> None:
    trial.state = outcome.state
    trial.values = list(outcome.values) if outcome.values is not None else None
    trial.value = outcome.values[0] if outcome.values else None
    trial.metrics = outcome.metrics
    trial.reason = outcome.reason
    trial.requeued = requeued
    trial.finished_at = now
    details = outcome.details
    trial.epochs = max(trial.epochs, details.get("epochs") or 0)
    trial.best_epoch = details.get("best_epoch", trial.best_epoch)
    trial.n_params = details.get("n_params", trial.n_params)
    trial.device = details.get("device", trial.device)
    duration = details.get("duration_s")
    trial.duration_s = duration if duration is not None else now - (trial.started_at or now)


def finish_study_if_spent(ctx: Context, session: Session, study: StudyRow, now: float) -> bool:
    """Mark a running study completed once its budget is spent and nothing runs; queue the
    retrain its spec asks for. The study's row is locked (and read again) once it looks
    spent: of two trials ending at once, the second to take the lock sees the first's end."""
    if not _looks_spent(study):
        return False
    study = lock_study(ctx, session, study.study_id)
    if not _looks_spent(study):
        return False
    running = session.scalar(
        select(func.count())
        .select_from(TrialRow)
        .where(TrialRow.study_id == study.study_id, TrialRow.state == "running")
    )
    if running:
        return False
    study.state, study.ended_at, study.updated_at = "completed", now, now
    log.info("study %s completed", study.study_id)
    best = best_trial(session, study)
    if study.spec.get("retrain") is not None and best is not None:
        queue_retrain(session, study, best, now)
    return True


def _looks_spent(study: StudyRow) -> bool:
    waiting = study.trials_queued or study.trials_ready
    return study.state == "running" and study.trials_used >= study.max_trials and not waiting
