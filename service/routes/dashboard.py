"""The dashboard: server-rendered pages (studies, a study, workers, login) and their assets.

Templates live in `service/dashboard/templates`, CSS and JavaScript in
`service/dashboard/static` (served by `/dashboard/static/{name}`), plotly.js comes from the
installed plotly package (`/dashboard/plotly.min.js`). Pages change nothing themselves: the
study page's buttons call the REST API (`PATCH /api/v1/studies/{id}`) with the cookie and
the `X-Hpsearch-Request` header.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from service.auth import ContextDep
from service.dashboard.access import (
    PageUserDep,
    auth_is_on,
    forget_login,
    log_in,
    remember_login,
    safe_next,
    same_origin,
)
from service.dashboard.assets import plotly_response, static_response
from service.dashboard.rendering import render_page, script_json
from service.dashboard.views import list_study_summaries, list_worker_views, study_page
from service.errors import Forbidden, NotFound, Unauthorized
from service.schemas.ids import StudyId

__all__ = ["router"]

router = APIRouter(tags=["dashboard"], include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def studies_page(request: Request, ctx: ContextDep, principal: PageUserDep) -> HTMLResponse:
    studies = list_study_summaries(ctx, principal)
    return render_page(request, "studies.html", studies=studies)


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study(
    study_id: StudyId, request: Request, ctx: ContextDep, principal: PageUserDep
) -> HTMLResponse:
    try:
        page = study_page(ctx, principal, study_id)
    except NotFound as exc:
        return render_page(request, "missing.html", status_code=404, detail=exc.detail)
    return render_page(request, "study.html", page=page, script_json=script_json)


@router.get("/workers", response_class=HTMLResponse)
def workers_page(request: Request, ctx: ContextDep, principal: PageUserDep) -> HTMLResponse:
    return render_page(request, "workers.html", workers=list_worker_views(ctx))


@router.get("/login", response_class=HTMLResponse, response_model=None)
def login_form(
    request: Request, next_path: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    if not auth_is_on(request):
        return RedirectResponse(safe_next(next_path), status_code=303)
    return render_page(request, "login.html", next=safe_next(next_path), error=None)


@router.post("/login", response_class=HTMLResponse, response_model=None)
async def login(
    request: Request,
    token: Annotated[str, Form(max_length=512)],
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    """Check the token; on success set the cookie and go on, else the form again (401)."""
    target = safe_next(next_path)
    if not same_origin(request):
        raise Forbidden("the login form was posted from another site")
    try:
        await run_in_threadpool(log_in, request, token)
    except (Unauthorized, Forbidden) as exc:
        return render_page(
            request, "login.html", status_code=exc.status, next=target, error=exc.detail
        )
    response = RedirectResponse(target, status_code=303)
    remember_login(request, response, token)
    return response


@router.get("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    forget_login(response)
    return response


@router.get("/dashboard/plotly.min.js")
def plotly_js(accept_encoding: Annotated[str, Header()] = "") -> Response:
    """plotly.js from the installed plotly package (no CDN), cached for a year."""
    return plotly_response(accept_encoding)


@router.get("/dashboard/static/{name}")
def static_file(name: str) -> Response:
    return static_response(name)
