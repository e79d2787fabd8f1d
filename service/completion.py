"""Completing work: a trial's final metrics or failure, or a retrain job's result.

A retried complete with the same body answers as the first did; a different body, or a
complete from a worker whose lease expired or was taken over, is a 409 that changes nothing.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy.orm import Session

from search_spaces import StudySpec
from service.context import Context
from service.errors import Conflict, Invalid
from service.jobs import settle_job
from service.leases import Ending, check_held, check_token, lock_to_end
from service.outcomes import TrialOutcome, settle_trial
from service.schemas.work import CompleteRequest, CompleteResponse
from service.tables import JobRow, LeaseRow, json_safe

__all__ = ["complete_work", "objective_values"]


def objective_values(spec: StudySpec, metrics: dict[str, Any]) -> list[float]:
    """The objectives' values from final metrics; 422 naming a missing or non-finite one."""
    values = []
    for objective in spec.objectives:
        value = metrics.get(objective.metric)
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise Invalid.at(
                ["body", "metrics", objective.metric],
                f"a completed trial must report a finite {objective.metric!r}, got {value!r}",
            )
        values.append(float(value))
    return values


def complete_work(
    ctx: Context, work_id: int, request: CompleteRequest, token_id: int | None = None
) -> CompleteResponse:
    body = json_safe(request.model_dump(mode="json"))
    with ctx.serialized(), ctx.transaction() as session:
        ending = lock_to_end(ctx, session, work_id)
        lease, now = ending.lease, ending.now
        check_token(lease, token_id)
        if lease.state == "done" and lease.outcome is not None:
            return _repeat(lease, request.worker_id, body)
        check_held(lease, request.worker_id, now, token_id)
        if lease.kind == "retrain":
            response = _finish_job(ctx, session, lease, request, now)
        else:
            response = _finish_trial(ctx, session, ending, request)
        lease.outcome = {"request": body, "response": response.model_dump(mode="json")}
    return response


def _repeat(lease: LeaseRow, worker_id: str, body: dict[str, Any]) -> CompleteResponse:
    outcome = lease.outcome or {}
    if lease.worker_id == worker_id and outcome.get("request") == body:
        return CompleteResponse.model_validate(outcome["response"])
    raise Conflict(f"work {lease.lease_id} was already completed with a different result")


def _finish_trial(
    ctx: Context, session: Session, ending: Ending, request: CompleteRequest
) -> CompleteResponse:
    lease, now, study = ending.lease, ending.now, ending.study
    spec = ctx.optuna.spec(study.optuna_name, study.spec)
    values = objective_values(spec, request.metrics) if request.status == "completed" else None
    outcome = TrialOutcome(
        state=request.status,
        values=values,
        metrics=request.metrics,
        reason=request.reason,
        retryable=request.retryable,
        details=request.model_dump(
            include={"duration_s", "epochs", "best_epoch", "n_params", "device"}
        ),
    )
    requeued = settle_trial(ctx, session, lease, outcome, now, study=study)
    return CompleteResponse(
        work_id=lease.lease_id,
        state=outcome.state,
        trial_id=lease.trial_id,
        values=list(values) if values is not None else None,
        requeued_as=requeued,
    )


def _finish_job(
    ctx: Context, session: Session, lease: LeaseRow, request: CompleteRequest, now: float
) -> CompleteResponse:
    result: dict[str, Any] = {"test_metrics": request.metrics, "seed_scores": request.seed_scores}
    result |= {
        "duration_s": request.duration_s,
        "n_params": request.n_params,
        "device": request.device,
    }
    state = settle_job(
        ctx,
        session,
        lease,
        succeeded=request.status == "completed",
        result=result,
        reason=request.reason,
        retryable=request.retryable,
        now=now,
    )
    lease.state, lease.ended_at = "done", now
    return CompleteResponse(
        work_id=lease.lease_id, state=state, trial_id=_job_trial(session, lease)
    )


def _job_trial(session: Session, lease: LeaseRow) -> int:
    return session.get_one(JobRow, lease.job_id).trial_id
