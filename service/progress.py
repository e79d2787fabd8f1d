"""Progress from a worker: per-epoch reports (answered with prune or not) and heartbeats.

Both renew the lease. A report stores every metric of the epoch, then gives the objective's
value to Optuna, whose pruner answers; a stopped study answers prune to every report.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import optuna
from sqlalchemy.orm import Session

from service.context import Context
from service.errors import Conflict, TooLarge
from service.leases import db_time, held_lease, renew
from service.schemas.work import (
    HeartbeatRequest,
    HeartbeatResponse,
    ReportRequest,
    ReportResponse,
)
from service.tables import EpochRow, StudyRow, TrialRow

__all__ = ["heartbeat", "report_epoch"]

log = logging.getLogger(__name__)


def report_epoch(
    ctx: Context, work_id: int, request: ReportRequest, token_id: int | None = None
) -> ReportResponse:
    if len(request.metrics) > ctx.settings.max_metrics_per_report:
        raise TooLarge(f"at most {ctx.settings.max_metrics_per_report} metrics per report")
    seconds = ctx.settings.lease_seconds
    with ctx.serialized():
        with ctx.transaction() as session:
            now = db_time(session)
            lease = held_lease(ctx, session, work_id, request.worker_id, now, token_id)
            renew(lease, now, seconds)
            if lease.kind != "trial":
                return ReportResponse(prune=False, lease_seconds=seconds)
            study = session.get_one(StudyRow, lease.study_id)
            trial = session.get_one(TrialRow, lease.trial_id)
            value = _record_epoch(ctx, session, study, trial, request, now)
            name, spec_data, trial_id = study.optuna_name, study.spec, trial.trial_id
            stopping = study.state == "stopped"
        response = _decide(ctx, name, spec_data, trial_id, request.epoch, value, stopping)
    ctx.telemetry.reports.labels(str(response.prune).lower()).inc()
    return response


def _record_epoch(
    ctx: Context,
    session: Session,
    study: StudyRow,
    trial: TrialRow,
    request: ReportRequest,
    now: float,
) -> float | None:
    spec = ctx.optuna.spec(study.optuna_name, study.spec)
    raw = request.metrics.get(spec.objectives[0].metric)
    value = float(raw) if isinstance(raw, int | float) else None
    stored = value if value is not None and math.isfinite(value) else None
    session.merge(
        EpochRow(
            trial_id=trial.trial_id,
            epoch=request.epoch,
            value=stored,
            metrics=dict(request.metrics),
            reported_at=now,
        )
    )
    trial.epochs = max(trial.epochs, request.epoch)
    return value if len(spec.objectives) == 1 else None


def _decide(
    ctx: Context,
    name: str,
    spec_data: dict[str, Any],
    trial_id: int,
    epoch: int,
    value: float | None,
    stopping: bool,
) -> ReportResponse:
    seconds = ctx.settings.lease_seconds
    if stopping:
        return ReportResponse(prune=True, lease_seconds=seconds, reason="study stopped")
    if value is None:
        return ReportResponse(prune=False, lease_seconds=seconds)
    try:
        prune = ctx.optuna.report(name, spec_data, trial_id, epoch, value)
    except optuna.exceptions.UpdateFinishedTrialError:
        raise Conflict(f"trial {trial_id} has already finished") from None
    return ReportResponse(prune=prune, lease_seconds=seconds, reason="pruner" if prune else None)


def heartbeat(
    ctx: Context, work_id: int, request: HeartbeatRequest, token_id: int | None = None
) -> HeartbeatResponse:
    seconds = ctx.settings.lease_seconds
    with ctx.serialized(), ctx.transaction() as session:
        now = db_time(session)
        lease = held_lease(ctx, session, work_id, request.worker_id, now, token_id)
        renew(lease, now, seconds)
        state = session.get_one(StudyRow, lease.study_id).state
    return HeartbeatResponse(
        lease_seconds=seconds, stop=lease.kind == "trial" and state == "stopped"
    )
