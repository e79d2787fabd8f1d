"""`ServiceOracle` against the in-process controller: KerasTuner's create/update/end calls
without training anything (the real `tuner.search` runs in tests/e2e/test_keras_tuner.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras_tuner as kt
import pytest
from fastapi import FastAPI

from hpsearch import Client
from hpsearch.keras_tuner import ServiceOracle, declared_hyperparameters
from service.reaper import reap_expired
from tests.support.leases import expire_lease
from tests.support.specs import spec

Status = kt.engine.trial.TrialStatus


def small_space(hp: Any) -> None:
    hp.Int("units", 8, 64, step=8)
    hp.Choice("learning_rate", [0.1, 0.01])


MADE: list[ServiceOracle] = []


@pytest.fixture(autouse=True)
def close_oracles() -> Iterator[None]:
    """Stop the heartbeats of every oracle a test made before its app goes away."""
    yield
    while MADE:
        MADE.pop().close()


def oracle_for(client: Client, study: str = "kt", **options: Any) -> ServiceOracle:
    oracle = ServiceOracle(None, study, client=client, poll_seconds=0.05, **options)
    oracle.verbose = 0
    oracle.update_space(declared_hyperparameters(small_space))
    MADE.append(oracle)
    return oracle


def run_epochs(oracle: ServiceOracle, trial: Any, accuracies: list[float]) -> Any:
    for epoch, accuracy in enumerate(accuracies):
        trial = oracle.update_trial(trial.trial_id, {"val_accuracy": accuracy, "loss": 1.0}, epoch)
    return trial


def test_create_trial_claims_from_the_study_it_creates_by_name(client: Client) -> None:
    other = client.create_study(spec(name="older-fleet-study")).study_id
    oracle = oracle_for(client, max_trials=3, dataset="digits")
    trial = oracle.create_trial("tuner0")
    study = client.get_study("kt")
    assert study.study_id != other and study.spec["model"]["hypermodel"].endswith(
        ":trained_by_tuner"
    )
    (running,) = client.trials(study.study_id, state="running")
    assert trial.status == Status.RUNNING and trial.trial_id == str(running.trial_id)
    assert trial.hyperparameters.values == running.params
    assert running.worker_id == oracle.worker_id("tuner0")
    assert oracle.create_trial("tuner0") is trial


def test_a_second_process_joins_the_study_of_the_same_name(client: Client) -> None:
    first, second = oracle_for(client, max_trials=4), oracle_for(client, max_trials=4)
    one, two = first.create_trial("tuner0"), second.create_trial("tuner1")
    assert first.study_id == second.study_id
    assert one.trial_id != two.trial_id
    assert len(client.list_studies()) == 1


def test_end_trial_completes_with_the_best_epoch_and_the_board_answers_best_trials(
    client: Client,
) -> None:
    oracle = oracle_for(client, max_trials=2)
    trial = run_epochs(oracle, oracle.create_trial("tuner0"), [0.5, 0.8, 0.7])
    trial.status = Status.COMPLETED
    oracle.end_trial(trial)
    (done,) = client.leaderboard("kt")
    assert done.value == pytest.approx(0.8) and done.best_epoch == 2
    assert [e.epoch for e in done.intermediate] == [1, 2, 3]
    (best,) = oracle.get_best_trials(1)
    assert best.score == pytest.approx(0.8) and best.hyperparameters.values == done.params
    assert oracle.get_trial(best.trial_id).score == pytest.approx(0.8)


def test_kerastuners_final_report_of_the_best_epoch_is_not_reported_twice(
    client: Client,
) -> None:
    oracle = oracle_for(client, max_trials=2)
    trial = oracle.create_trial("tuner0")
    for epoch, accuracy in enumerate([0.4, 0.9]):
        oracle.report_epoch(trial.trial_id, epoch + 1, {"val_accuracy": accuracy})
    trial = oracle.update_trial(trial.trial_id, {"val_accuracy": 0.9}, step=1)
    trial.status = Status.COMPLETED
    oracle.end_trial(trial)
    (done,) = client.leaderboard("kt")
    assert [(e.epoch, e.value) for e in done.intermediate] == [(1, 0.4), (2, 0.9)]
    assert trial.score == pytest.approx(0.9)


def test_a_stopped_study_answers_stopped_and_the_trial_ends_pruned(client: Client) -> None:
    oracle = oracle_for(client, max_trials=3)
    trial = run_epochs(oracle, oracle.create_trial("tuner0"), [0.5])
    assert trial.status == Status.RUNNING
    client.stop("kt")
    trial = run_epochs(oracle, trial, [0.5, 0.6])
    assert trial.status == Status.STOPPED
    trial.status = Status.COMPLETED  # what KerasTuner sets once run_trial returns
    oracle.end_trial(trial)
    (ended,) = client.trials("kt")
    assert ended.state == "pruned" and ended.epochs == 2
    assert oracle.create_trial("tuner0").status == Status.STOPPED


def test_create_trial_answers_stopped_once_the_budget_is_spent(client: Client) -> None:
    oracle = oracle_for(client, max_trials=1)
    trial = run_epochs(oracle, oracle.create_trial("tuner0"), [0.7])
    trial.status = Status.COMPLETED
    oracle.end_trial(trial)
    assert oracle.create_trial("tuner0").status == Status.STOPPED
    assert client.get_study("kt").state == "completed"


def test_a_crashed_trial_fails_with_its_error_and_is_requeued(client: Client) -> None:
    oracle = oracle_for(client, max_trials=2)
    trial = oracle.create_trial("tuner0")
    trial.status = Status.INVALID
    trial.message = "Traceback (most recent call last):\n  ...\nValueError: bad shape"
    oracle.end_trial(trial)
    failed, queued = client.trials("kt")
    assert failed.state == "failed" and failed.reason == "ValueError: bad shape"
    assert failed.requeued and queued.state == "queued" and queued.params == failed.params


def test_too_many_failures_in_a_row_end_the_search(client: Client) -> None:
    oracle = oracle_for(client, max_trials=5, max_consecutive_failed_trials=2)
    for attempt in range(2):
        trial = oracle.create_trial("tuner0")
        trial.status, trial.message = Status.FAILED, f"RuntimeError: attempt {attempt}"
        if attempt == 0:
            oracle.end_trial(trial)
    with pytest.raises(RuntimeError, match=r"(?s)consecutive failures.*attempt 1"):
        oracle.end_trial(trial)


def test_the_project_folder_keeps_the_space_and_a_reload_uses_it(
    client: Client, tmp_path: Path
) -> None:
    oracle = oracle_for(client, max_trials=2)
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.save()
    again = oracle_for(client)
    again.hyperparameters = kt.HyperParameters()
    again._set_project_dir(str(tmp_path), "p")
    again.reload()
    assert [p.name for p in again.hyperparameters.space] == ["units", "learning_rate"]
    empty = oracle_for(client, study="other")
    empty.hyperparameters = kt.HyperParameters()
    empty._set_project_dir(str(tmp_path), "nothing-saved")
    empty.reload()
    with pytest.raises(RuntimeError, match="overwrite=True"):
        empty.create_trial("tuner0")


def test_a_trial_whose_lease_expired_is_stopped_and_left_to_its_retry(
    client: Client, app: FastAPI
) -> None:
    oracle = oracle_for(client, max_trials=2)
    trial = run_epochs(oracle, oracle.create_trial("tuner0"), [0.5])
    work_id = oracle._lines[trial.trial_id].work_id
    expire_lease(app, work_id)
    reap_expired(app.state.ctx)
    trial = run_epochs(oracle, trial, [0.5, 0.6])
    assert trial.status == Status.STOPPED
    trial.status = Status.COMPLETED
    oracle.end_trial(trial)
    expired, retry = client.trials("kt")
    assert expired.state == "failed" and expired.reason == "lease expired"
    assert retry.state == "queued" and retry.params == expired.params


def test_a_study_the_controller_paused_ends_the_search_with_its_reason(client: Client) -> None:
    # Five failures in a row (the controller's streak) before the oracle's own limit.
    oracle = oracle_for(client, max_trials=20, max_consecutive_failed_trials=10)
    for attempt in range(5):
        trial = oracle.create_trial("tuner0")
        trial.status, trial.message = Status.FAILED, f"OSError: no data ({attempt})"
        oracle.end_trial(trial)
    assert client.get_study("kt").halted
    with pytest.raises(RuntimeError, match=r"paused by the controller after 5 failed trials"):
        oracle.create_trial("tuner0")
