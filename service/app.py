"""`create_app(settings)`: the controller as a FastAPI app.

Everything is built here, from the settings passed in: the engine, the schema migration,
Optuna's storage, the reaper task. Nothing happens at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import func, select

from search_spaces import StudySpec
from service.artifacts import ArtifactStore
from service.auth import Authenticator
from service.context import Context
from service.db import make_engine, make_session_factory
from service.errors import install_error_handlers
from service.limits import BodyLimit
from service.migrate import upgrade_database
from service.optuna_bridge import OptunaStudies
from service.prefetch import run_prefetcher
from service.rate_limits import RateLimiter
from service.reaper import run_reaper
from service.routes import dashboard, retrain, studies, system, tokens, work
from service.settings import Settings
from service.tables import TrialRow
from service.telemetry import RequestTimer, Telemetry, TrialStates

__all__ = ["create_app"]

log = logging.getLogger(__name__)
VERSION = "0.1.0"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_context(settings: Settings) -> Context:
    engine = make_engine(settings)
    upgrade_database(engine)
    optuna = OptunaStudies.connect(settings, engine)
    return Context(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        optuna=optuna,
        telemetry=Telemetry(),
    )


def _trial_states(ctx: Context) -> Callable[[], dict[str, int]]:
    def count() -> dict[str, int]:
        with ctx.sessions() as session:
            rows = session.execute(select(TrialRow.state, func.count()).group_by(TrialRow.state))
            return dict(rows.all())

    return count


def create_app(settings: Settings) -> FastAPI:
    if settings.auth == "off" and not _is_loopback(settings.bind_host):
        raise ValueError(
            f"HPSEARCH_AUTH=off is allowed only on a loopback address, not {settings.bind_host}"
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        reaper = asyncio.create_task(run_reaper(app.state.ctx, stop))
        prefetcher = asyncio.create_task(run_prefetcher(app.state.ctx, stop))
        yield
        stop.set()
        app.state.ctx.prefetch_wanted.set()
        await reaper
        await prefetcher
        app.state.ctx.engine.dispose()

    ctx = build_context(settings)
    app = FastAPI(title="hpsearch", version=VERSION, lifespan=lifespan)
    app.state.ctx = ctx
    app.state.authenticator = Authenticator(ctx)
    app.state.artifacts = ArtifactStore(settings.artifact_dir)
    app.state.rate_limits = {
        "claim": RateLimiter(settings.claim_rate),
        "report": RateLimiter(settings.report_rate),
    }
    ctx.telemetry.registry.register(TrialStates(_trial_states(ctx)))
    install_error_handlers(app)
    for module in (studies, work, retrain, tokens, system, dashboard):
        app.include_router(module.router)
    _add_middleware(app, settings, ctx)
    _document_spec(app)
    return app


def _add_middleware(app: FastAPI, settings: Settings, ctx: Context) -> None:
    app.add_middleware(RequestTimer, telemetry=ctx.telemetry)
    app.add_middleware(
        BodyLimit, default_limit=settings.max_body_bytes, upload_limit=settings.max_upload_bytes
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["*"],
            allow_headers=["*"],
        )


def _document_spec(app: FastAPI) -> None:
    """Put the StudySpec's JSON schema into the OpenAPI components (the create route reads
    its body itself, to accept YAML too)."""
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        spec_schema = StudySpec.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(spec_schema.pop("$defs", {}))
        components["StudySpec"] = spec_schema
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    """The app from `HPSEARCH_*` variables: the factory `hpsearch serve --processes N` runs."""
    return create_app(Settings.from_env())
