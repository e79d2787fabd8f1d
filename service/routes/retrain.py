"""Retraining: queue it, upload the model (workers), download it (users)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from service.auth import ContextDep, UserDep, WorkerDep
from service.retraining import model_artifact, record_artifact, request_retrain, upload_target
from service.schemas.ids import StudyId, WorkId
from service.schemas.studies import RetrainPublic, RetrainRequest
from service.schemas.work import WORKER_ID
from service.study_views import retrain_public
from service.tables import StudyRow

__all__ = ["router"]

router = APIRouter(tags=["retrain"])
FILENAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.keras$"


@router.post("/api/v1/studies/{study_id}/retrain", status_code=202, response_model=RetrainPublic)
def retrain(
    study_id: StudyId,
    ctx: ContextDep,
    principal: UserDep,
    request: Annotated[RetrainRequest | None, Body()] = None,
) -> RetrainPublic:
    """Queue retraining of the best trial (or `trial_id`) on train+val; workers claim it."""
    job = request_retrain(ctx, principal, study_id, request or RetrainRequest())
    with ctx.sessions() as session:
        study = session.get_one(StudyRow, study_id)
        view = retrain_public(session, study)
    assert view is not None and view.job_id == job.job_id
    return view


@router.get("/api/v1/studies/{study_id}/model", response_class=StreamingResponse)
def download(
    study_id: StudyId, request: Request, ctx: ContextDep, principal: UserDep
) -> StreamingResponse:
    """The retrained model, in Keras' `.keras` format; `X-Content-SHA256` carries its hash."""
    study, artifact = model_artifact(ctx, principal, study_id)
    store = request.app.state.artifacts
    headers = {
        "Content-Disposition": f'attachment; filename="{study.name}-{artifact.filename}"',
        "Content-Length": str(artifact.size),
        "X-Content-SHA256": artifact.sha256,
    }
    return StreamingResponse(
        store.read(artifact.key), media_type="application/octet-stream", headers=headers
    )


@router.put("/api/v1/work/{work_id}/artifact")
async def upload(
    work_id: WorkId,
    request: Request,
    ctx: ContextDep,
    principal: WorkerDep,
    worker_id: Annotated[str, Query(pattern=WORKER_ID)],
    filename: Annotated[str, Query(pattern=FILENAME)] = "model.keras",
) -> dict[str, object]:
    """A retrain job's model file, streamed to the artifact store (size-capped, hashed)."""
    token = principal.token_id
    key = await run_in_threadpool(upload_target, ctx, work_id, worker_id, filename, token)
    store = request.app.state.artifacts
    stored = await store.save(key, request.stream(), ctx.settings.max_upload_bytes)
    try:
        row = await run_in_threadpool(
            record_artifact, ctx, work_id, worker_id, filename, stored, token
        )
    except Exception:
        store.delete(key)
        raise
    return {"artifact_id": row.artifact_id, "size": row.size, "sha256": row.sha256}
