"""Retraining through real processes: digits, 4 trials, a retrain with 2 seeds; the model
downloads, loads in a fresh process, and scores on the test split what was reported; a
retrain whose worker is killed is re-queued and finished like a trial."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hpsearch import Client
from tests.support.processes import ROOT, controller, start_slot, stop, wait_until
from tests.support.specs import spec

pytestmark = [pytest.mark.e2e, pytest.mark.keras]

SPACE = {
    "conv_blocks": 1,
    "filters": {"type": "int", "low": 8, "high": 16, "step": 8},
    "dense_units": 32,
    "learning_rate": {"type": "float", "low": 2e-3, "high": 1e-2, "log": True},
}

RESCORE = """
import json, sys
import numpy as np, keras
from workers.datasets import Split, load_dataset
split = Split(**json.loads(sys.argv[2]))
data = load_dataset("digits", split)
model = keras.models.load_model(sys.argv[1])
predicted = np.argmax(model.predict(data.x_test, verbose=0), axis=1)
print(json.dumps({"accuracy": float(np.mean(predicted == data.y_test)), "n": len(data.y_test)}))
"""


def study_spec(**overrides: Any) -> dict[str, Any]:
    fields = {
        "max_trials": 4,
        "max_parallel": 2,
        "pruner": "none",
        "training": {"epochs": 3, "batch_size": 128},
        "space": SPACE,
        "retrain": {"epochs": 6, "seeds": 2},
        **overrides,
    }
    return spec(**fields)


def retrained(client: Client, study_id: int) -> bool:
    return client.get_study(study_id).settled(retrain=True)


def test_the_retrained_model_scores_what_was_reported(tmp_path: Path) -> None:
    with controller(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}") as url, Client(url) as client:
        study_id = client.create_study(study_spec()).study_id
        workers = [start_slot(tmp_path, url, f"r{i}", "--idle-exit", "30") for i in range(2)]
        try:
            wait_until(lambda: retrained(client, study_id), 300, "the study and its retrain")
        finally:
            for worker in workers:
                stop(worker)
        study = client.get_study(study_id)
        path = client.download_model(study_id, tmp_path / "best.keras")
        board = client.leaderboard(study_id)
    retrain = study.retrain
    assert retrain is not None and retrain.state == "completed" and retrain.seeds == 2
    assert retrain.trial_id == board[0].trial_id and board[0].retrained
    assert retrain.seed_scores is not None and len(retrain.seed_scores) == 2
    metrics = retrain.test_metrics or {}
    assert {"test_accuracy", "test_accuracy_mean", "test_accuracy_std"} <= set(metrics)
    assert retrain.model is not None
    assert hashlib.sha256(path.read_bytes()).hexdigest() == retrain.model.sha256
    rescored = subprocess.run(
        [sys.executable, "-c", RESCORE, str(path), json.dumps(study.spec["split"])],
        capture_output=True, text=True, cwd=ROOT, check=True,
        env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    score = json.loads(rescored.stdout.strip().splitlines()[-1])
    assert 260 <= score["n"] <= 280  # about 15 % of digits' 1797 images, per class
    assert abs(score["accuracy"] - metrics["test_accuracy"]) < 1e-6


def test_a_retrain_whose_worker_is_killed_is_requeued_and_finished(tmp_path: Path) -> None:
    settings = {"HPSEARCH_LEASE_SECONDS": "6", "HPSEARCH_REAPER_INTERVAL": "1"}
    slow_retrain = study_spec(max_trials=1, retrain={"epochs": 60, "seeds": 1})
    with (
        controller(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", settings) as url,
        Client(url) as client,
    ):
        study_id = client.create_study(slow_retrain).study_id
        victim = start_slot(tmp_path, url, "victim", "--idle-exit", "60")

        def retraining() -> bool:
            job = client.get_study(study_id).retrain
            return job is not None and job.state == "running"

        wait_until(retraining, 180, "the retrain to start")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        survivor = start_slot(tmp_path, url, "survivor", "--idle-exit", "30")
        try:
            wait_until(lambda: retrained(client, study_id), 300, "the retrain to finish")
        finally:
            stop(survivor)
        job = client.get_study(study_id).retrain
    assert job is not None and job.state == "completed"
    assert job.attempt == 2 and job.model is not None
