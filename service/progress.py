"""Progress from a worker: per-epoch reports (answered with prune or not) and heartbeats.

Both renew the lease. A report stores every metric of the epoch, then gives the objective's
value to Optuna, whose pruner answers; a stopped study answers prune to every report.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from search_spaces import StudySpec
from service.context import Context
from service.errors import TooLarge
from service.leases import RenewedLease, renew_held
from service.optuna_bridge import PruneQuestion, read_system_attrs, record_intermediate
from service.schemas.work import (
    HeartbeatRequest,
    HeartbeatResponse,
    ReportRequest,
    ReportResponse,
)
from service.tables import EpochRow, StudyRow, TrialRow

__all__ = ["heartbeat", "report_epoch"]

log = logging.getLogger(__name__)
KEY = ["trial_id", "epoch"]


def report_epoch(
    ctx: Context, work_id: int, request: ReportRequest, token_id: int | None = None
) -> ReportResponse:
    if len(request.metrics) > ctx.settings.max_metrics_per_report:
        raise TooLarge(f"at most {ctx.settings.max_metrics_per_report} metrics per report")
    seconds = ctx.settings.lease_seconds
    with ctx.serialized():
        with ctx.transaction() as session:
            lease = renew_held(ctx, session, work_id, request.worker_id, seconds, token_id)
            if lease.kind != "trial" or lease.trial_id is None:
                return ReportResponse(prune=False, lease_seconds=seconds)
            facts = _trial_facts(session, lease.trial_id)
            spec = ctx.optuna.spec(facts.optuna_name, facts.spec)
            value = _objective_value(spec, request)
            _record_epoch(ctx, session, lease, request, value)
            if value is not None:
                record_intermediate(session, lease.trial_id, request.epoch, value)
            ask = _pruning(spec, facts, value)
            question = (
                _question(ctx, session, facts, lease.trial_id, request.epoch) if ask else None
            )
        response = _decide(ctx, facts, value, question)
    ctx.telemetry.reports.labels(str(response.prune).lower()).inc()
    return response


@dataclass(frozen=True)
class _TrialFacts:
    optuna_name: str
    spec: dict[str, Any]
    study_state: str
    trial_number: int


def _trial_facts(session: Session, trial_id: int) -> _TrialFacts:
    row = session.execute(
        select(StudyRow.optuna_name, StudyRow.spec, StudyRow.state, TrialRow.trial_number)
        .join(TrialRow, TrialRow.study_id == StudyRow.study_id)
        .where(TrialRow.trial_id == trial_id)
    ).one()
    return _TrialFacts(*row)


def _objective_value(spec: StudySpec, request: ReportRequest) -> float | None:
    """The epoch's value of the (single) objective; None for a multi-objective study."""
    if len(spec.objectives) != 1:
        return None
    raw = request.metrics.get(spec.objectives[0].metric)
    return float(raw) if isinstance(raw, int | float) else None


def _record_epoch(
    ctx: Context,
    session: Session,
    lease: RenewedLease,
    request: ReportRequest,
    value: float | None,
) -> None:
    """Store every metric of the epoch (a repeated report of an epoch replaces it)."""
    stored = value if value is not None and math.isfinite(value) else None
    row = {
        "trial_id": lease.trial_id,
        "epoch": request.epoch,
        "value": stored,
        "metrics": dict(request.metrics),
        "reported_at": lease.renewed_at,
    }
    insert = pg_insert if ctx.is_postgres else sqlite_insert
    statement = insert(EpochRow).values(**row)
    changes = {k: statement.excluded[k] for k in ("value", "metrics", "reported_at")}
    session.execute(statement.on_conflict_do_update(index_elements=KEY, set_=changes))
    session.execute(
        update(TrialRow)
        .where(TrialRow.trial_id == lease.trial_id, TrialRow.epochs < request.epoch)
        .values(epochs=request.epoch)
    )


def _pruning(spec: StudySpec, facts: _TrialFacts, value: float | None) -> bool:
    return value is not None and facts.study_state != "stopped" and spec.pruner.name != "none"


def _question(
    ctx: Context, session: Session, facts: _TrialFacts, trial_id: int, epoch: int
) -> PruneQuestion:
    """What the pruner looks at: the trial's objective per epoch so far (NaN where it was
    not finite) and, for successive halving, its rungs (Optuna's system attributes)."""
    rows = session.execute(
        select(EpochRow.epoch, EpochRow.value).where(EpochRow.trial_id == trial_id)
    )
    curve = {e: math.nan if v is None else float(v) for e, v in rows}
    rungs = ctx.optuna.reads_rungs(facts.optuna_name, facts.spec)
    attrs = read_system_attrs(session, trial_id) if rungs else {}
    return PruneQuestion(trial_id, facts.trial_number, epoch, curve, attrs)


def _decide(
    ctx: Context, facts: _TrialFacts, value: float | None, question: PruneQuestion | None
) -> ReportResponse:
    """The answer: prune a stopped study's trials, else what Optuna's pruner says."""
    seconds = ctx.settings.lease_seconds
    if facts.study_state == "stopped":
        return ReportResponse(prune=True, lease_seconds=seconds, reason="study stopped")
    if value is None or question is None:
        return ReportResponse(prune=False, lease_seconds=seconds)
    prune = ctx.optuna.prune(facts.optuna_name, facts.spec, question, value)
    return ReportResponse(prune=prune, lease_seconds=seconds, reason="pruner" if prune else None)


def heartbeat(
    ctx: Context, work_id: int, request: HeartbeatRequest, token_id: int | None = None
) -> HeartbeatResponse:
    seconds = ctx.settings.lease_seconds
    with ctx.serialized(), ctx.transaction() as session:
        lease = renew_held(ctx, session, work_id, request.worker_id, seconds, token_id)
        state = session.scalars(
            select(StudyRow.state).where(StudyRow.study_id == lease.study_id)
        ).one()
    return HeartbeatResponse(
        lease_seconds=seconds, stop=lease.kind == "trial" and state == "stopped"
    )
