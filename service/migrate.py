"""Bring the service's tables to the newest Alembic revision.

Our revisions live in `service/migrations/versions` and record themselves in
`hps_alembic_version`, apart from Optuna's own `alembic_version` table in the same database.
On PostgreSQL an advisory lock lets several controllers start at once.
"""

from __future__ import annotations

import logging
from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

__all__ = ["VERSION_TABLE", "alembic_config", "upgrade_database"]

log = logging.getLogger(__name__)
VERSION_TABLE = "hps_alembic_version"
_ADVISORY_KEY = 0x6870_7365  # "hpse"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("service") / "migrations"))
    config.attributes["connection"] = connection
    return config


def upgrade_database(engine: Engine) -> None:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
        command.upgrade(alembic_config(connection), "head")
    log.info("database schema is at the newest revision")
