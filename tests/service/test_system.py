"""Liveness, metrics, the fleet, migrations, and Optuna's view of our database."""

from __future__ import annotations

import optuna
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from hpsearch import Client
from service import Settings
from tests.support.simulated_workers import SimulatedWorker
from tests.support.specs import spec


def test_healthz_answers_with_the_database(http: TestClient, settings: Settings) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] in ("sqlite", "postgresql")


def test_metrics_count_claims_reports_and_trials(client: Client, http: TestClient) -> None:
    client.create_study(spec(max_trials=2, training={"epochs": 2}, pruner="none"))
    SimulatedWorker(client, "m").run_until_idle()
    text = http.get("/metrics").text
    assert 'hpsearch_claims_total{result="work"} 2.0' in text
    assert 'hpsearch_reports_total{prune="false"} 4.0' in text
    assert 'hpsearch_trials{state="completed"} 2.0' in text
    assert "hpsearch_request_seconds_bucket" in text
    # Labelled by the route's template, not the path with its ids.
    assert 'route="/api/v1/work/{work_id}/report"' in text and 'route="/api/v1/work/1/' not in text


def test_the_fleet_shows_each_workers_current_trial(client: Client) -> None:
    client.create_study(spec())
    work = client.claim("gpu-node-1", hostname="node1", device="GPU:0")
    assert work is not None
    fleet = client.workers()
    assert [w["worker_id"] for w in fleet] == ["gpu-node-1"]
    assert fleet[0]["device"] == "GPU:0"
    assert fleet[0]["current"]["trial_id"] == work.trial_id
    assert fleet[0]["seconds_since_contact"] < 60


def test_our_tables_sit_beside_optunas(app: object, settings: Settings) -> None:
    ctx = app.state.ctx  # type: ignore[attr-defined]
    tables = set(inspect(ctx.engine).get_table_names())
    ours = {t for t in tables if t.startswith("hps_")}
    assert {"hps_studies", "hps_trials", "hps_leases", "hps_epochs", "hps_alembic_version"} <= ours
    assert {"studies", "trials", "trial_values", "alembic_version"} <= tables


def test_optuna_reads_the_trials_we_store(client: Client, settings: Settings) -> None:
    study = client.create_study(spec(max_trials=3, training={"epochs": 2}, pruner="none"))
    SimulatedWorker(client, "w").run_until_idle()
    loaded = optuna.load_study(
        study_name=client.get_study(study).optuna_study_name, storage=settings.database_url
    )
    completed = loaded.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(completed) == 3
    assert all(set(t.intermediate_values) == {1, 2} for t in completed)
    assert loaded.best_value == client.get_study(study).best_value
