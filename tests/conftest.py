"""Shared fixtures: every store/API test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hpsearch import Client
from service import Settings, create_app
from tests.support.databases import fresh_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hpsearch.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # The background reaper is parked: tests expire leases and reap explicitly.
    return Settings(
        database_url=database_url,
        auth="off",
        artifact_dir=tmp_path / "artifacts",
        reaper_interval=3600,
        lease_seconds=30,
    )


def dispose(app: FastAPI) -> None:
    ctx = app.state.ctx
    ctx.engine.dispose()
    ctx.optuna.storage.engine.dispose()


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    dispose(application)


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def client(http: TestClient) -> Client:
    return Client("http://testserver", http=http)
