"""Alembic environment: runs on the connection `service.migrate` hands it."""

from __future__ import annotations

from alembic import context

from service.migrate import VERSION_TABLE
from service.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    include_name=lambda name, type_, parent: type_ != "table" or str(name).startswith("hps_"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
