"""The reaper: ends leases that ran out, fails their work with reason `lease expired`, and
re-queues it (a trial's params through Optuna's queue, a retrain job as it was) up to the
retry budget, so a killed worker loses nothing. It also completes studies whose budget is
spent once nothing runs (the path a completion normally takes, kept here as a safety net).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import select

from service.context import Context
from service.jobs import settle_job
from service.leases import db_time
from service.locking import lock_study
from service.outcomes import TrialOutcome, finish_study_if_spent, settle_trial
from service.tables import LeaseRow, StudyRow, TrialRow

__all__ = ["reap_expired", "run_reaper"]

log = logging.getLogger(__name__)
EXPIRED = "lease expired"
BATCH = 100


def reap_expired(ctx: Context) -> int:
    """Expire every lease past its end; returns how many were expired."""
    with ctx.sessions() as session:
        now = db_time(session)
        due = session.scalars(
            select(LeaseRow.lease_id)
            .where(LeaseRow.state == "active", LeaseRow.expires_at <= now)
            .order_by(LeaseRow.lease_id)
            .limit(BATCH)
        ).all()
    reaped = sum(_expire(ctx, lease_id) for lease_id in due)
    _complete_spent_studies(ctx)
    fail_orphans(ctx)
    return reaped


def fail_orphans(ctx: Context, now: float | None = None) -> int:
    """Fail Optuna trials that have had no row of ours for longer than a lease.

    They come from a controller killed between Optuna's write and its own commit (a claim's
    ask, a re-queue); the work they stood for was redone or never handed out.
    """
    clock = time.monotonic() if now is None else now
    with ctx.sessions() as session:
        studies = (
            session.execute(
                select(StudyRow.optuna_study_id).where(StudyRow.state.in_(("running", "paused")))
            )
            .scalars()
            .all()
        )
        unfinished = [tid for sid in studies for tid in ctx.optuna.unfinished(sid)]
        known = set(
            session.scalars(select(TrialRow.trial_id).where(TrialRow.trial_id.in_(unfinished)))
        )
    orphans = set(unfinished) - known
    suspects = ctx.orphan_suspects
    for trial_id in list(suspects):
        if trial_id not in orphans:
            del suspects[trial_id]
    failed = 0
    for trial_id in orphans:
        first_seen = suspects.setdefault(trial_id, clock)
        if clock - first_seen > ctx.settings.lease_seconds:
            with ctx.serialized():
                ctx.optuna.fail(trial_id)
            del suspects[trial_id]
            failed += 1
            log.warning("optuna trial %s had no record here; marked failed", trial_id)
    return failed


def _expire(ctx: Context, lease_id: int) -> bool:
    with ctx.serialized(), ctx.transaction() as session:
        now = db_time(session)
        statement = select(LeaseRow).where(LeaseRow.lease_id == lease_id)
        if ctx.is_postgres:
            statement = statement.with_for_update(skip_locked=True)
        lease = session.scalars(statement).first()
        if lease is None or lease.state != "active" or lease.expires_at > now:
            return False
        if lease.kind == "trial":
            outcome = TrialOutcome(state="failed", reason=EXPIRED, retryable=True)
            settle_trial(ctx, session, lease, outcome, now, lease_state="expired")
        else:
            settle_job(ctx, session, lease, succeeded=False, result=None, reason=EXPIRED,
                       retryable=True, now=now)  # fmt: skip
            lease.state, lease.ended_at = "expired", now
        ctx.telemetry.lease_expiries.labels(lease.kind).inc()
        log.warning("lease %s of %s expired (%s)", lease_id, lease.worker_id, lease.kind)
    return True


def _complete_spent_studies(ctx: Context) -> None:
    with ctx.sessions() as session:
        spent = session.scalars(
            select(StudyRow.study_id).where(
                StudyRow.state == "running",
                StudyRow.trials_used >= StudyRow.max_trials,
                StudyRow.trials_queued == 0,
                StudyRow.trials_ready == 0,
            )
        ).all()
    for study_id in spent:
        with ctx.serialized(), ctx.transaction() as session:
            study = lock_study(ctx, session, study_id)
            finish_study_if_spent(ctx, session, study, db_time(session))


async def run_reaper(ctx: Context, stop: asyncio.Event) -> None:
    """Reap every `reaper_interval` seconds until `stop` is set; errors are logged, not fatal."""
    while not stop.is_set():
        try:
            count = await asyncio.to_thread(reap_expired, ctx)
            if count:
                log.info("reaped %d expired leases", count)
        except Exception:
            log.exception("the reaper failed this round; trying again next round")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=ctx.settings.reaper_interval)
