"""The pruner answers each report: a trial far worse than its peers is told to stop."""

from __future__ import annotations

import pytest

from hpsearch import Client
from hpsearch.objects import Assignment
from tests.support.simulated_workers import SimulatedWorker
from tests.support.specs import spec


def good(assignment: Assignment, epoch: int) -> float:
    return 0.6 + 0.035 * epoch + 0.001 * assignment.trial_number


def bad(assignment: Assignment, epoch: int) -> float:
    return 0.05


@pytest.mark.parametrize("pruner", ["median", "asha", "hyperband"])
def test_a_far_worse_trial_is_told_to_prune(client: Client, pruner: str) -> None:
    client.create_study(
        spec(max_trials=30, max_parallel=1, pruner=pruner, training={"epochs": 9},
             sampler={"name": "random", "seed": 1})
    )  # fmt: skip
    peers = SimulatedWorker(client, "good", curve=good)
    for _ in range(12):
        assert peers.run_one() is not None
    laggard = SimulatedWorker(client, "bad", curve=bad)
    for _ in range(8):
        assert laggard.run_one() is not None
    assert laggard.pruned, f"{pruner} pruned none of 8 far-worse trials"
    assert len(laggard.pruned) >= 4


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
