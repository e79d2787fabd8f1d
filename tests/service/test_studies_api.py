"""The study resources over HTTP: create (YAML and JSON), validation, list, change, delete."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient

from hpsearch import Client
from hpsearch.errors import Conflict, Invalid, NotFound
from service import Settings
from tests.support.simulated_workers import SimulatedWorker
from tests.support.specs import canonical_text, spec


def test_canonical_yaml_spec_creates_a_running_study(http: TestClient, settings: Settings) -> None:
    response = http.post(
        "/api/v1/studies", content=canonical_text(), headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "digits-cnn"
    assert body["state"] == "running"
    assert body["max_trials"] == 20 and body["max_parallel"] == 4
    assert body["spec"]["pruner"]["name"] == "hyperband"
    assert body["counts"] == {
        "queued": 0,
        "ready": 0,
        "running": 0,
        "completed": 0,
        "pruned": 0,
        "failed": 0,
    }
    # The Optuna study lives in Optuna's own storage in the same database.
    names = optuna.get_all_study_names(storage=settings.database_url)
    assert body["optuna_study_name"] in names


def test_json_spec_creates_a_study(client: Client) -> None:
    study = client.create_study(spec(name="from-json"))
    assert study.name == "from-json"
    assert study.direction == "maximize"


def test_a_duplicate_name_for_the_same_owner_is_409(client: Client) -> None:
    client.create_study(spec())
    with pytest.raises(Conflict):
        client.create_study(spec())


BAD_SPECS: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("misspelt field", {"max_trial": 5}, ["body", "max_trial"]),
    ("unknown sampler", {"sampler": "tpee"}, ["body", "sampler", "name"]),
    ("unknown pruner", {"pruner": "sometimes"}, ["body", "pruner", "name"]),
    ("unknown template", {"model": "cnnn"}, ["body", "model"]),
    ("unknown dataset", {"dataset": "imagenet"}, ["body", "dataset"]),
    ("max_parallel zero", {"max_parallel": 0}, ["body", "max_parallel"]),
    ("max_trials too large", {"max_trials": 10_000_000}, ["body", "max_trials"]),
    ("bad study name", {"name": "has spaces"}, ["body", "name"]),
    (
        "low above high",
        {"space": {"filters": {"type": "int", "low": 128, "high": 16}}},
        ["body", "space", "filters"],
    ),
    (
        "log with zero low",
        {"space": {"learning_rate": {"type": "float", "low": 0.0, "high": 0.1, "log": True}}},
        ["body", "space", "learning_rate"],
    ),
    (
        "step does not fit",
        {"space": {"filters": {"type": "int", "low": 16, "high": 100, "step": 16}}},
        ["body", "space", "filters"],
    ),
    (
        "param the template does not read",
        {"space": {"filtrs": {"type": "int", "low": 16, "high": 32}}},
        ["body", "space", "filtrs"],
    ),
    (
        "condition on an unknown param",
        {"space": {"dropout": {"type": "float", "low": 0, "high": 0.5, "when": {"blocks": 3}}}},
        ["body", "space", "dropout", "when", "blocks"],
    ),
    (
        "duplicate choice",
        {"space": {"kernel_size": {"type": "categorical", "choices": [3, 3]}}},
        ["body", "space", "kernel_size", "choices"],
    ),
    (
        "multi-objective with a pruner",
        {"objective": [{"metric": "val_accuracy"}, {"metric": "val_loss"}]},
        ["body", "pruner"],
    ),
    (
        "grid over a continuous float",
        {"sampler": "grid", "space": {"dropout": {"type": "float", "low": 0.0, "high": 0.5}}},
        ["body", "space", "dropout"],
    ),
    (
        "unknown sampler option",
        {"sampler": {"name": "tpe", "options": {"n_startup": 3}}},
        ["body", "sampler", "options", "n_startup"],
    ),
    (
        "inline Lambda layer",
        {"model": [{"layer": "Lambda", "function": "x"}], "space": {}},
        ["body", "model", 0, "layer"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("label", "change", "loc"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_an_invalid_spec_is_422_naming_the_field(
    http: TestClient, label: str, change: dict[str, Any], loc: list[Any]
) -> None:
    response = http.post("/api/v1/studies", json=spec(**change))
    assert response.status_code == 422, response.text
    locations = [d["loc"] for d in response.json()["detail"]]
    assert loc in locations, f"{label}: {locations}"


def test_a_duplicate_yaml_key_is_422(http: TestClient) -> None:
    text = canonical_text() + "max_trials: 3\n"
    response = http.post(
        "/api/v1/studies", content=text, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 422
    assert "duplicate key 'max_trials'" in response.json()["detail"][0]["msg"]


def test_a_space_above_the_weight_cap_is_refused_before_anything_is_built(
    client: Client, http: TestClient
) -> None:
    huge = {"filters": {"type": "int", "low": 512, "high": 1024}, "dense_units": 65536}
    response = http.post("/api/v1/studies", json=spec(space=huge, model="cnn"))
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "space"]
    assert "above the cap of 50,000,000" in detail["msg"]
    assert client.list_studies() == []


def test_list_and_get_show_the_study(client: Client) -> None:
    created = client.create_study(spec())
    listed = client.list_studies()
    assert [s.study_id for s in listed] == [created.study_id]
    fetched = client.get_study("digits-cnn")
    assert fetched.study_id == created.study_id
    assert fetched.best is None and fetched.retrain is None


def test_an_unknown_study_is_404(client: Client) -> None:
    with pytest.raises(NotFound):
        client.get_study(999)


def test_pause_resume_stop_change_the_state(client: Client) -> None:
    study = client.create_study(spec())
    assert client.pause(study).state == "paused"
    assert client.resume(study).state == "running"
    stopped = client.stop(study)
    assert stopped.state == "stopped" and stopped.ended_at is not None
    with pytest.raises(Conflict):
        client.pause(study)


def test_patch_refuses_unknown_fields(http: TestClient, client: Client) -> None:
    study = client.create_study(spec())
    response = http.patch(f"/api/v1/studies/{study.study_id}", json={"state": "exploded"})
    assert response.status_code == 422
    response = http.patch(f"/api/v1/studies/{study.study_id}", json={"colour": "red"})
    assert response.status_code == 422


def test_delete_removes_the_study_and_its_optuna_study(client: Client, settings: Settings) -> None:
    study = client.create_study(spec())
    client.delete_study(study)
    with pytest.raises(NotFound):
        client.get_study(study.study_id)
    assert study.study_id not in [s.study_id for s in client.list_studies()]
    assert client.get_study  # the client still works after the delete
    assert optuna.get_all_study_names(storage=settings.database_url) == []


def test_raising_max_trials_lets_a_completed_study_resume(client: Client) -> None:
    study = client.create_study(
        spec(max_trials=1, training={"epochs": 1}, retrain=None, pruner="none")
    )
    assert SimulatedWorker(client, "w").run_until_idle() == 1
    assert client.get_study(study).state == "completed"
    with pytest.raises(Conflict):
        client.resume(study)
    with pytest.raises(Invalid):
        client.update_study(study, max_trials=0)
    resumed = client.update_study(study, max_trials=3, state="running")
    assert resumed.state == "running" and resumed.max_trials == 3
    assert SimulatedWorker(client, "w").run_until_idle() == 2
    assert client.get_study(study).counts["completed"] == 3
