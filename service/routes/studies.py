"""`/api/v1/studies`: create (JSON or YAML), list, get, change, delete, trials, leaderboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from search_spaces import SpecInvalid, StudySpec, parse_spec_text, validate_spec
from service.auth import ContextDep, Principal, UserDep
from service.context import Context
from service.errors import Invalid
from service.leaderboard import leaderboard_rows
from service.leases import db_time
from service.schemas.ids import MAX_ID, StudyId
from service.schemas.studies import StudyPublic, StudySummary, StudyUpdate, TrialPublic
from service.studies import change_study, create_study, delete_study, list_studies, visible_study
from service.study_views import study_public, study_summaries, trial_page, trials_public

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/studies", tags=["studies"])
SPEC_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/StudySpec"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


def parse_spec(body: bytes, content_type: str | None) -> StudySpec:
    media = (content_type or "application/yaml").split(";")[0].strip().lower()
    try:
        return validate_spec(parse_spec_text(body.decode("utf-8", "replace"), media))
    except SpecInvalid as exc:
        raise Invalid.from_spec(exc, ("body",)) from None


def _view(ctx: Context, principal: Principal, study_id: int) -> StudyPublic:
    with ctx.sessions() as session:
        study = visible_study(session, principal, study_id)
        return study_public(session, study, db_time(session))


@router.post("", status_code=201, response_model=StudyPublic, openapi_extra=SPEC_BODY)
async def create(request: Request, ctx: ContextDep, principal: UserDep) -> StudyPublic:
    """Create a study from a StudySpec in JSON, or in YAML with Content-Type application/yaml."""
    spec = parse_spec(await request.body(), request.headers.get("content-type"))
    row = await run_in_threadpool(create_study, ctx, principal, spec)
    return await run_in_threadpool(_view, ctx, principal, row.study_id)


@router.get("", response_model=list[StudySummary])
def list_all(ctx: ContextDep, principal: UserDep) -> list[StudySummary]:
    with ctx.sessions() as session:
        return study_summaries(session, list_studies(session, principal), db_time(session))


@router.get("/{study_id}", response_model=StudyPublic)
def get(study_id: StudyId, ctx: ContextDep, principal: UserDep) -> StudyPublic:
    return _view(ctx, principal, study_id)


@router.patch("/{study_id}", response_model=StudyPublic)
def change(
    study_id: StudyId, update: StudyUpdate, ctx: ContextDep, principal: UserDep
) -> StudyPublic:
    change_study(ctx, principal, study_id, update)
    return _view(ctx, principal, study_id)


@router.delete("/{study_id}", status_code=204)
def delete(study_id: StudyId, request: Request, ctx: ContextDep, principal: UserDep) -> Response:
    delete_study(ctx, principal, study_id, request.app.state.artifacts)
    return Response(status_code=204)


@router.get("/{study_id}/trials", response_model=list[TrialPublic])
def trials(
    study_id: StudyId,
    ctx: ContextDep,
    principal: UserDep,
    response: Response,
    state: Annotated[
        str | None, Query(pattern="^(queued|ready|running|completed|pruned|failed)$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[TrialPublic]:
    """Trials by number, with params, state, value, per-epoch values, worker and duration."""
    with ctx.sessions() as session:
        study = visible_study(session, principal, study_id)
        rows, total = trial_page(session, study, state, limit, offset)
        response.headers["X-Total-Count"] = str(total)
        return trials_public(session, study, rows)


@router.get("/{study_id}/leaderboard", response_model=list[TrialPublic])
def leaderboard(
    study_id: StudyId,
    ctx: ContextDep,
    principal: UserDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[TrialPublic]:
    """Completed trials ranked by the objective, best first (the Pareto front for several)."""
    with ctx.sessions() as session:
        study = visible_study(session, principal, study_id)
        return trials_public(session, study, leaderboard_rows(session, study, limit))
