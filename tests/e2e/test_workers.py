"""Real processes: `hpsearch serve` under uvicorn and worker processes training digits.

Covers a study run to completion by two workers (SQLite and PostgreSQL), Hyperband pruning
a far-too-high learning rate, a worker killed with SIGKILL mid-trial (its trial re-queued and
finished by the other), and SIGTERM handing the running trial back at once.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from hpsearch import Client
from tests.support.processes import controller, start_slot, start_worker, stop, wait_until
from tests.support.specs import spec

pytestmark = [pytest.mark.e2e, pytest.mark.keras]

SMALL_SPACE = {
    "conv_blocks": 1,
    "filters": {"type": "int", "low": 8, "high": 16, "step": 8},
    "dense_units": {"type": "int", "low": 16, "high": 32, "log": True},
    "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
}


def small_spec(**overrides: Any) -> dict[str, Any]:
    fields = {
        "max_trials": 6,
        "max_parallel": 2,
        "pruner": "none",
        "retrain": None,
        "training": {"epochs": 3, "batch_size": 128},
        "space": SMALL_SPACE,
        **overrides,
    }
    return spec(**fields)


def settled(client: Client, study_id: int) -> bool:
    return client.get_study(study_id).settled()


def test_two_workers_run_a_study_to_completion(tmp_path: Path, database_url: str) -> None:
    with controller(tmp_path, database_url) as url, Client(url) as client:
        study = client.create_study(small_spec()).study_id
        workers = [start_worker(tmp_path, url, f"w{i}", "--idle-exit", "30") for i in range(2)]
        try:
            wait_until(lambda: settled(client, study), 240, "the study to complete")
        finally:
            for worker in workers:
                stop(worker)
        final = client.get_study(study)
        board = client.leaderboard(study, limit=10)
        fleet = client.workers()
    assert final.state == "completed" and final.counts["completed"] == 6
    assert len(board) == 6
    assert all([e.epoch for e in t.intermediate] == [1, 2, 3] for t in board)
    assert [t.value for t in board] == sorted((t.value for t in board), reverse=True)
    assert {w["worker_id"].split("-")[0] for w in fleet} == {"w0", "w1"}


def test_hyperband_prunes_a_far_too_high_learning_rate(tmp_path: Path) -> None:
    space = {
        **SMALL_SPACE,
        "learning_rate": {"type": "categorical", "choices": [0.003, 0.005, 3.0]},
    }
    study_spec = small_spec(
        max_trials=10,
        space=space,
        pruner="hyperband",
        training={"epochs": 9, "batch_size": 256},
        sampler={"name": "random", "seed": 0},
    )
    with controller(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}") as url, Client(url) as client:
        study = client.create_study(study_spec).study_id
        workers = [start_slot(tmp_path, url, f"hb{i}", "--idle-exit", "30") for i in range(2)]
        try:
            wait_until(lambda: settled(client, study), 300, "the study to complete")
        finally:
            for worker in workers:
                stop(worker)
        trials = client.trials(study)
    pruned = [t for t in trials if t.state == "pruned"]
    assert pruned, [(t.params["learning_rate"], t.state, t.value) for t in trials]
    bad = [t for t in trials if t.params["learning_rate"] == 3.0]
    assert any(t.state == "pruned" for t in bad)


def running_trial(client: Client, worker: str) -> dict[str, Any] | None:
    for entry in client.workers():
        current = entry["current"]
        if entry["worker_id"] == worker and current and current["kind"] == "trial":
            trial = next(
                t for t in client.trials(current["study_id"]) if t.trial_id == current["trial_id"]
            )
            if trial.intermediate:
                return current
    return None


def test_a_killed_worker_loses_nothing(tmp_path: Path) -> None:
    settings = {"HPSEARCH_LEASE_SECONDS": "6", "HPSEARCH_REAPER_INTERVAL": "1"}
    long_first = small_spec(
        max_trials=1, max_parallel=1, training={"epochs": 20, "batch_size": 128}
    )
    with (
        controller(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", settings) as url,
        Client(url) as client,
    ):
        study = client.create_study(long_first).study_id
        victim = start_slot(tmp_path, url, "victim", "--idle-exit", "60")
        current = wait_until(lambda: running_trial(client, "victim"), 120, "a trial mid-way")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        survivor = start_slot(tmp_path, url, "survivor", "--idle-exit", "30")
        try:
            wait_until(lambda: settled(client, study), 300, "the study to complete")
        finally:
            stop(survivor)
        trials = client.trials(study)
    lost = next(t for t in trials if t.trial_id == current["trial_id"])
    assert lost.state == "failed" and lost.reason == "lease expired" and lost.requeued
    retry = next(t for t in trials if t.retry_of == lost.trial_id)
    assert retry.state == "completed" and retry.worker_id == "survivor"
    assert retry.params == lost.params and retry.attempt == 2
    assert [t.state for t in trials] == ["failed", "completed"]


def test_sigterm_hands_the_running_trial_back_at_once(tmp_path: Path) -> None:
    settings = {"HPSEARCH_LEASE_SECONDS": "600"}  # only a hand-back can free it in time
    with (
        controller(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", settings) as url,
        Client(url) as client,
    ):
        study = client.create_study(
            small_spec(max_trials=1, training={"epochs": 200, "batch_size": 128})
        ).study_id
        worker = start_worker(tmp_path, url, "leaving")
        current = wait_until(lambda: running_trial(client, "leaving-cpu-0"), 120, "a trial mid-way")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        trials = client.trials(study)
    (handed_back, waiting) = trials
    assert handed_back.trial_id == current["trial_id"]
    assert handed_back.state == "failed" and handed_back.reason == "worker stopped"
    assert handed_back.requeued and handed_back.epochs < 200
    assert waiting.state == "queued" and waiting.params == handed_back.params
