"""The Alembic revisions build the tables that `service.tables` describes, column for column
(a model changed without its revision would pass every test on a fresh database)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from service.migrate import VERSION_TABLE, upgrade_database
from service.tables import Base


def test_the_migrated_schema_is_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        upgrade_database(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    # Alembic's own version table is the one table the models do not describe.
    extra = [d for d in differences if d[0] == "remove_table" and d[1].name == VERSION_TABLE]
    assert [d for d in differences if d not in extra] == []
    assert Base.metadata.tables["hps_studies"].c.state_reason.nullable
