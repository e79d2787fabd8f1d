"""Our row for a trial asked from Optuna, and the study's count of it (claims, prefetching)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.optuna_bridge import AskedTrial
from service.tables import StudyRow, TrialRow

__all__ = ["asked_row", "count_asked"]


def asked_row(
    session: Session,
    study: StudyRow,
    asked: AskedTrial,
    state: str,
    now: float,
    worker_id: str | None = None,
) -> tuple[TrialRow, bool]:
    """The asked trial's row in `state`, flushed (a lease may refer to it): a re-queued
    trial's own row out of `queued` (True), else a new row (False)."""
    trial = None if asked.fresh else session.get(TrialRow, asked.trial_id)
    requeued = trial is not None and trial.state == "queued"
    if trial is None or trial.state != "queued":
        trial = TrialRow(
            trial_id=asked.trial_id,
            study_id=study.study_id,
            trial_number=asked.number,
            attempt=1,
            created_at=now,
        )
        session.add(trial)
    trial.state, trial.params = state, asked.params
    if worker_id is not None:
        trial.worker_id, trial.started_at = worker_id, now
    session.flush()
    return trial, requeued


def count_asked(study: StudyRow, requeued: bool) -> None:
    """The study's counters for an asked trial it now holds (its row is locked)."""
    if requeued:
        study.trials_queued = max(0, study.trials_queued - 1)
    study.trials_used += 1
