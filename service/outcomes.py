"""Settling a trial: tell Optuna, re-queue its params when it may retry, record the outcome,
end the study when its budget is spent, and pause it when its trials keep failing.

Order matters on SQLite: every Optuna write happens before ours in the same use case, so our
write transaction never waits on Optuna's (see `service.context`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from search_spaces import ranges
from service.context import Context
from service.jobs import queue_retrain
from service.leaderboard import best_trial
from service.locking import lock_study
from service.tables import LeaseRow, StudyRow, TrialRow

__all__ = ["TrialOutcome", "finish_study_if_spent", "settle_trial"]

log = logging.getLogger(__name__)
# Failures that say nothing of the study's set-up: its worker stopped (SIGTERM; `workers.loop`)
# or vanished (the reaper's expired lease), or its params made the loss diverge (a high learning
# rate: KerasTuner does not count a NaN loss as a failed trial either). They neither count in a
# streak nor break one, so that a wide learning-rate range does not pause a study overnight.
NOT_A_SETUP_FAILURE = ("worker stopped", "lease expired", "nan loss")
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
    ended = finish_study_if_spent(ctx, session, study, now)
    if not ended and outcome.state == "failed" and outcome.reason not in NOT_A_SETUP_FAILURE:
        _pause_if_failing(ctx, session, study.study_id, outcome.reason, now)
    return requeued


def _pause_if_failing(
    ctx: Context, session: Session, study_id: int, reason: str | None, now: float
) -> None:
    """Pause a running study whose last `failure_streak` finished trials all failed, saying
    why: a dataset path that no worker can read, or a model that never builds, fails every
    trial, and the budget is better kept for after the fix (`hpsearch resume`); so does a
    batch that runs out of memory on every model. KerasTuner stops a search after 3 failed
    trials in a row (`max_consecutive_failed_trials`)."""
    streak = ctx.settings.failure_streak
    if streak <= 0:
        return
    latest = session.scalars(
        select(TrialRow.state)
        .where(TrialRow.study_id == study_id, TrialRow.finished_at.is_not(None))
        .where(
            or_(
                TrialRow.state != "failed",
                TrialRow.reason.is_(None),
                TrialRow.reason.not_in(NOT_A_SETUP_FAILURE),
            )
        )
        .order_by(TrialRow.finished_at.desc(), TrialRow.trial_id.desc())
        .limit(streak)
    ).all()
    if len(latest) < streak or any(state != "failed" for state in latest):
        return
    study = lock_study(ctx, session, study_id)
    if study.state != "running":
        return
    why = f"{streak} failed trials in a row; the last: {reason or 'no reason given'}"
    study.state, study.state_reason, study.updated_at = "paused", why[:2000], now
    log.warning("study %s paused: %s", study_id, study.state_reason)


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
