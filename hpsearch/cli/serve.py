"""`hpsearch serve`: run the controller under uvicorn."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from hpsearch.cli.output import fail

__all__ = ["register"]


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    database_url: Annotated[
        str | None, typer.Option(help="Overrides HPSEARCH_DATABASE_URL (default: SQLite).")
    ] = None,
    artifact_dir: Annotated[
        Path | None, typer.Option(help="Overrides HPSEARCH_ARTIFACT_DIR.")
    ] = None,
    lease_seconds: Annotated[
        float | None, typer.Option(help="Overrides HPSEARCH_LEASE_SECONDS.")
    ] = None,
    auth: Annotated[
        str | None, typer.Option(help="on or off (off only on a loopback address).")
    ] = None,
    processes: Annotated[
        int, typer.Option(help="Controller processes (PostgreSQL only).", min=1)
    ] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Run the controller: REST API, dashboard, lease reaper."""
    import uvicorn

    from service import Settings, create_app

    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    overrides: dict[str, object] = {
        "database_url": database_url,
        "artifact_dir": artifact_dir,
        "lease_seconds": lease_seconds,
        "auth": auth,
        "bind_host": host,
    }
    try:
        settings = Settings.from_env(None, **overrides)
        if processes > 1 and settings.is_sqlite:
            fail("several controller processes need PostgreSQL; SQLite takes one")
        problem = None if settings.is_sqlite else database_problem(settings.database_url)
        if problem is not None:
            fail(problem)
        app = create_app(settings) if processes == 1 else None
    except ValidationError as exc:
        fail(f"bad setting: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
    except (ValueError, OSError) as exc:
        fail(str(exc))
    if app is not None:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
        return
    _export(overrides)
    uvicorn.run(
        "service.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=processes,
        log_level=log_level,
        access_log=False,
    )


def database_problem(url: str) -> str | None:
    """Why the controller cannot use the database at `url` (no driver for it, a server that
    does not answer, a login refused), in one line; None when a connection opens."""
    from sqlalchemy import create_engine, make_url
    from sqlalchemy.exc import SQLAlchemyError

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "the database URL cannot be read: expected sqlite:///PATH or postgresql://..."
    try:
        engine = create_engine(url)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except ImportError as exc:
        return f"no database driver for {shown.split(':', 1)[0]} is installed ({exc})"
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"cannot open {shown}: {reason}"
    return None


def _export(overrides: dict[str, object]) -> None:
    """Hand flags to the controller processes through their environment."""
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"HPSEARCH_{name.upper()}"] = str(value)


def register(app: typer.Typer) -> None:
    app.command()(serve)
