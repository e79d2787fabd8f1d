"""The pruner answers each report: a trial far worse than its peers is told to stop."""

from __future__ import annotations

import math
import random
from pathlib import Path

import optuna
import pytest
from fastapi import FastAPI
from optuna.pruners import MedianPruner
from optuna.storages import RDBStorage
from optuna.trial import TrialState, create_trial

from hpsearch import Client
from hpsearch.objects import Assignment
from service.optuna_bridge.cache import TrialCache
from service.optuna_bridge.percentile import KeptMedianPruner
from tests.support.simulated_workers import SimulatedWorker, study_with_peers
from tests.support.specs import spec


def good(assignment: Assignment, epoch: int) -> float:
    return 0.6 + 0.035 * epoch + 0.001 * assignment.trial_number


def bad(assignment: Assignment, epoch: int) -> float:
    return 0.05


@pytest.mark.parametrize("pruner", ["median", "asha", "hyperband"])
def test_a_far_worse_trial_is_told_to_prune(client: Client, pruner: str) -> None:
    study_with_peers(client, 12, good, pruner, epochs=9, max_parallel=1)
    laggard = SimulatedWorker(client, "bad", curve=bad)
    for _ in range(8):
        assert laggard.run_one() is not None
    assert laggard.pruned, f"{pruner} pruned none of 8 far-worse trials"
    assert len(laggard.pruned) >= 4


def test_a_controller_that_has_not_loaded_the_study_reads_its_spec_and_prunes(
    app: FastAPI, client: Client
) -> None:
    """A report is the first request about its study this controller sees (it restarted,
    or another controller handed the trial out): the spec is read from the database."""
    study = study_with_peers(client, 8, good, "median", epochs=9, max_parallel=1)
    work = client.claim("late")
    assert work is not None
    ctx = app.state.ctx
    ctx.optuna.forget(client.get_study(study).optuna_study_name)
    assert client.report(work.work_id, "late", 1, {"val_accuracy": 0.05}).prune is True


def test_running_trials_of_a_stopped_study_are_told_to_prune(client: Client) -> None:
    study = client.create_study(spec(pruner="none"))
    work = client.claim("w")
    assert work is not None
    assert client.report(work.work_id, "w", 1, {"val_accuracy": 0.9}).prune is False
    client.stop(study)
    answer = client.report(work.work_id, "w", 2, {"val_accuracy": 0.95})
    assert answer.prune is True and answer.reason == "study stopped"
    assert client.heartbeat(work.work_id, "w").stop is True
    assert client.claim("other") is None


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_the_kept_median_pruner_answers_as_optunas_median_pruner(
    tmp_path: Path, direction: str
) -> None:
    """Reports at random steps, with trials completing in between (which must move the
    kept median): every answer is Optuna's MedianPruner's on the same study."""
    storage = TrialCache(RDBStorage(f"sqlite:///{tmp_path / 'o.db'}"))
    study = optuna.create_study(storage=storage, direction=direction)
    options = {"n_startup_trials": 3, "n_warmup_steps": 1, "n_min_trials": 2}
    ours, theirs = KeptMedianPruner(**options), MedianPruner(**options)
    rng = random.Random(7)
    answers = []
    for round_ in range(60):
        if round_ % 3 == 0:  # a trial completes, with a curve of 1 to 5 steps
            curve = {s: rng.random() for s in range(1, rng.randint(1, 5) + 1)}
            if rng.random() < 0.1:
                curve[max(curve)] = math.nan
            study.add_trial(create_trial(value=rng.random(), intermediate_values=curve))
        for _ in range(4):
            steps = rng.randint(1, 5)
            curve = {s: rng.random() for s in range(1, steps + 1)}
            if rng.random() < 0.1:
                curve[steps] = math.nan
            running = create_trial(state=TrialState.RUNNING, intermediate_values=curve)
            answer = ours.prune(study, running)
            assert answer == theirs.prune(study, running), (round_, curve)
            answers.append(answer)
    assert any(answers) and not all(answers)
