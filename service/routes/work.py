"""`/api/v1/work`: the worker protocol — claim, report, heartbeat, complete."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.auth import ContextDep, Principal, WorkerDep
from service.claims import claim_work
from service.completion import complete_work
from service.progress import heartbeat, report_epoch
from service.schemas.ids import WorkId
from service.schemas.work import (
    Assignment,
    ClaimRequest,
    CompleteRequest,
    CompleteResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    ReportRequest,
    ReportResponse,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/work", tags=["work"])


def _spend(request: Request, principal: Principal, call: str) -> None:
    """Per-token rate limit of a hot call (429 with Retry-After past it)."""
    key = str(principal.token_id) if principal.token_id is not None else principal.name
    request.app.state.rate_limits[call].take(key, call)


@router.post(
    "/claim",
    response_model=Assignment,
    responses={204: {"description": "No work for now; ask again later."}},
)
def claim(
    request: ClaimRequest, http: Request, ctx: ContextDep, principal: WorkerDep
) -> Assignment | Response:
    """Claim a trial or a retrain job; a worker holding live work gets that work again."""
    _spend(http, principal, "claim")
    assignment = claim_work(ctx, request, principal.token_id)
    return assignment if assignment is not None else Response(status_code=204)


@router.post("/{work_id}/report", response_model=ReportResponse)
def report(
    work_id: WorkId, request: ReportRequest, http: Request, ctx: ContextDep, principal: WorkerDep
) -> ReportResponse:
    """Record one epoch's metrics, renew the lease, and say whether to prune."""
    _spend(http, principal, "report")
    return report_epoch(ctx, work_id, request, principal.token_id)


@router.post("/{work_id}/heartbeat", response_model=HeartbeatResponse)
def beat(
    work_id: WorkId, request: HeartbeatRequest, ctx: ContextDep, principal: WorkerDep
) -> HeartbeatResponse:
    return heartbeat(ctx, work_id, request, principal.token_id)


@router.post("/{work_id}/complete", response_model=CompleteResponse)
def complete(
    work_id: WorkId, request: CompleteRequest, ctx: ContextDep, principal: WorkerDep
) -> CompleteResponse:
    """Final metrics, or a failure with its reason (and whether it may be retried)."""
    return complete_work(ctx, work_id, request, principal.token_id)
