"""KerasTuner compatibility with real processes: the tutorial's `build_model(hp)` on digits.

(a) `hpsearch submit --hypermodel` discovers the space, two fleet workers import the
hypermodel and run the study, and the retrained model is the best trial's.
(b) Two processes run `kt.Tuner(oracle=ServiceOracle(...)).search(...)` with one study name:
they share the study, and afterwards each answers KerasTuner's result calls from it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpsearch import Client
from tests.support.kt_search import EPOCHS, MAX_TRIALS, start_search
from tests.support.processes import ROOT, _env, controller, start_slot, stop, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.keras]

TUTORIAL = "tests.support.fashion_hypermodel:build_model"


def submit_hypermodel(url: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpsearch", "submit", "--hypermodel", TUTORIAL,
         "--controller", url, *options],
        env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_hypermodel_study_runs_on_two_fleet_workers(tmp_path: Path) -> None:
    import keras

    with controller(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}") as url, Client(url) as client:
        submitted = submit_hypermodel(
            url, "--dataset", "digits", "--max-trials", "4", "--max-parallel", "2",
            "--epochs", "2", "--name", "fashion",
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stderr
        assert "fashion created" in submitted.stdout
        study_id = client.study_id("fashion")
        workers = [start_slot(tmp_path, url, f"hm{i}", "--idle-exit", "40") for i in range(2)]
        try:
            wait_until(lambda: client.get_study(study_id).settled(), 240, "the study to end")
            client.retrain(study_id, epochs=1)
            wait_until(lambda: client.get_study(study_id).settled(retrain=True), 120, "retrain")
        finally:
            for worker in workers:
                stop(worker)
        final = client.get_study(study_id)
        trials = client.trials(study_id)
        board = client.leaderboard(study_id, limit=1)
        model_file = client.download_model(study_id, tmp_path / "best.keras")
    assert final.state == "completed" and final.counts["completed"] == 4, trials
    assert {t.worker_id for t in trials} <= {"hm0", "hm1"}
    assert all([e.epoch for e in t.intermediate] == [1, 2] for t in trials)
    by_id = {t.trial_id: t for t in trials}
    best = by_id[board[0].trial_id]  # ties are possible on 269 validation images
    assert best.value == max(t.value or 0.0 for t in trials)
    assert board[0].params == best.params
    assert final.retrain is not None and final.retrain.trial_id == best.trial_id
    model = keras.models.load_model(model_file)
    conv = next(la for la in model.layers if isinstance(la, keras.layers.Conv2D))
    assert conv.filters == best.params["conv_1_filter"]


def test_submit_refuses_a_hypermodel_it_cannot_import(tmp_path: Path) -> None:
    with controller(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}") as url:
        result = subprocess.run(
            [sys.executable, "-m", "hpsearch", "submit", "--hypermodel", "nowhere.models:build",
             "--dataset", "digits", "--controller", url],
            env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert result.returncode != 0
    assert "cannot import 'nowhere.models'" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_kerastuner_processes_share_one_study(tmp_path: Path) -> None:
    with controller(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}") as url, Client(url) as client:
        searches = [start_search(tmp_path, url, "kt-shared", f"kt{i}") for i in range(2)]
        try:
            for process in searches:
                assert process.wait(timeout=240) == 0, (tmp_path / "kt0.log").read_text()[-3000:]
        finally:
            for process in searches:
                stop(process)
        study = client.get_study("kt-shared")
        trials = client.trials(study.study_id)
        (best,) = client.leaderboard(study.study_id, limit=1)
    reports = [json.loads((tmp_path / f"kt{i}.json").read_text()) for i in range(2)]
    assert study.state == "completed" and study.counts["completed"] == MAX_TRIALS
    assert sorted(t for r in reports for t in r["trained"]) == sorted(t.trial_id for t in trials)
    assert {t.worker_id for t in trials} <= {r["worker_id"] for r in reports}
    assert all([e.epoch for e in t.intermediate] == list(range(1, EPOCHS + 1)) for t in trials)
    for report in reports:
        assert report["best_values"] == best.params
        assert f"Score: {best.value}" in report["summary"]
    (trainer,) = [r for r in reports if best.trial_id in r["trained"]]
    assert trainer["best_model"] == {"conv_1_filter": best.params["conv_1_filter"]}
    for other in (r for r in reports if r is not trainer):
        assert isinstance(other["best_model"], str)  # trained elsewhere: no local weights
