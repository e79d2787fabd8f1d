"""Ready trials: asked ahead of claims, so a claim hands one out without running the sampler.

With `HPSEARCH_PREFETCH=K` (default 0: off) a background task keeps up to K trials per
running study asked from Optuna and waiting in state `ready`; they count towards the budget.
A claim takes the oldest ready trial (and wakes the task to ask the next); with none ready
it asks at once, as without prefetching. Stopping a study, or changing its budget, gives
its ready trials back (failed in Optuna, their rows deleted); pausing keeps them.
"""

from __future__ import annotations

import asyncio
import logging

from optuna.trial import TrialState
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.asked_trials import asked_row, count_asked
from service.context import Context
from service.leases import db_time
from service.locking import lock_study
from service.optuna_bridge import AskedTrial
from service.tables import StudyRow, TrialRow

__all__ = ["pop_ready", "record_ready", "refill", "release_ready", "run_prefetcher"]

log = logging.getLogger(__name__)


def _wants_more(study: StudyRow, depth: int) -> bool:
    budget_left = study.trials_used < study.max_trials or study.trials_queued > 0
    return study.state == "running" and study.trials_ready < depth and budget_left


def refill(ctx: Context, depth: int | None = None) -> int:
    """Ask trials until every running study has `depth` (default: the `prefetch` setting)
    ready, or its budget is spent. Returns how many were asked."""
    depth = ctx.settings.prefetch if depth is None else depth
    if depth <= 0:
        return 0
    with ctx.sessions() as session:
        studies = session.scalars(
            select(StudyRow.study_id)
            .where(StudyRow.state == "running", StudyRow.trials_ready < depth)
            .order_by(StudyRow.priority.desc(), StudyRow.created_at)
        ).all()
    return sum(_refill_study(ctx, study_id, depth) for study_id in studies)


def _refill_study(ctx: Context, study_id: int, depth: int) -> int:
    added = 0
    while True:
        with ctx.serialized(), ctx.transaction() as session:
            study = lock_study(ctx, session, study_id)
            if not _wants_more(study, depth):
                return added
            _ask_ready(ctx, session, study, db_time(session))
            added += 1


def _ask_ready(ctx: Context, session: Session, study: StudyRow, now: float) -> None:
    record_ready(session, study, ctx.optuna.ask(study.optuna_name, study.spec), now)


def record_ready(session: Session, study: StudyRow, asked: AskedTrial, now: float) -> None:
    """Keep a trial asked from Optuna as ready for the next claim (the study row is locked);
    a re-queued trial it popped moves from queued to ready."""
    _, requeued = asked_row(session, study, asked, "ready", now)
    count_asked(study, requeued)
    study.trials_ready += 1


def pop_ready(session: Session, study: StudyRow) -> TrialRow | None:
    """The study's oldest ready trial, taken off the ready queue (the study row is locked)."""
    if study.trials_ready <= 0:
        return None
    trial = session.scalars(
        select(TrialRow)
        .where(TrialRow.study_id == study.study_id, TrialRow.state == "ready")
        .order_by(TrialRow.trial_number)
        .limit(1)
    ).first()
    if trial is None:
        study.trials_ready = 0
        return None
    study.trials_ready -= 1
    return trial


def release_ready(ctx: Context, session: Session, study: StudyRow) -> int:
    """Give a study's ready trials back: failed in Optuna, rows deleted, budget returned."""
    ready = list(
        session.scalars(
            select(TrialRow).where(TrialRow.study_id == study.study_id, TrialRow.state == "ready")
        )
    )
    for trial in ready:
        ctx.optuna.tell(study.optuna_name, study.spec, trial.trial_number, TrialState.FAIL)
    for trial in ready:
        session.delete(trial)
    study.trials_used -= len(ready)
    study.trials_ready = 0
    return len(ready)


async def run_prefetcher(ctx: Context, stop: asyncio.Event) -> None:
    """Keep the ready queues full; woken by claims that took a ready trial, else every second."""
    if ctx.settings.prefetch <= 0:
        return
    while not stop.is_set():
        try:
            await asyncio.to_thread(refill, ctx)
        except Exception:
            log.exception("prefetching failed this round; trying again")
        await asyncio.to_thread(ctx.prefetch_wanted.wait, 1.0)
        ctx.prefetch_wanted.clear()
