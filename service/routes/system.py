"""Liveness, Prometheus metrics, and the fleet."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from service.auth import ContextDep, UserDep
from service.errors import Unavailable
from service.fleet import list_workers
from service.leases import db_time

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(ctx: ContextDep) -> dict[str, str]:
    """200 while the controller can reach its database."""
    try:
        with ctx.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise Unavailable(f"database unreachable: {type(exc).__name__}") from None
    return {"status": "ok", "database": ctx.engine.dialect.name}


@router.get("/metrics", response_class=Response)
def metrics(ctx: ContextDep) -> Response:
    return Response(generate_latest(ctx.telemetry.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/workers")
def workers(ctx: ContextDep, principal: UserDep) -> list[dict[str, Any]]:
    """The fleet: each worker's device, current work and last contact."""
    with ctx.sessions() as session:
        return list_workers(session, db_time(session))
