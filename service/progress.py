"""Progress from a worker: per-epoch reports (answered with prune or not) and heartbeats.

Both renew the lease. A report stores every metric of the epoch, then gives the objective's
value to Optuna, whose pruner answers; a stopped study answers prune to every report.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from functools import partial
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, select, update

from search_spaces import StudySpec
from service.context import Context
from service.db import upserts
from service.errors import TooLarge
from service.leases import RenewedLease, renew_held
from service.optuna_bridge import PruneQuestion, SpecData, read_system_attrs
from service.optuna_bridge.records import UPSERT_STEP, step_row
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
        with ctx.connection() as connection:
            lease = renew_held(ctx, connection, work_id, request.worker_id, seconds, token_id)
            if lease.kind != "trial" or lease.trial_id is None:
                return ReportResponse(prune=False, lease_seconds=seconds)
            spec_data = partial(_stored_spec, ctx, lease.study_id)
            spec = ctx.optuna.spec(lease.optuna_name, spec_data)
            value = _objective_value(spec, request)
            ask = _pruning(spec, lease, value)
            curve = _record_epoch(connection, lease, request, value, ask)
            question = (
                _question(ctx, connection, lease, spec_data, request.epoch, curve) if ask else None
            )
        response = _decide(ctx, lease, spec_data, value, question)
    ctx.telemetry.reports.labels(str(response.prune).lower()).inc()
    return response


def _stored_spec(ctx: Context, study_id: int) -> dict[str, Any]:
    """A study's spec as stored (read only for a study this controller has not cached)."""
    with ctx.engine.connect() as connection:
        spec: dict[str, Any] = connection.execute(_SPEC, {"study_id": study_id}).scalar_one()
    return spec


def _objective_value(spec: StudySpec, request: ReportRequest) -> float | None:
    """The epoch's value of the (single) objective; None for a multi-objective study."""
    if len(spec.objectives) != 1:
        return None
    raw = request.metrics.get(spec.objectives[0].metric)
    return float(raw) if isinstance(raw, int | float) else None


# A report's statements, built once and executed with its parameters.
_SPEC = select(StudyRow.spec).where(StudyRow.study_id == bindparam("study_id"))
# A repeated report of an epoch replaces it. Its parameters are named apart from the
# columns: on PostgreSQL it shares a statement with `_RAISE_EPOCHS`.
_UPSERT_EPOCH = upserts(
    EpochRow,
    KEY,
    ("value", "metrics", "reported_at"),
    {"trial_id": "trial", "epoch": "epoch", "value": "epoch_value", "metrics": "epoch_metrics",
     "reported_at": "reported"},
)  # fmt: skip
_RAISE_EPOCHS = (
    update(TrialRow)
    .where(TrialRow.trial_id == bindparam("trial"), TrialRow.epochs < bindparam("epoch"))
    .values(epochs=bindparam("epoch"))
)
_CURVE = select(EpochRow.epoch, EpochRow.value).where(EpochRow.trial_id == bindparam("trial"))


def _report_pg(with_step: bool) -> Select[int, float | None]:
    """On PostgreSQL, a report's writes in one statement: the epoch's row, the trial's count
    of epochs and (`with_step`) Optuna's intermediate value, as CTEs of a read of the
    trial's curve. The read sees the rows as they were before the statement."""
    epoch = _UPSERT_EPOCH["postgresql"].cte("epoch_row")
    statement = _CURVE.add_cte(epoch).add_cte(_RAISE_EPOCHS.cte("raised"))
    return statement.add_cte(UPSERT_STEP["postgresql"].cte("step_row")) if with_step else statement


_REPORTS_PG = {with_step: _report_pg(with_step) for with_step in (False, True)}


def _record_epoch(
    connection: Connection,
    lease: RenewedLease,
    request: ReportRequest,
    value: float | None,
    read_curve: bool,
) -> dict[int, float]:
    """Store every metric of the epoch, the trial's count of epochs and, for one objective,
    Optuna's intermediate value; return the trial's objective per epoch, this one included
    (NaN where it was not finite), when `read_curve` (on PostgreSQL, always)."""
    stored = value if value is not None and math.isfinite(value) else None
    row = {
        "trial": lease.trial_id,
        "epoch": request.epoch,
        "epoch_value": stored,
        "epoch_metrics": dict(request.metrics),
        "reported": lease.renewed_at,
    }
    assert lease.trial_id is not None
    if value is not None:
        row |= step_row(lease.trial_id, request.epoch, value)
    if connection.dialect.name == "postgresql":
        before = _curve(connection.execute(_REPORTS_PG[value is not None], row))
        return before | {request.epoch: math.nan if stored is None else stored}
    connection.execute(_UPSERT_EPOCH[connection.dialect.name], row)
    connection.execute(_RAISE_EPOCHS, row)
    if value is not None:
        connection.execute(UPSERT_STEP[connection.dialect.name], row)
    return _curve(connection.execute(_CURVE, row)) if read_curve else {}


def _curve(rows: Iterable[Row[int, float | None]]) -> dict[int, float]:
    return {epoch: math.nan if v is None else float(v) for epoch, v in rows}


def _pruning(spec: StudySpec, lease: RenewedLease, value: float | None) -> bool:
    return value is not None and lease.study_state != "stopped" and spec.pruner.name != "none"


def _question(
    ctx: Context,
    connection: Connection,
    lease: RenewedLease,
    spec_data: SpecData,
    epoch: int,
    curve: dict[int, float],
) -> PruneQuestion:
    """What the pruner looks at: the trial's curve and, for successive halving, its rungs
    (Optuna's system attributes)."""
    assert lease.trial_id is not None and lease.trial_number is not None
    rungs = ctx.optuna.reads_rungs(lease.optuna_name, spec_data)
    attrs = read_system_attrs(connection, lease.trial_id) if rungs else {}
    return PruneQuestion(lease.trial_id, lease.trial_number, epoch, curve, attrs)


def _decide(
    ctx: Context,
    lease: RenewedLease,
    spec_data: SpecData,
    value: float | None,
    question: PruneQuestion | None,
) -> ReportResponse:
    """The answer: prune a stopped study's trials, else what Optuna's pruner says."""
    seconds = ctx.settings.lease_seconds
    if lease.study_state == "stopped":
        return ReportResponse(prune=True, lease_seconds=seconds, reason="study stopped")
    if value is None or question is None:
        return ReportResponse(prune=False, lease_seconds=seconds)
    prune = ctx.optuna.prune(lease.optuna_name, spec_data, question, value)
    return ReportResponse(prune=prune, lease_seconds=seconds, reason="pruner" if prune else None)


def heartbeat(
    ctx: Context, work_id: int, request: HeartbeatRequest, token_id: int | None = None
) -> HeartbeatResponse:
    seconds = ctx.settings.lease_seconds
    with ctx.serialized(), ctx.connection() as connection:
        lease = renew_held(ctx, connection, work_id, request.worker_id, seconds, token_id)
    return HeartbeatResponse(
        lease_seconds=seconds, stop=lease.kind == "trial" and lease.study_state == "stopped"
    )
