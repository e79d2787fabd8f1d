"""Completing trials: idempotent retries, conflicting results, failures and their retries."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from hpsearch import Client
from hpsearch.errors import Conflict, Invalid
from tests.support.specs import spec


def test_a_retried_complete_with_the_same_result_is_200(client: Client) -> None:
    client.create_study(spec())
    work = client.claim("w")
    assert work is not None
    first = client.complete(work.work_id, "w", "completed", metrics={"val_accuracy": 0.9})
    again = client.complete(work.work_id, "w", "completed", metrics={"val_accuracy": 0.9})
    assert first == again and first["state"] == "completed" and first["values"] == [0.9]


def test_a_complete_with_a_different_result_is_409(client: Client) -> None:
    study = client.create_study(spec())
    work = client.claim("w")
    assert work is not None
    client.complete(work.work_id, "w", "completed", metrics={"val_accuracy": 0.9})
    with pytest.raises(Conflict):
        client.complete(work.work_id, "w", "completed", metrics={"val_accuracy": 0.1})
    assert client.trials(study)[0].value == 0.9


def test_a_complete_from_another_worker_is_409(client: Client) -> None:
    client.create_study(spec())
    work = client.claim("owner")
    assert work is not None
    with pytest.raises(Conflict):
        client.complete(work.work_id, "thief", "completed", metrics={"val_accuracy": 1.0})


def test_a_completed_trial_must_carry_its_objective(client: Client) -> None:
    client.create_study(spec())
    work = client.claim("w")
    assert work is not None
    with pytest.raises(Invalid) as caught:
        client.complete(work.work_id, "w", "completed", metrics={"accuracy": 0.9})
    assert "val_accuracy" in str(caught.value)
    # Nothing changed: the worker can still complete properly.
    client.complete(work.work_id, "w", "completed", metrics={"val_accuracy": 0.8})


def test_a_retryable_failure_is_requeued_and_a_final_one_is_not(client: Client) -> None:
    study = client.create_study(spec(max_trials=2, max_parallel=1))
    crash = client.claim("w")
    assert crash is not None
    result = client.complete(crash.work_id, "w", "failed", reason="crash: boom", retryable=True)
    assert result["state"] == "failed" and result["requeued_as"] is not None
    retry = client.claim("w")
    assert retry is not None and retry.params == crash.params and retry.attempt == 2
    result = client.complete(retry.work_id, "w", "failed", reason="nan loss", retryable=False)
    assert result["requeued_as"] is None
    trials = client.trials(study, state="failed")
    assert [t.reason for t in trials] == ["crash: boom", "nan loss"]


def test_nan_and_infinite_metrics_are_stored_and_served_as_json(
    client: Client, http: TestClient
) -> None:
    study = client.create_study(spec())
    work = client.claim("w")
    assert work is not None
    client.report(work.work_id, "w", 1, {"val_accuracy": math.nan, "loss": math.inf})
    client.complete(work.work_id, "w", "failed", reason="nan loss",
                    metrics={"loss": math.nan, "val_accuracy": -math.inf})  # fmt: skip
    response = http.get(f"/api/v1/studies/{study.study_id}/trials")
    assert response.status_code == 200
    trial = response.json()[0]
    assert trial["metrics"] == {"loss": "NaN", "val_accuracy": "-Infinity"}
    assert trial["intermediate"][0]["metrics"] == {"val_accuracy": "NaN", "loss": "Infinity"}
    assert trial["intermediate"][0]["value"] is None
